//! The runtime's states by the address of their record, read without a
//! lock: every failure, and every recovery step, finds its component's
//! state here, and through a `RwLock<HashMap>` each paid a read lock (two
//! atomic read-modify-writes on a line all threads share) and a SipHash.
//! It uses `crate::sync` alone, so `loom_models.rs` checks this very code.
//!
//! An open-addressing table that only grows: a reader loads the table and
//! probes from the key's hash to the key or an empty slot (the table is
//! never more than half full). Insertions are serialized by `writer`; a
//! full table is copied into one twice its size, which then replaces it.
//! A table is never freed, so a reader still probing a replaced one reads
//! valid memory (a miss there sends it to the lock, which finds the key in
//! the new one); like the states, the tables live for the process, and the
//! replaced ones add up to less than the last.

use std::fmt;

use crate::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use crate::sync::{Mutex, MutexGuard};

/// `&'static T` by a non-zero key.
pub(crate) struct StateIndex<T: 'static> {
    table: AtomicPtr<StateTable<T>>,
    writer: Mutex<Filled>,
}

/// How many states the current table holds; behind the writer's lock.
#[derive(Debug)]
pub(crate) struct Filled(usize);

struct StateTable<T: 'static> {
    /// A power of two.
    slots: Box<[StateSlot<T>]>,
    /// `64 - log2(slots.len())`: the hash keeps its top bits.
    shift: u32,
}

struct StateSlot<T: 'static> {
    /// The key; 0 while the slot is empty. Written once, with release,
    /// after `state`.
    key: AtomicUsize,
    state: AtomicPtr<T>,
}

impl<T: 'static> fmt::Debug for StateIndex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateIndex").finish_non_exhaustive()
    }
}

impl<T: 'static> StateIndex<T> {
    /// An empty index whose first table has `slots` (a power of two, at
    /// least 2) slots.
    pub(crate) fn with_slots(slots: usize) -> Self {
        StateIndex {
            table: AtomicPtr::new(StateTable::leaked(slots)),
            writer: Mutex::new(Filled(0)),
        }
    }

    /// The writer's lock: held to look again and insert.
    pub(crate) fn writer(&self) -> MutexGuard<'_, Filled> {
        self.writer.lock()
    }

    #[inline]
    pub(crate) fn get(&self, key: usize) -> Option<&'static T> {
        // SAFETY: tables are leaked, never freed; the acquire load pairs
        // with the release store that published the table after filling it.
        let table = unsafe { &*self.table.load(Ordering::Acquire) };
        table.get(key)
    }

    /// Adds `state` under `key`, non-zero and not in the index, the
    /// writer's lock held.
    pub(crate) fn insert(&self, filled: &mut Filled, key: usize, state: &'static T) {
        // SAFETY: as in `get`; only the writer, whose lock is held, stores.
        let mut table = unsafe { &*self.table.load(Ordering::Acquire) };
        // `filled` is at most half the slots, which fit in memory: neither
        // product overflows.
        if (filled.0 + 1) * 2 > table.slots.len() {
            let bigger = StateTable::leaked(table.slots.len() * 2);
            // SAFETY: just made, leaked.
            let bigger_ref = unsafe { &*bigger };
            for slot in table.slots.iter() {
                let key = slot.key.load(Ordering::Relaxed);
                if key != 0 {
                    // SAFETY: a slot's state is set before its key, and
                    // states are leaked.
                    bigger_ref.put(key, unsafe { &*slot.state.load(Ordering::Relaxed) });
                }
            }
            self.table.store(bigger, Ordering::Release);
            table = bigger_ref;
        }
        table.put(key, state);
        filled.0 += 1;
    }
}

impl<T: 'static> StateTable<T> {
    fn leaked(slots: usize) -> *mut StateTable<T> {
        debug_assert!(slots.is_power_of_two() && slots >= 2);
        let slots: Box<[StateSlot<T>]> = (0..slots)
            .map(|_| StateSlot {
                key: AtomicUsize::new(0),
                state: AtomicPtr::new(std::ptr::null_mut()),
            })
            .collect();
        let shift = 64 - slots.len().trailing_zeros();
        Box::into_raw(Box::new(StateTable { slots, shift }))
    }

    /// Where `key`'s probe starts: Fibonacci hashing of the address.
    #[inline]
    fn first_slot(&self, key: usize) -> usize {
        ((key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    #[inline]
    fn get(&self, key: usize) -> Option<&'static T> {
        let mask = self.slots.len() - 1;
        let mut index = self.first_slot(key);
        loop {
            let slot = &self.slots[index];
            match slot.key.load(Ordering::Acquire) {
                // SAFETY: the acquire load of the key sees the state stored
                // before it; states are leaked.
                found if found == key => {
                    return Some(unsafe { &*slot.state.load(Ordering::Relaxed) })
                }
                0 => return None,
                _ => index = (index + 1) & mask,
            }
        }
    }

    /// Puts `key` in the first empty slot of its probe; the writer's lock
    /// held, the table at most half full.
    fn put(&self, key: usize, state: &'static T) {
        let mask = self.slots.len() - 1;
        let mut index = self.first_slot(key);
        while self.slots[index].key.load(Ordering::Relaxed) != 0 {
            index = (index + 1) & mask;
        }
        let slot = &self.slots[index];
        slot.state
            .store(std::ptr::from_ref(state).cast_mut(), Ordering::Relaxed);
        slot.key.store(key, Ordering::Release);
    }
}
