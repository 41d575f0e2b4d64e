//! `bulkhead`: at most `max_concurrent` calls of a component inside at once.
//!
//! A call takes a [`BulkheadPermit`] before its first attempt and gives it
//! back when the permit is dropped, after the last. While the bulkhead is
//! full, a sync caller waits on a condition variable and an async caller in
//! a queue of wakers (on any executor, without blocking its thread), both up
//! to `max_wait`; then the call is refused with [`BulkheadFull`].
//!
//! Places are handed out first come, first served: a freed place goes to
//! the oldest waiter, by the caller that frees it, so a newcomer cannot take
//! it first. A waiter that is dropped (a cancelled async call) leaves the
//! queue; one that is dropped just after a place was handed to it passes the
//! place on, so no place is lost.
//!
//! # Cost
//!
//! While nobody waits, entering is one load of the queue length and one
//! compare-and-swap of the places taken (`places`), and leaving is a plain
//! add to the leaving thread's own counter and one load of the queue
//! length: no lock, one atomic read-modify-write per call. The queue's lock
//! is only taken when the bulkhead is full, or by a caller leaving while
//! someone waits; a caller about to wait pays the barrier that lets leaving
//! be that cheap (`fence`).

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{compiler_fence, fence, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::classify::refused::BulkheadFull;
use places::Places;

/// The low bit of a bulkhead's queue word: its leaves still take the slow
/// path, which settles the process's fence mode (registering for
/// `membarrier` on the process's first leave) and clears the bit once a
/// compiler fence is enough. The waiters are counted above it.
const UNSETTLED: usize = 1;

mod acquire_async;
mod fence;
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
    /// Calls inside: permits taken and not yet dropped, including places
    /// handed to waiters that have not yet seen them. First: entering
    /// writes its line.
    places: Places,
    /// The queue's length times two, readable without its lock: callers
    /// leaving an unqueued bulkhead skip the lock on it. Read by every call
    /// and written only as callers queue, so its line stays in every
    /// core's cache. Plus [`UNSETTLED`].
    queued: AtomicUsize,
    component: &'static str,
    config: BulkheadConfig,
    refused: AtomicU64,
    queue: Mutex<WaitQueue>,
}

struct WaitQueue {
    /// Oldest first; ids increase, so a waiter is found by binary search.
    waiters: VecDeque<Waiter>,
    next_id: u64,
}

struct Waiter {
    id: u64,
    wake: Wake,
}

enum Wake {
    /// A sync caller waiting on its own condition variable.
    Thread(Arc<Condvar>),
    /// An async caller's task.
    Task(Waker),
}

impl Wake {
    fn wake(self) {
        match self {
            Wake::Thread(condvar) => {
                condvar.notify_one();
            }
            Wake::Task(waker) => waker.wake(),
        }
    }
}

impl WaitQueue {
    fn position(&self, id: u64) -> Option<usize> {
        self.waiters.binary_search_by_key(&id, |w| w.id).ok()
    }

    fn contains(&self, id: u64) -> bool {
        self.position(id).is_some()
    }

