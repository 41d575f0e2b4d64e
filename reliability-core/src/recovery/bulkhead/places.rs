//! A bulkhead's places and its queue of waiters: the part that threads race
//! on. It uses only `crate::sync` and std, so `loom_models.rs` checks this
//! very file.
//!
//! One atomic word holds both the places taken and whether anyone waits
//! (its low bit, [`WAITING`]). Entering is one compare-and-swap of the word
//! while the bit is clear; leaving is one `fetch_sub`, whose returned value
//! says whether someone waits. Because both read and write the same word,
//! either a caller about to wait sees a leave's place free, or the leave
//! sees the waiting bit and hands the place over: no fence is needed beyond
//! the word's own order. The bit changes only under the queue's lock, and
//! whenever that lock is free it is set exactly when the queue is not
//! empty.

use std::collections::VecDeque;

use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::{const_fn, Mutex};

/// The word's low bit: someone waits, so a freed place goes to the queue
/// and newcomers keep off the fast path.
const WAITING: usize = 1;

/// One place taken, in the word (places are counted above [`WAITING`]).
const ONE: usize = 2;

/// The most places a word can count; a larger `max` is this one.
pub(crate) const MAX_PLACES: usize = usize::MAX >> 1;

/// A waiter's ticket in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WaiterId(u64);

/// What [`Places::enter_or_wait`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entered {
    /// A place was free and nobody waited: the caller is inside.
    Now,
    /// The caller is queued; it is inside once [`Places::is_waiting`] says
    /// `false`.
    Waiting(WaiterId),
}

/// The places taken and the waiters, each with a `W` that wakes it (a
/// thread to unpark, a task's waker).
pub(crate) struct Places<W> {
    /// Places taken times [`ONE`], plus [`WAITING`]. Places handed to
    /// waiters count as taken from the moment they are handed over.
    word: AtomicUsize,
    /// At most [`MAX_PLACES`], so counting one more never overflows.
    max: usize,
    queue: Mutex<Queue<W>>,
}

struct Queue<W> {
    /// Oldest first.
    waiters: VecDeque<(WaiterId, W)>,
    next_id: u64,
}

impl<W> Queue<W> {
    fn position(&self, id: WaiterId) -> Option<usize> {
        self.waiters.iter().position(|(queued, _)| *queued == id)
    }
}

impl<W> Places<W> {
    const_fn! {
        /// No place taken, nobody waiting, at most `max` inside.
        pub(crate) fn new(max: usize) -> Self {
            Places {
                word: AtomicUsize::new(0),
                max: if max < MAX_PLACES { max } else { MAX_PLACES },
                queue: Mutex::new(Queue {
                    waiters: VecDeque::new(),
                    next_id: 0,
                }),
            }
        }
    }

    /// Takes a place if one is free and nobody waits (a newcomer never
    /// takes a place a waiter is owed). Acquire: the caller sees what the
    /// one whose place it reuses did inside.
    #[inline]
    pub(crate) fn try_enter(&self) -> bool {
        let mut word = self.word.load(Ordering::Relaxed);
        while word & WAITING == 0 && word / ONE < self.max {
            match self.word.compare_exchange_weak(
                word,
                word + ONE,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => word = now,
            }
        }
        false
    }

    /// Gives a place back, which the caller holds. If someone waits, the
    /// place goes to the oldest waiter: then its `W` is returned, for the
    /// caller to wake (outside the lock). Release: pairs with the Acquire
    /// of whoever takes the place next.
    #[inline]
    pub(crate) fn leave(&self) -> Option<W> {
        if self.word.fetch_sub(ONE, Ordering::Release) & WAITING == 0 {
            return None;
        }
        self.hand_over()
    }

    /// The rest of a leave that saw the waiting bit.
    #[cold]
    #[inline(never)]
    fn hand_over(&self) -> Option<W> {
        let mut queue = self.queue.lock();
        if queue.waiters.is_empty() {
            // The last waiter left (cancelled) between the leave and here.
            return None;
        }
        let last = queue.waiters.len() == 1;
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            if word / ONE >= self.max {
                // The place was taken while the queue was empty for a
                // moment (its waiter cancelled, a newcomer entered, then
                // someone queued): the next leave sees the bit.
                return None;
            }
            // The waiting bit stays set, unless the queue is now empty.
            let next = if last {
                (word + ONE) & !WAITING
            } else {
                word + ONE
            };
            match self
                .word
                .compare_exchange_weak(word, next, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => word = now,
            }
        }
        queue.waiters.pop_front().map(|(_, wake)| wake)
    }

    /// Takes a place, or queues the caller with `wake` if none is free or
    /// someone waits already.
    pub(crate) fn enter_or_wait(&self, wake: W) -> Entered {
        let mut queue = self.queue.lock();
        if queue.waiters.is_empty() {
            // In one compare-and-swap with the count: a leave before it
            // freed a place taken here, a leave after it sees the bit.
            let mut word = self.word.load(Ordering::Relaxed);
            loop {
                let free = word / ONE < self.max;
                let next = if free { word + ONE } else { word | WAITING };
                match self.word.compare_exchange_weak(
                    word,
                    next,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) if free => return Entered::Now,
                    Ok(_) => break,
                    Err(now) => word = now,
                }
            }
        }
        let id = WaiterId(queue.next_id);
        queue.next_id = queue.next_id.wrapping_add(1);
        queue.waiters.push_back((id, wake));
        Entered::Waiting(id)
    }

    /// Whether `id` still waits (`false`: it was handed a place and is
    /// inside). While it waits, `refresh` may update its `W` (a task polled
    /// with a new waker).
    pub(crate) fn is_waiting(&self, id: WaiterId, refresh: impl FnOnce(&mut W)) -> bool {
        let mut queue = self.queue.lock();
        match queue.position(id) {
            Some(at) => {
                if let Some((_, wake)) = queue.waiters.get_mut(at) {
                    refresh(wake);
                }
                true
            }
            None => false,
        }
    }

    /// Takes `id` out of the queue: `true` if it still waited, `false` if
    /// it had been handed a place (which the caller then holds: it enters,
    /// or gives the place back with [`leave`](Self::leave)).
    pub(crate) fn cancel(&self, id: WaiterId) -> bool {
        let mut queue = self.queue.lock();
        let Some(at) = queue.position(id) else {
            return false;
        };
        // Dropped after the lock: a `W` may run code of its own when dropped.
        let _removed = queue.waiters.remove(at);
        if queue.waiters.is_empty() {
            self.word.fetch_and(!WAITING, Ordering::Relaxed);
        }
        drop(queue);
        true
    }

    /// Places taken now, including those handed to waiters.
    pub(crate) fn inside(&self) -> usize {
        self.word.load(Ordering::Relaxed) / ONE
    }

    /// Callers waiting now.
    pub(crate) fn waiting(&self) -> usize {
        self.queue.lock().waiters.len()
    }
}
