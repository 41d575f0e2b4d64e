//! The async half of the bulkhead: a caller waits in the queue with its
//! task's waker and a delay of the clock, on any executor.

use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{Bulkhead, BulkheadPermit, Waiter, Wake};
use crate::classify::refused::BulkheadFull;
use crate::record::clock::{Clock, Delay};

impl Bulkhead {
    /// Enters, waiting up to `max_wait` on `clock` without blocking the
    /// executor's thread. Dropping the future gives its place in the queue
    /// back, or, if a place was handed to it already, passes that on.
    ///
    /// The permit borrows the bulkhead only, not the clock.
    pub fn acquire_async<'a, 'c>(&'a self, clock: &'c dyn Clock) -> BulkheadAcquire<'a, 'c> {
        BulkheadAcquire {
            bulkhead: self,
            clock,
            state: AcquireState::Start,
        }
    }
}

/// The future of [`Bulkhead::acquire_async`].
#[must_use = "futures do nothing unless polled"]
pub struct BulkheadAcquire<'a, 'c> {
    bulkhead: &'a Bulkhead,
    clock: &'c dyn Clock,
    state: AcquireState<'a>,
}

enum AcquireState<'a> {
    Start,
    /// In the queue, with the delay that ends the wait. Dropping the
    /// waiter (with the future) takes it out of the queue.
    Queued {
        waiter: Waiter<'a>,
        delay: Delay,
    },
    Done,
}

impl fmt::Debug for BulkheadAcquire<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            AcquireState::Start => "start",
            AcquireState::Queued { .. } => "queued",
            AcquireState::Done => "done",
        };
        f.debug_struct("BulkheadAcquire")
            .field("component", &self.bulkhead.component)
            .field("state", &state)
            .finish()
    }
}

