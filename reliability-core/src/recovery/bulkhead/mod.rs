//! `bulkhead`: at most `max_concurrent` calls of a component inside at once.
//! The places and the queue of waiters are in `places.rs`; waiting is here.
//!
//! A call takes a [`BulkheadPermit`] before its first attempt and gives it
//! back when the permit is dropped, after the last. While the bulkhead is
//! full, a sync caller parks its thread and an async caller waits with its
//! task's waker (on any executor, without blocking its thread), both up to
//! `max_wait`; then the call is refused with [`BulkheadFull`].
//!
//! Places are handed out first come, first served: a freed place goes to
//! the oldest waiter, by the caller that frees it, so a newcomer cannot take
//! it first. A waiter that stops waiting for any reason (a cancelled async
//! call, a panic) leaves the queue, and passes on a place handed to it
//! meanwhile, so no place is lost.
//!
//! While nobody waits, entering is one compare-and-swap and leaving one
//! `fetch_sub`, with no lock; the queue's lock is taken only when the
//! bulkhead is full, or by a caller leaving while someone waits.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Waker;
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crate::classify::refused::BulkheadFull;
use places::{Entered, Places, WaiterId};

mod acquire_async;
mod places;

pub use acquire_async::BulkheadAcquire;

/// How many calls of a component may be inside at once, and how long a
/// call waits for a place.
///
/// # Default
///
/// `max_wait = 0`: a call that finds the bulkhead full is refused at once.
/// `max_concurrent` has no default; `0` refuses every call.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use reliability_core::limit::BulkheadConfig;
///
/// const DATABASE: BulkheadConfig =
///     BulkheadConfig::new(8).with_max_wait(Duration::from_millis(50));
/// assert_eq!(DATABASE.max_concurrent(), 8);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BulkheadConfig {
    max_concurrent: usize,
    max_wait: Duration,
}

impl BulkheadConfig {
    /// At most `max_concurrent` calls inside at once; the defaults above.
    pub const fn new(max_concurrent: usize) -> Self {
        BulkheadConfig {
            max_concurrent,
            max_wait: Duration::ZERO,
        }
    }

    /// How long a call waits for a place before it is refused.
    #[must_use]
    pub const fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// How many calls may be inside at once.
    pub const fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// How long a call waits for a place.
    pub const fn max_wait(&self) -> Duration {
        self.max_wait
    }
}

/// A component's bulkhead: the count of calls inside, and the callers
/// waiting for a place. A plain value: whoever owns one (a component, or
/// later an instance) scopes the limit.
///
/// `const`-constructible, so it can live in a `static`.
pub struct Bulkhead {
    places: Places<Wake>,
    component: &'static str,
    config: BulkheadConfig,
    refused: AtomicU64,
}

/// How a waiter is woken when a place is handed to it.
enum Wake {
    /// A sync caller, parked.
    Thread(Thread),
    /// An async caller's task.
    Task(Waker),
}

impl Wake {
    fn wake(self) {
        match self {
            Wake::Thread(thread) => thread.unpark(),
            Wake::Task(waker) => waker.wake(),
        }
    }
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("component", &self.component)
            .field("config", &self.config)
            .field("in_flight", &self.in_flight())
            .field("waiting", &self.waiting())
            .field("refused", &self.refused())
            .finish()
    }
}

impl Bulkhead {
    /// An empty bulkhead for `component`.
    pub const fn new(component: &'static str, config: BulkheadConfig) -> Self {
        Bulkhead {
            places: Places::new(config.max_concurrent),
            component,
            config,
            refused: AtomicU64::new(0),
        }
    }

    /// Its settings.
    pub const fn config(&self) -> BulkheadConfig {
        self.config
    }

    /// Calls inside now (the `reliability_in_flight` gauge).
    pub fn in_flight(&self) -> usize {
        self.places.inside()
    }

    /// Callers waiting for a place now.
    pub fn waiting(&self) -> usize {
        self.places.waiting()
    }

