//! The bulkhead: its places and the hand-over to waiters.

#[path = "../recovery/bulkhead/places.rs"]
mod places;

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread::{self, Thread};

use super::model;
use places::{Entered, Places, MAX_PLACES};

/// Enters as a sync caller does: queues, then parks until a leave
/// hands it a place. A lost hand-over leaves it parked, which loom
/// reports as a deadlock.
fn enter(places: &Places<Thread>) {
    if let Entered::Waiting(id) = places.enter_or_wait(thread::current()) {
        while places.is_waiting(id, |_| {}) {
            thread::park();
        }
    }
}

fn leave(places: &Places<Thread>) {
    if let Some(waiter) = places.leave() {
        waiter.unpark();
    }
}

/// Counts the callers inside by hand, beside the word's own count.
struct Inside {
    places: Places<Thread>,
    max: usize,
    by_hand: AtomicUsize,
}

impl Inside {
    fn new(max: usize) -> Arc<Self> {
        Arc::new(Inside {
            places: Places::new(max),
            max,
            by_hand: AtomicUsize::new(0),
        })
    }

    /// Checks the bound while inside, then leaves.
    fn stay_and_leave(&self) {
        let now = self.by_hand.fetch_add(1, SeqCst) + 1;
        assert!(now <= self.max, "{now} callers inside {} places", self.max);
        // Never wraps: a place given back twice would show here.
        assert!(self.places.inside() <= self.max);
        self.by_hand.fetch_sub(1, SeqCst);
        leave(&self.places);
    }

    fn is_empty(&self) -> bool {
        self.places.inside() == 0 && self.places.waiting() == 0
    }
}

#[test]
fn two_callers_and_one_place_never_both_inside_and_neither_stranded() {
    model(|| {
        let bulkhead = Inside::new(1);
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let bulkhead = Arc::clone(&bulkhead);
                thread::spawn(move || {
                    if !bulkhead.places.try_enter() {
                        enter(&bulkhead.places);
                    }
                    bulkhead.stay_and_leave();
                })
            })
            .collect();
        for caller in callers {
            caller.join().unwrap();
        }
        assert!(bulkhead.is_empty());
    });
}

#[test]
fn a_leave_racing_with_a_caller_about_to_wait_hands_it_the_place() {
    model(|| {
        let bulkhead = Inside::new(1);
        assert!(bulkhead.places.try_enter());
        let waiter = {
            let bulkhead = Arc::clone(&bulkhead);
            thread::spawn(move || {
                enter(&bulkhead.places);
                bulkhead.stay_and_leave();
            })
        };
        leave(&bulkhead.places);
        waiter.join().unwrap();
        assert!(bulkhead.is_empty());
    });
}

#[test]
fn a_place_handed_to_a_waiter_that_is_cancelled_is_passed_on() {
    model(|| {
        let bulkhead = Inside::new(1);
        assert!(bulkhead.places.try_enter());
        let cancelled = {
            let bulkhead = Arc::clone(&bulkhead);
            thread::spawn(
                move || match bulkhead.places.enter_or_wait(thread::current()) {
                    Entered::Now => bulkhead.stay_and_leave(),
                    Entered::Waiting(id) => {
                        if !bulkhead.places.cancel(id) {
                            // Handed a place before it could leave: it
                            // gives it back, to the next waiter if any.
                            bulkhead.stay_and_leave();
                        }
                    }
                },
            )
        };
        let patient = {
            let bulkhead = Arc::clone(&bulkhead);
            thread::spawn(move || {
                enter(&bulkhead.places);
                bulkhead.stay_and_leave();
            })
        };
        leave(&bulkhead.places);
        cancelled.join().unwrap();
        patient.join().unwrap();
        assert!(bulkhead.is_empty());
    });
}

#[test]
fn two_leaves_and_two_waiters_each_waiter_gets_one_place() {
    model(|| {
        let bulkhead = Inside::new(2);
        assert!(bulkhead.places.try_enter());
        assert!(bulkhead.places.try_enter());
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let bulkhead = Arc::clone(&bulkhead);
                thread::spawn(move || {
                    enter(&bulkhead.places);
                    bulkhead.stay_and_leave();
                })
            })
            .collect();
        leave(&bulkhead.places);
        leave(&bulkhead.places);
        for waiter in waiters {
            waiter.join().unwrap();
        }
        assert!(bulkhead.is_empty());
    });
}

#[test]
fn a_limit_past_the_word_is_the_word_s_largest() {
    model(|| {
        let bulkhead = Inside::new(usize::MAX);
        let other = {
            let bulkhead = Arc::clone(&bulkhead);
            thread::spawn(move || {
                assert!(bulkhead.places.try_enter());
                bulkhead.stay_and_leave();
            })
        };
        assert!(bulkhead.places.try_enter());
        bulkhead.stay_and_leave();
        other.join().unwrap();
        assert!(bulkhead.is_empty());
        assert!(MAX_PLACES < usize::MAX);
    });
}