impl<'a> Future for BulkheadAcquire<'a, '_> {
    type Output = Result<BulkheadPermit<'a>, BulkheadFull>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let bulkhead = self.bulkhead;
        if let AcquireState::Start = self.state {
            if let Some(permit) = bulkhead.try_acquire_unqueued() {
                self.state = AcquireState::Done;
                return Poll::Ready(Ok(permit));
            }
            if bulkhead.config.max_wait.is_zero() {
                self.state = AcquireState::Done;
                return Poll::Ready(Err(bulkhead.refuse()));
            }
            // Before queuing: the user's clock may panic, and nothing
            // between queuing and keeping the waiter in `state` may.
            let delay = self.clock.delay(bulkhead.config.max_wait);
            match bulkhead.enter_or_wait(Wake::Task(cx.waker().clone())) {
                Ok(permit) => {
                    self.state = AcquireState::Done;
                    return Poll::Ready(Ok(permit));
                }
                Err(waiter) => self.state = AcquireState::Queued { waiter, delay },
            }
        }
        let AcquireState::Queued { waiter, delay } = &mut self.state else {
            // Polled again after it completed.
            return Poll::Pending;
        };
        let still_waiting = waiter.is_waiting(|wake| {
            if let Wake::Task(waker) = wake {
                waker.clone_from(cx.waker());
            }
        });
        if still_waiting && Pin::new(delay).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let AcquireState::Queued { waiter, .. } = mem::replace(&mut self.state, AcquireState::Done)
        else {
            unreachable!("matched as queued above");
        };
        Poll::Ready(if still_waiting {
            // The wait ran out; a place handed over just now is taken.
            waiter.give_up()
        } else {
            Ok(waiter.into_permit())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::atomic::Ordering;
    use std::task::Waker;
    use std::time::Duration;

    use super::super::tests::{Occupancy, FOREVER, WAIT};
    use super::super::BulkheadConfig;
    use super::*;
    use crate::recovery::test_support::CountingWaker;
    use crate::ManualClock;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::time::Instant;

    fn poll<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
        Pin::new(future).poll(&mut Context::from_waker(waker))
    }

    /// A user's clock whose delays panic.
    #[derive(Debug)]
    struct PanickingClock;

    impl Clock for PanickingClock {
        fn now(&self) -> Instant {
            Instant::now()
        }

        fn sleep(&self, _: Duration) {}

        fn delay(&self, _: Duration) -> Delay {
            panic!("the clock's delay panicked");
        }
    }

    #[test]
    fn a_panic_while_an_async_caller_starts_to_wait_loses_no_place() {
        let bulkhead = Bulkhead::new("db", BulkheadConfig::new(1).with_max_wait(FOREVER));
        let held = bulkhead.acquire().unwrap();
        let (_, waker) = CountingWaker::new();
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            let mut waiter = bulkhead.acquire_async(&PanickingClock);
            let _ = poll(&mut waiter, &waker);
        }));
        assert!(panicked.is_err(), "the clock did not panic");
        assert_eq!(bulkhead.waiting(), 0, "the panicked caller is still queued");
        drop(held);
        assert_eq!(
            bulkhead.in_flight(),
            0,
            "the freed place went to the panicked caller"
        );
        assert!(bulkhead.try_acquire().is_ok());
    }

    #[test]
    fn places_are_handed_out_oldest_waiter_first() {
        let clock = ManualClock::new().with_held_delays(true);
        let bulkhead = Bulkhead::new("db", BulkheadConfig::new(1).with_max_wait(FOREVER));
        let held = bulkhead.acquire().unwrap();
        let (_, waker) = CountingWaker::new();
        let mut first = bulkhead.acquire_async(&clock);
        let mut second = bulkhead.acquire_async(&clock);
        assert!(poll(&mut first, &waker).is_pending());
        assert!(poll(&mut second, &waker).is_pending());
        drop(held);
        // The freed place was handed to the oldest waiter: a newcomer
        // cannot take it, nor can the younger waiter.
        assert!(bulkhead.try_acquire().is_err());
        assert!(poll(&mut second, &waker).is_pending());
        let Poll::Ready(Ok(permit)) = poll(&mut first, &waker) else {
            panic!("the oldest waiter did not get the place");
        };
        drop(permit);
        assert!(matches!(poll(&mut second, &waker), Poll::Ready(Ok(_))));
    }

    #[test]
    fn an_async_waiter_is_woken_when_a_place_frees() {
        let clock = ManualClock::new().with_held_delays(true);
        let bulkhead = Bulkhead::new("db", BulkheadConfig::new(2).with_max_wait(WAIT));
        let held = [bulkhead.acquire().unwrap(), bulkhead.acquire().unwrap()];
        let (wakes, waker) = CountingWaker::new();
        let mut waiter = bulkhead.acquire_async(&clock);
        assert!(poll(&mut waiter, &waker).is_pending());
        assert_eq!(bulkhead.waiting(), 1);
        let [first, _second] = held;
        drop(first);
        assert_eq!(wakes.wakes(), 1, "the freed place did not wake the waiter");
        assert_eq!(bulkhead.in_flight(), 2, "the place went to the waiter");
        let Poll::Ready(Ok(permit)) = poll(&mut waiter, &waker) else {
            panic!("the woken waiter did not get in");
        };
        drop(permit);
        assert_eq!(bulkhead.in_flight(), 1);
    }

    #[test]
    fn an_async_waiter_is_refused_when_the_clock_passes_max_wait() {
        let clock = ManualClock::new().with_held_delays(true);
        let bulkhead = Bulkhead::new("db", BulkheadConfig::new(1).with_max_wait(WAIT));
        let _held = bulkhead.acquire().unwrap();
        let (wakes, waker) = CountingWaker::new();
        let mut waiter = bulkhead.acquire_async(&clock);
        assert!(poll(&mut waiter, &waker).is_pending());
        clock.advance(WAIT - Duration::from_millis(1));
        assert!(poll(&mut waiter, &waker).is_pending());
        clock.advance(Duration::from_millis(1));
        assert!(wakes.wakes() >= 1);
        assert_eq!(
            poll(&mut waiter, &waker).map(|r| r.map(drop)),
            Poll::Ready(Err(BulkheadFull::new("db", 1, WAIT)))
        );
        assert_eq!((bulkhead.waiting(), bulkhead.refused()), (0, 1));
    }

    #[test]
    fn a_cancelled_async_waiter_gives_its_place_in_the_queue_back() {
        let clock = ManualClock::new().with_held_delays(true);
        let bulkhead = Bulkhead::new("db", BulkheadConfig::new(1).with_max_wait(FOREVER));
        let held = bulkhead.acquire().unwrap();
        let (_, waker) = CountingWaker::new();
        let mut cancelled = bulkhead.acquire_async(&clock);
        let mut patient = bulkhead.acquire_async(&clock);
        assert!(poll(&mut cancelled, &waker).is_pending());
        assert!(poll(&mut patient, &waker).is_pending());
        drop(cancelled);
        assert_eq!(bulkhead.waiting(), 1);
        drop(held);
        assert!(
            matches!(poll(&mut patient, &waker), Poll::Ready(Ok(_))),
            "the place went to the cancelled waiter"
        );
        assert_eq!(bulkhead.in_flight(), 0);
    }

    #[test]
    fn a_place_handed_to_a_waiter_dropped_at_that_moment_is_passed_on() {
        let clock = ManualClock::new().with_held_delays(true);
        let bulkhead = Bulkhead::new("db", BulkheadConfig::new(1).with_max_wait(FOREVER));
        let held = bulkhead.acquire().unwrap();
        let (_, waker) = CountingWaker::new();
        let mut granted = bulkhead.acquire_async(&clock);
        let mut next = bulkhead.acquire_async(&clock);
        assert!(poll(&mut granted, &waker).is_pending());
        assert!(poll(&mut next, &waker).is_pending());
        // The place goes to `granted`, which is dropped before it sees it.
        drop(held);
        assert_eq!((bulkhead.in_flight(), bulkhead.waiting()), (1, 1));
        drop(granted);
        let Poll::Ready(Ok(permit)) = poll(&mut next, &waker) else {
            panic!("the place handed to the dropped waiter was lost");
        };
        assert_eq!(bulkhead.in_flight(), 1);
        drop(permit);
        // With nobody behind it, the place goes back to the bulkhead.
        let mut alone = bulkhead.acquire_async(&clock);
        let held = bulkhead.acquire().unwrap();
        assert!(poll(&mut alone, &waker).is_pending());
        drop(held);
        drop(alone);
        assert_eq!((bulkhead.in_flight(), bulkhead.waiting()), (0, 0));
    }

    #[test]
    fn six_async_callers_on_tokio_two_inside_at_most_the_rest_wait_their_turn() {
        let clock = ManualClock::new().with_held_delays(true);
        let bulkhead = Bulkhead::new("db", BulkheadConfig::new(2).with_max_wait(FOREVER));
        let occupancy = Occupancy::default();
        let most_waiting = AtomicUsize::new(0);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let admitted = runtime.block_on(async {
            let caller = || async {
                let permit = bulkhead.acquire_async(&clock).await;
                most_waiting.fetch_max(bulkhead.waiting(), Ordering::SeqCst);
                occupancy.enter();
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
                occupancy.leave();
                permit.is_ok()
            };
            let results = tokio::join!(caller(), caller(), caller(), caller(), caller(), caller());
            <[bool; 6]>::from(results)
        });
        assert_eq!(admitted, [true; 6]);
        assert_eq!(occupancy.peak.load(Ordering::SeqCst), 2);
        assert!(
            most_waiting.load(Ordering::SeqCst) >= 1,
            "nobody had to wait"
        );
        assert_eq!((bulkhead.in_flight(), bulkhead.waiting()), (0, 0));
    }

    #[test]
    fn six_async_callers_on_tokio_without_waiting_two_in_four_refused() {
        let clock = ManualClock::new().with_held_delays(true);
        let bulkhead = Bulkhead::new("db", BulkheadConfig::new(2));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let admitted = runtime.block_on(async {
            let caller = || async {
                let permit = bulkhead.acquire_async(&clock).await;
                // Held across a yield, so the others find it taken.
                tokio::task::yield_now().await;
                permit.is_ok()
            };
            let results = tokio::join!(caller(), caller(), caller(), caller(), caller(), caller());
            <[bool; 6]>::from(results)
        });
        assert_eq!(admitted.iter().filter(|ok| **ok).count(), 2);
        assert_eq!(bulkhead.refused(), 4);
    }

    #[test]
    fn a_waiter_cancelled_by_select_on_tokio_releases_its_slot() {
        let clock = ManualClock::new().with_held_delays(true);
        let bulkhead = Bulkhead::new("db", BulkheadConfig::new(1).with_max_wait(FOREVER));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let held = bulkhead.acquire().unwrap();
            tokio::select! {
                biased;
                _ = bulkhead.acquire_async(&clock) => panic!("entered a full bulkhead"),
                _ = tokio::task::yield_now() => {}
            }
            assert_eq!(
                bulkhead.waiting(),
                0,
                "the cancelled waiter is still queued"
            );
            drop(held);
            assert_eq!(
                bulkhead.in_flight(),
                0,
                "a place went to the cancelled waiter"
            );
            let permit = bulkhead.acquire_async(&clock).await;
            assert!(permit.is_ok());
        });
    }
}