    /// Calls refused since the bulkhead was made.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Enters if there is a place and nobody waits; never waits.
    pub fn try_acquire(&self) -> Result<BulkheadPermit<'_>, BulkheadFull> {
        self.try_acquire_unqueued().ok_or_else(|| self.refuse())
    }

    /// Enters if there is a place and nobody waits, as the first step of
    /// [`acquire`](Self::acquire) and [`acquire_async`](Self::acquire_async)
    /// does; `None` otherwise (then they would queue or refuse).
    #[inline]
    pub(crate) fn try_acquire_unqueued(&self) -> Option<BulkheadPermit<'_>> {
        // Made only once inside (`then`, not `then_some`): a permit gives
        // a place back when dropped.
        self.places
            .try_enter()
            .then(|| BulkheadPermit { bulkhead: self })
    }

    /// Enters, blocking the thread up to `max_wait` for a place (on the
    /// real clock: a parked thread cannot wait on a manual one).
    #[inline]
    pub fn acquire(&self) -> Result<BulkheadPermit<'_>, BulkheadFull> {
        match self.try_acquire_unqueued() {
            Some(permit) => Ok(permit),
            None => self.acquire_slow(),
        }
    }

    #[cold]
    #[inline(never)]
    fn acquire_slow(&self) -> Result<BulkheadPermit<'_>, BulkheadFull> {
        if self.config.max_wait.is_zero() {
            return Err(self.refuse());
        }
        // `None`: a wait too long to represent, so no deadline.
        let deadline = Instant::now().checked_add(self.config.max_wait);
        let waiter = match self.enter_or_wait(Wake::Thread(thread::current())) {
            Ok(permit) => return Ok(permit),
            Err(waiter) => waiter,
        };
        loop {
            // Parking may end early (a spurious or an old unpark): the
            // queue says whether a place was handed over.
            if !waiter.is_waiting(|_| {}) {
                return Ok(waiter.into_permit());
            }
            match deadline {
                None => thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return waiter.give_up();
                    }
                    thread::park_timeout(deadline - now);
                }
            }
        }
    }

    /// Enters, or queues the caller with `wake`.
    fn enter_or_wait(&self, wake: Wake) -> Result<BulkheadPermit<'_>, Waiter<'_>> {
        match self.places.enter_or_wait(wake) {
            Entered::Now => Ok(BulkheadPermit { bulkhead: self }),
            Entered::Waiting(id) => Err(Waiter { bulkhead: self, id }),
        }
    }

    /// Gives a place back, waking the waiter it goes to.
    #[inline]
    fn release(&self) {
        if let Some(wake) = self.places.leave() {
            wake.wake();
        }
    }

    fn refuse(&self) -> BulkheadFull {
        self.refused.fetch_add(1, Ordering::Relaxed);
        BulkheadFull::new(
            self.component,
            self.config.max_concurrent,
            self.config.max_wait,
        )
    }
}

/// A caller in the queue. Dropped while it waits, by a panic or a
/// cancelled future, it leaves the queue, and gives back a place handed to
/// it meanwhile (to the next waiter, if any).
struct Waiter<'a> {
    bulkhead: &'a Bulkhead,
    id: WaiterId,
}

impl<'a> Waiter<'a> {
    /// See [`Places::is_waiting`].
    fn is_waiting(&self, refresh: impl FnOnce(&mut Wake)) -> bool {
        self.bulkhead.places.is_waiting(self.id, refresh)
    }

    /// The place handed to this waiter, once it is no longer waiting.
    fn into_permit(self) -> BulkheadPermit<'a> {
        BulkheadPermit {
            bulkhead: self.disarm(),
        }
    }

    /// Stops waiting as `max_wait` runs out: refused, unless a place was
    /// handed over just now.
    fn give_up(self) -> Result<BulkheadPermit<'a>, BulkheadFull> {
        let still_waiting = self.bulkhead.places.cancel(self.id);
        let bulkhead = self.disarm();
        if still_waiting {
            Err(bulkhead.refuse())
        } else {
            Ok(BulkheadPermit { bulkhead })
        }
    }

    /// Out of the queue by now, and what it holds is accounted for: its
    /// drop would cancel it a second time.
    fn disarm(self) -> &'a Bulkhead {
        let bulkhead = self.bulkhead;
        std::mem::forget(self);
        bulkhead
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if !self.bulkhead.places.cancel(self.id) {
            self.bulkhead.release();
        }
    }
}

/// A place inside a [`Bulkhead`], given back when dropped.
#[must_use = "the place is given back as soon as the permit is dropped"]
pub struct BulkheadPermit<'a> {
    bulkhead: &'a Bulkhead,
}

impl fmt::Debug for BulkheadPermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadPermit")
            .field("component", &self.bulkhead.component)
            .finish()
    }
}