    fn push(&mut self, wake: Wake) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.waiters.push_back(Waiter { id, wake });
        id
    }

    /// Whether the waiter was still queued (not yet handed a place).
    fn remove(&mut self, id: u64) -> bool {
        self.position(id)
            .and_then(|at| self.waiters.remove(at))
            .is_some()
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
            places: Places::new(),
            queued: AtomicUsize::new(UNSETTLED),
            component,
            config,
            refused: AtomicU64::new(0),
            queue: Mutex::new(WaitQueue {
                waiters: VecDeque::new(),
                next_id: 0,
            }),
        }
    }

    /// Its settings.
    pub const fn config(&self) -> BulkheadConfig {
        self.config
    }

    /// Calls inside now (the `reliability_in_flight` gauge).
    pub fn in_flight(&self) -> usize {
        usize::try_from(self.places.inside()).unwrap_or(usize::MAX)
    }

    /// Callers waiting for a place now.
    pub fn waiting(&self) -> usize {
        self.queued.load(Ordering::Relaxed) >> 1
    }

    /// Calls refused since the bulkhead was made.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Enters if there is a place and nobody waits; never waits.
    pub fn try_acquire(&self) -> Result<BulkheadPermit<'_>, BulkheadFull> {
        if self.enter_unqueued() {
            return Ok(BulkheadPermit { bulkhead: self });
        }
        let queue = self.queue.lock();
        if queue.waiters.is_empty() && self.try_enter() {
            return Ok(BulkheadPermit { bulkhead: self });
        }
        Err(self.refuse())
    }

    /// Enters if there is a place and nobody waits, as the first step of
    /// [`acquire`](Self::acquire) and [`acquire_async`](Self::acquire_async)
    /// does; `None` otherwise (then they would queue or refuse).
    #[inline]
    pub(crate) fn try_acquire_unqueued(&self) -> Option<BulkheadPermit<'_>> {
        // Made only once inside: a permit gives a place back when dropped.
        self.enter_unqueued()
            .then(|| BulkheadPermit { bulkhead: self })
    }

    /// Enters, blocking the thread up to `max_wait` for a place (on the
    /// real clock: a condition variable cannot wait on a manual one).
    #[inline]
    pub fn acquire(&self) -> Result<BulkheadPermit<'_>, BulkheadFull> {
        if self.enter_unqueued() {
            return Ok(BulkheadPermit { bulkhead: self });
        }
        self.acquire_slow()
    }

    /// The uncontended path: no one queued and a place free.
    #[inline]
    fn enter_unqueued(&self) -> bool {
        // Freed places go straight to waiters, so a place is free while
        // someone waits only between a release and its hand-over; checking
        // the queue keeps newcomers out of that window. Relaxed: a stale
        // zero lets one caller in early, within the limit the
        // compare-and-swap still enforces.
        self.queued.load(Ordering::Relaxed) <= UNSETTLED && self.try_enter()
    }

    /// Takes a place if one is free.
    #[inline(always)]
    fn try_enter(&self) -> bool {
        self.places.try_take(self.config.max_concurrent as u64)
    }

    /// Gives a place back, and hands it over if someone waits.
    ///
    /// The leave is a plain store, ordered before the load of the queue
    /// length by a compiler fence that pairs with the [`fence::heavy`] of a
    /// caller that queues: either that caller sees this place free, or this
    /// one sees it queued and hands the place over. Until this bulkhead
    /// knows the process is registered for that (`UNSETTLED`), the word is
    /// not 0 and the leave takes the slow path, whose full fence does the
    /// ordering. One load for both, where the leave read the process's
    /// fence mode too: two dependent loads and a branch fewer (0.16 ns of
    /// a 43.7 ns call in the same-process A/B, less than moving code alone
    /// can change it).
    #[inline(always)]
    fn release(&self) {
        self.places.leave();
        compiler_fence(Ordering::SeqCst);
        if self.queued.load(Ordering::Relaxed) != 0 {
            self.release_slow();
        }
    }

    /// The rest of a leave that found the queue word not 0: someone waits,
    /// or the fence mode is not settled for this bulkhead yet.
    #[cold]
    #[inline(never)]
    fn release_slow(&self) {
        // This leave's store before the load below, in any mode.
        fence(Ordering::SeqCst);
        let queued = self.queued.load(Ordering::Relaxed);
        if queued & UNSETTLED != 0 && fence::light_is_free() {
            // Later leaves need only the compiler fence. A `store_waiters`
            // racing with this may set the bit again: one more slow leave.
            self.queued.fetch_and(!UNSETTLED, Ordering::Relaxed);
        }
        if queued >> 1 != 0 {
            self.hand_over(self.queue.lock());
        }
    }

    /// Stores the queue's length in the queue word, keeping its
    /// `UNSETTLED` bit; under the queue's lock.
    fn store_waiters(&self, waiters: usize) {
        let unsettled = self.queued.load(Ordering::Relaxed) & UNSETTLED;
        self.queued
            .store(waiters << 1 | unsettled, Ordering::SeqCst);
    }

    /// Gives free places to the oldest waiters, then wakes them outside
    /// the lock.
    fn hand_over(&self, mut queue: MutexGuard<'_, WaitQueue>) {
        let woken = self.grant(&mut queue);
        drop(queue);
        woken.into_iter().for_each(Wake::wake);
    }

    /// Moves free places to the oldest waiters (each is then inside: it
    /// finds itself gone from the queue).
    fn grant(&self, queue: &mut WaitQueue) -> Vec<Wake> {
        let mut woken = Vec::new();
        while !queue.waiters.is_empty() && self.try_enter() {
            if let Some(waiter) = queue.waiters.pop_front() {
                woken.push(waiter.wake);
            }
        }
        self.store_waiters(queue.waiters.len());
        woken
    }

    /// Queues a waiter, and gives it a place at once if one came free.
    fn enqueue(&self, queue: &mut WaitQueue, wake: Wake) -> (u64, Vec<Wake>) {
        let id = queue.push(wake);
        self.store_waiters(queue.waiters.len());
        // Every leave from here on sees the waiter; every leave before is
        // seen by `grant`.
        fence::heavy();
        (id, self.grant(queue))
    }

    /// Takes a waiter out of the queue; `true` if it was still waiting,
    /// `false` if it had been handed a place.
    fn dequeue(&self, queue: &mut WaitQueue, id: u64) -> bool {
        let waiting = queue.remove(id);
        self.store_waiters(queue.waiters.len());
        waiting
    }

    fn refuse(&self) -> BulkheadFull {
        self.refused.fetch_add(1, Ordering::Relaxed);
        BulkheadFull::new(
            self.component,
            self.config.max_concurrent,
            self.config.max_wait,
        )
    }

    #[cold]
    fn acquire_slow(&self) -> Result<BulkheadPermit<'_>, BulkheadFull> {
        // `None`: a wait too long to represent, so no deadline.
        let deadline = Instant::now().checked_add(self.config.max_wait);
        let mut queue = self.queue.lock();
        if queue.waiters.is_empty() && self.try_enter() {
            return Ok(BulkheadPermit { bulkhead: self });
        }
        if self.config.max_wait.is_zero() {
            return Err(self.refuse());
        }
        let condvar = Arc::new(Condvar::new());
        let (id, woken) = self.enqueue(&mut queue, Wake::Thread(Arc::clone(&condvar)));
        MutexGuard::unlocked(&mut queue, || woken.into_iter().for_each(Wake::wake));
        loop {
            if !queue.contains(id) {
                return Ok(BulkheadPermit { bulkhead: self });
            }
            let timed_out = match deadline {
                Some(deadline) => condvar.wait_until(&mut queue, deadline).timed_out(),
                None => {
                    condvar.wait(&mut queue);
                    false
                }
            };
            if timed_out {
                if self.dequeue(&mut queue, id) {
                    return Err(self.refuse());
                }
                // Handed a place as the wait ran out: take it.
                return Ok(BulkheadPermit { bulkhead: self });
            }
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
    fn places_given_back_without_a_read_modify_write_never_strand_a_waiter() {
        // One place and callers that leave at once. With two threads, a
        // leave the queued one missed (and nobody handed over) strands it:
        // the leaver's next call queues behind it, and both wait out the
        // 5 s and are refused. With sixteen, more than the stripe slots,
        // some leave on the shared counter.
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
