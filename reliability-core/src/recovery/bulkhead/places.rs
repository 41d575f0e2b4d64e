//! The count of calls inside a bulkhead, kept as two growing counts: the
//! places taken (one shared counter, taken with a compare-and-swap) and the
//! places given back (one counter per stripe slot, which only the thread
//! owning that slot writes).
//!
//! Taking a place must be one atomic read-modify-write: two callers racing
//! for the last place must not both get it. Giving one back need not: a
//! thread adds to its own counter with a plain load and store, the way it
//! counts its calls (`record::stripe`). On this machine that removed the
//! second `lock`ed instruction of every call behind a bulkhead, which a
//! `perf` profile put at a third of the bulkhead's cost.
//!
//! A caller checks its place against what it last knew to have been given
//! back (`left_seen`, a lower bound, so it never lets one too many in), and
//! sums the counters only when that bound says full: once every
//! `max_concurrent` calls for one thread, or when the bulkhead really is
//! full.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::record::stripe::{self, STRIPES};

/// One thread's count of places given back, on a line of its own (a pair
/// of lines: the unit the adjacent-line prefetcher moves).
#[repr(align(128))]
struct Left(AtomicU64);

/// Places taken and given back.
pub(super) struct Places {
    /// Places taken since the bulkhead was made, including those handed to
    /// waiters.
    taken: AtomicU64,
    /// A sum of `left` some caller computed: never more than the true sum,
    /// which only grows.
    left_seen: AtomicU64,
    /// Places given back, by the stripe slot of the thread that gave them
    /// back (the last one is the shared slot, added to atomically).
    left: [Left; STRIPES],
}

impl Places {
    pub(super) const fn new() -> Self {
        Places {
            taken: AtomicU64::new(0),
            left_seen: AtomicU64::new(0),
            left: [const { Left(AtomicU64::new(0)) }; STRIPES],
        }
    }

    /// Takes a place if fewer than `max` are taken.
    ///
    /// The place given back that this one reuses was counted with an
    /// `Acquire` load: the new caller sees everything the last one did
    /// inside. (Waking a waiter is ordered by the bulkhead's fences, not
    /// here.)
    #[inline(always)]
    pub(super) fn try_take(&self, max: u64) -> bool {
        let mut taken = self.taken.load(Ordering::Relaxed);
        let mut left = self.left_seen.load(Ordering::Acquire);
        loop {
            if taken.saturating_sub(left) >= max {
                // Full as far as this caller knows: count again.
                let counted = self.count_left();
                if counted == left {
                    return false;
                }
                left = counted;
                continue;
            }
            match self.taken.compare_exchange_weak(
                taken,
                taken + 1,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => taken = now,
            }
        }
    }

    /// Gives a place back: on the calling thread's own counter, a plain
    /// load and store; atomically on the shared one. Release: whoever
    /// counts this leave sees everything the call did inside.
    #[inline(always)]
    pub(super) fn leave(&self) {
        match stripe::owned_slot() {
            Some(slot) => {
                let mine = &self.left[slot].0;
                mine.store(mine.load(Ordering::Relaxed) + 1, Ordering::Release);
            }
            None => self.leave_shared(),
        }
    }

    #[cold]
    #[inline(never)]
    fn leave_shared(&self) {
        self.left[STRIPES - 1].0.fetch_add(1, Ordering::Release);
    }

    /// Sums the places given back, and keeps the sum for the next callers.
    #[cold]
    #[inline(never)]
    fn count_left(&self) -> u64 {
        let counted = self
            .left
            .iter()
            .map(|left| left.0.load(Ordering::Acquire))
            .sum::<u64>();
        // A plain store, not `fetch_max`: any sum is at most the true one,
        // which only grows, so whichever of two racing counters stores
        // last leaves a lower bound (perhaps a looser one). The `lock`ed
        // `fetch_max` ran once every `max_concurrent` calls of a thread.
        let seen = self.left_seen.load(Ordering::Acquire);
        if counted > seen {
            self.left_seen.store(counted, Ordering::Release);
        }
        seen.max(counted)
    }

    /// Places taken and not given back now.
    pub(super) fn inside(&self) -> u64 {
        // Given back first: a leave counted here has its take counted too.
        let left = self.count_left();
        self.taken.load(Ordering::Acquire).saturating_sub(left)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::thread;

    use super::*;

    #[test]
    fn a_place_given_back_on_any_thread_can_be_taken_again() {
        let places = Places::new();
        assert!(places.try_take(2));
        assert!(places.try_take(2));
        assert!(!places.try_take(2));
        assert_eq!(places.inside(), 2);
        thread::scope(|scope| {
            scope.spawn(|| places.leave());
        });
        assert_eq!(places.inside(), 1);
        assert!(places.try_take(2));
        assert!(!places.try_take(2));
    }

    #[test]
    fn racing_threads_never_hold_more_places_than_allowed() {
        const MAX: u64 = 3;
        let (places, now, peak) = (Places::new(), AtomicUsize::new(0), AtomicUsize::new(0));
        let taken: usize = thread::scope(|scope| {
            let racers: Vec<_> = (0..16)
                .map(|_| {
                    scope.spawn(|| {
                        let mut taken = 0;
                        for _ in 0..2_000 {
                            if places.try_take(MAX) {
                                let inside = now.fetch_add(1, Ordering::SeqCst) + 1;
                                peak.fetch_max(inside, Ordering::SeqCst);
                                now.fetch_sub(1, Ordering::SeqCst);
                                places.leave();
                                taken += 1;
                            }
                        }
                        taken
                    })
                })
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).sum()
        });
        assert!(peak.load(Ordering::SeqCst) <= MAX as usize);
        assert!(taken > 0);
        // More threads than stripe slots: some gave back on the shared one.
        assert_eq!(places.inside(), 0);
        assert_eq!(places.taken.load(Ordering::SeqCst), taken as u64);
    }
}