impl Drop for BulkheadPermit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.bulkhead.release();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::Barrier;
    use std::thread;

    use super::*;
    use crate::ManualClock;

    pub(super) const WAIT: Duration = Duration::from_millis(50);
    /// Long enough never to run out in a test that is not about running out.
    pub(super) const FOREVER: Duration = Duration::from_secs(3600);

    /// Counts the callers inside by hand, and the most ever seen at once.
    #[derive(Default)]
    pub(super) struct Occupancy {
        pub(super) now: AtomicUsize,
        pub(super) peak: AtomicUsize,
    }

    impl Occupancy {
        pub(super) fn enter(&self) {
            let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
        }

        pub(super) fn leave(&self) {
            self.now.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn the_config_is_built_in_const_context_with_its_defaults() {
        const CONFIG: BulkheadConfig = BulkheadConfig::new(8);
        assert_eq!(CONFIG.max_concurrent(), 8);
        assert_eq!(CONFIG.max_wait(), Duration::ZERO);
        assert_eq!(CONFIG.with_max_wait(WAIT).max_wait(), WAIT);
        static BULKHEAD: Bulkhead = Bulkhead::new("db", CONFIG);
        assert_eq!(BULKHEAD.in_flight(), 0);
    }

    #[test]
    fn a_full_bulkhead_refuses_and_a_dropped_permit_makes_room() {
        let bulkhead = Bulkhead::new("db", BulkheadConfig::new(2));
        let first = bulkhead.try_acquire().unwrap();
        let _second = bulkhead.acquire().unwrap();
        assert_eq!(bulkhead.in_flight(), 2);
        assert_eq!(
            bulkhead.try_acquire().unwrap_err(),
            BulkheadFull::new("db", 2, Duration::ZERO)
        );
        assert!(bulkhead.acquire().is_err(), "max_wait 0 does not wait");
        assert_eq!(bulkhead.refused(), 2);
        drop(first);
        assert_eq!(bulkhead.in_flight(), 1);
        assert!(bulkhead.try_acquire().is_ok());
        assert_eq!(bulkhead.in_flight(), 1, "the temporary permit left");
    }

    #[test]
    fn a_panic_inside_gives_the_place_to_the_next_waiter() {
        let bulkhead = Bulkhead::new("db", BulkheadConfig::new(1).with_max_wait(FOREVER));
        thread::scope(|scope| {
            let held = bulkhead.acquire().unwrap();
            let waiter = scope.spawn(|| bulkhead.acquire().map(drop));
            while bulkhead.waiting() < 1 {
                thread::yield_now();
            }
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                let _held = held;
                panic!("the body panicked");
            }));
            assert!(panicked.is_err());
            assert_eq!(waiter.join().unwrap(), Ok(()));
        });
        assert_eq!((bulkhead.in_flight(), bulkhead.waiting()), (0, 0));
    }

    #[test]
    fn zero_places_refuses_every_call() {
        let bulkhead = Bulkhead::new("db", BulkheadConfig::new(0).with_max_wait(WAIT));
        assert!(bulkhead.try_acquire().is_err());
        assert_eq!(bulkhead.in_flight(), 0);
    }

    #[test]
    fn six_simultaneous_sync_callers_against_two_places_without_waiting() {
        let bulkhead = Bulkhead::new("db", BulkheadConfig::new(2));
        let all_tried = Barrier::new(6);
        let results: Vec<bool> = thread::scope(|scope| {
            let callers: Vec<_> = (0..6)
                .map(|_| {
                    scope.spawn(|| {
                        let permit = bulkhead.acquire();
                        // Permits are held until every caller has tried.
                        all_tried.wait();
                        permit.is_ok()
                    })
                })
                .collect();
            callers.into_iter().map(|c| c.join().unwrap()).collect()
        });
        assert_eq!(results.iter().filter(|ok| **ok).count(), 2);
        assert_eq!(bulkhead.refused(), 4);
        assert_eq!(bulkhead.in_flight(), 0);
    }

    #[test]
    fn sync_waiters_get_in_as_places_free_never_more_than_two_inside() {
        let bulkhead = Bulkhead::new("db", BulkheadConfig::new(2).with_max_wait(FOREVER));
        let occupancy = Occupancy::default();
        let held = [bulkhead.acquire().unwrap(), bulkhead.acquire().unwrap()];
        thread::scope(|scope| {
            let callers: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        let permit = bulkhead.acquire();
                        occupancy.enter();
                        thread::yield_now();
                        occupancy.leave();
                        drop(permit);
                    })
                })
                .collect();
            // All four are queued before a place frees.
            while bulkhead.waiting() < 4 {
                thread::yield_now();
            }
            assert_eq!(bulkhead.in_flight(), 2);
            drop(held);
            for caller in callers {
                caller.join().unwrap();
            }
        });
        assert!(occupancy.peak.load(Ordering::SeqCst) <= 2);
        assert_eq!(bulkhead.refused(), 0);
        assert_eq!((bulkhead.in_flight(), bulkhead.waiting()), (0, 0));
    }

    #[test]
    fn leaves_racing_with_callers_about_to_wait_never_strand_a_waiter() {
        // One place and callers that leave at once. With two threads, a
        // leave the queued one missed (and nobody handed over) strands it:
        // the leaver's next call queues behind it, and both wait out the
        // 5 s and are refused. With sixteen, many queue at once.
        for threads in [2, 16] {
            let bulkhead = Bulkhead::new(
                "db",
                BulkheadConfig::new(1).with_max_wait(Duration::from_secs(5)),
            );
            let occupancy = Occupancy::default();
            let most_waiting = AtomicUsize::new(0);
            let start = Barrier::new(threads);
            thread::scope(|scope| {
                for _ in 0..threads {
                    scope.spawn(|| {
                        start.wait();
                        for round in 0..1_000 {
                            let permit = bulkhead.acquire().expect("a caller was refused");
                            occupancy.enter();
                            if round % 2 == 0 {
                                // Now and then, stay long enough for the
                                // others to queue.
                                thread::yield_now();
                            }
                            most_waiting.fetch_max(bulkhead.waiting(), Ordering::SeqCst);
                            occupancy.leave();
                            drop(permit);
                        }
                    });
                }
            });
            assert_eq!(occupancy.peak.load(Ordering::SeqCst), 1);
            assert!(
                most_waiting.load(Ordering::SeqCst) >= 1,
                "nobody ever waited"
            );
            assert_eq!(bulkhead.refused(), 0);
            assert_eq!((bulkhead.in_flight(), bulkhead.waiting()), (0, 0));
        }
    }

    #[test]
    fn a_sync_waiter_is_refused_when_max_wait_runs_out() {
        let bulkhead = Bulkhead::new("db", BulkheadConfig::new(1).with_max_wait(WAIT));
        let _held = bulkhead.acquire().unwrap();
        let start = Instant::now();
        assert_eq!(
            bulkhead.acquire().unwrap_err(),
            BulkheadFull::new("db", 1, WAIT)
        );
        assert!(start.elapsed() >= WAIT);
        assert_eq!(bulkhead.waiting(), 0, "the refused waiter left the queue");
        assert_eq!(bulkhead.in_flight(), 1);
    }

    #[test]
    fn the_acquire_future_and_the_permit_are_send() {
        let clock = ManualClock::new();
        let bulkhead = Bulkhead::new("db", BulkheadConfig::new(1));
        crate::recovery::test_support::assert_send(&bulkhead.acquire_async(&clock));
        crate::recovery::test_support::assert_send(&bulkhead.try_acquire());
    }

    #[test]
    fn sync_and_async_callers_and_cancellations_together_lose_no_place() {
        use crate::clock::SystemClock;
        use crate::recovery::test_support::block_on;
        use std::future::Future;
        use std::task::{Context, Poll};

        // Long enough that only a lost wake-up runs it out.
        let bulkhead = Bulkhead::new(
            "db",
            BulkheadConfig::new(2).with_max_wait(Duration::from_secs(5)),
        );
        let occupancy = Occupancy::default();
        let most_waiting = AtomicUsize::new(0);
        let inside = || {
            occupancy.enter();
            for _ in 0..20 {
                most_waiting.fetch_max(bulkhead.waiting(), Ordering::SeqCst);
                thread::yield_now();
            }
            occupancy.leave();
        };
        thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    for _ in 0..300 {
                        let permit = bulkhead.acquire().expect("a sync caller was refused");
                        inside();
                        drop(permit);
                    }
                });
                scope.spawn(|| {
                    for _ in 0..300 {
                        let permit = block_on(bulkhead.acquire_async(&SystemClock))
                            .expect("an async caller was refused");
                        inside();
                        drop(permit);
                    }
                });
            }
            scope.spawn(|| {
                // Waiters that give up after one poll, whatever it found.
                for _ in 0..300 {
                    let mut cancelled = std::pin::pin!(bulkhead.acquire_async(&SystemClock));
                    let mut cx = Context::from_waker(Waker::noop());
                    if let Poll::Ready(permit) = cancelled.as_mut().poll(&mut cx) {
                        inside();
                        drop(permit);
                    }
                }
            });
        });
        assert!(occupancy.peak.load(Ordering::SeqCst) <= 2);
        assert!(
            most_waiting.load(Ordering::SeqCst) >= 1,
            "nobody queued: the test did not reach the slow path"
        );
        assert_eq!(bulkhead.refused(), 0);
        assert_eq!((bulkhead.in_flight(), bulkhead.waiting()), (0, 0));
    }
}
