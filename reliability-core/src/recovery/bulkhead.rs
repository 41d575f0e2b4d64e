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
//! compare-and-swap of the count inside, and leaving is one subtraction and
//! one load: no lock. The queue's lock is only taken when the bulkhead is
//! full, or by a caller leaving while someone waits.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::classify::refused::BulkheadFull;
use crate::record::clock::{Clock, Delay};

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
/// use reliability_core::BulkheadConfig;
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
    component: &'static str,
    config: BulkheadConfig,
    /// Calls inside: permits taken and not yet dropped, including places
    /// handed to waiters that have not yet seen them.
    inside: AtomicUsize,
    /// The queue's length, readable without its lock: callers leaving an
    /// unqueued bulkhead skip the lock on it.
    queued: AtomicUsize,
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
            component,
            config,
            inside: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
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
        self.inside.load(Ordering::Relaxed)
    }

    /// Callers waiting for a place now.
    pub fn waiting(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
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

    /// Enters, blocking the thread up to `max_wait` for a place (on the
    /// real clock: a condition variable cannot wait on a manual one).
    pub fn acquire(&self) -> Result<BulkheadPermit<'_>, BulkheadFull> {
        if self.enter_unqueued() {
            return Ok(BulkheadPermit { bulkhead: self });
        }
        self.acquire_slow()
    }

    /// Enters, waiting up to `max_wait` on `clock` without blocking the
    /// executor's thread. Dropping the future gives its place in the queue
    /// back, or, if a place was handed to it already, passes that on.
    pub fn acquire_async<'a>(&'a self, clock: &'a dyn Clock) -> BulkheadAcquire<'a> {
        BulkheadAcquire {
            bulkhead: self,
            clock,
            state: AcquireState::Start,
        }
    }

    /// The uncontended path: no one queued and a place free.
    #[inline]
    fn enter_unqueued(&self) -> bool {
        // Freed places go straight to waiters, so a place is free while
        // someone waits only between a release and its hand-over; checking
        // the queue keeps newcomers out of that window. Relaxed: a stale
        // zero lets one caller in early, within the limit the
        // compare-and-swap still enforces.
        self.queued.load(Ordering::Relaxed) == 0 && self.try_enter()
    }

    /// Takes a place if one is free.
    ///
    /// The loads and the swap are `SeqCst`, pairing with `release`: either
    /// a waiter that has just queued sees the place its releaser freed, or
    /// the releaser sees the waiter and hands the place over.
    #[inline]
    fn try_enter(&self) -> bool {
        let max = self.config.max_concurrent;
        let mut inside = self.inside.load(Ordering::SeqCst);
        loop {
            if inside >= max {
                return false;
            }
            match self.inside.compare_exchange_weak(
                inside,
                inside + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(now) => inside = now,
            }
        }
    }

    #[inline]
    fn release(&self) {
        self.inside.fetch_sub(1, Ordering::SeqCst);
        if self.queued.load(Ordering::SeqCst) != 0 {
            self.hand_over(self.queue.lock());
        }
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
        self.queued.store(queue.waiters.len(), Ordering::SeqCst);
        woken
    }

    /// Queues a waiter, and gives it a place at once if one came free.
    fn enqueue(&self, queue: &mut WaitQueue, wake: Wake) -> (u64, Vec<Wake>) {
        let id = queue.push(wake);
        self.queued.store(queue.waiters.len(), Ordering::SeqCst);
        (id, self.grant(queue))
    }

    /// Takes a waiter out of the queue; `true` if it was still waiting,
    /// `false` if it had been handed a place.
    fn dequeue(&self, queue: &mut WaitQueue, id: u64) -> bool {
        let waiting = queue.remove(id);
        self.queued.store(queue.waiters.len(), Ordering::SeqCst);
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

/// The future of [`Bulkhead::acquire_async`].
#[must_use = "futures do nothing unless polled"]
pub struct BulkheadAcquire<'a> {
    bulkhead: &'a Bulkhead,
    clock: &'a dyn Clock,
    state: AcquireState,
}

enum AcquireState {
    Start,
    /// In the queue, with the delay that ends the wait.
    Queued {
        id: u64,
        delay: Delay,
    },
    Done,
}

impl fmt::Debug for BulkheadAcquire<'_> {
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

impl<'a> Future for BulkheadAcquire<'a> {
    type Output = Result<BulkheadPermit<'a>, BulkheadFull>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let bulkhead = self.bulkhead;
        // Made only when returned: a permit dropped gives a place back.
        let admitted = || Poll::Ready(Ok(BulkheadPermit { bulkhead }));
        if let AcquireState::Start = self.state {
            self.state = AcquireState::Done;
            if bulkhead.enter_unqueued() {
                return admitted();
            }
            let mut queue = bulkhead.queue.lock();
            if queue.waiters.is_empty() && bulkhead.try_enter() {
                return admitted();
            }
            if bulkhead.config.max_wait.is_zero() {
                return Poll::Ready(Err(bulkhead.refuse()));
            }
            let (id, woken) = bulkhead.enqueue(&mut queue, Wake::Task(cx.waker().clone()));
            let granted = !queue.contains(id);
            drop(queue);
            woken.into_iter().for_each(Wake::wake);
            if granted {
                return admitted();
            }
            let delay = self.clock.delay(bulkhead.config.max_wait);
            self.state = AcquireState::Queued { id, delay };
        }
        let AcquireState::Queued { id, delay } = &mut self.state else {
            // Polled again after it completed.
            return Poll::Pending;
        };
        let id = *id;
        {
            let mut queue = bulkhead.queue.lock();
            let Some(at) = queue.position(id) else {
                drop(queue);
                self.state = AcquireState::Done;
                return admitted();
            };
            if let Wake::Task(waker) = &mut queue.waiters[at].wake {
                waker.clone_from(cx.waker());
            }
        }
        if Pin::new(delay).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let still_waiting = bulkhead.dequeue(&mut bulkhead.queue.lock(), id);
        self.state = AcquireState::Done;
        if still_waiting {
            Poll::Ready(Err(bulkhead.refuse()))
        } else {
            // Handed a place as the wait ran out: take it.
            admitted()
        }
    }
}

impl Drop for BulkheadAcquire<'_> {
    fn drop(&mut self) {
        if let AcquireState::Queued { id, .. } = self.state {
            let bulkhead = self.bulkhead;
            let mut queue = bulkhead.queue.lock();
            if !bulkhead.dequeue(&mut queue, id) {
                // A place was handed to this waiter as it was dropped:
                // pass it to the next one rather than lose it.
                bulkhead.inside.fetch_sub(1, Ordering::SeqCst);
                bulkhead.hand_over(queue);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::Barrier;
    use std::thread;

    use super::*;
    use crate::recovery::test_support::CountingWaker;
    use crate::ManualClock;

    const WAIT: Duration = Duration::from_millis(50);
    /// Long enough never to run out in a test that is not about running out.
    const FOREVER: Duration = Duration::from_secs(3600);

    /// Counts the callers inside by hand, and the most ever seen at once.
    #[derive(Default)]
    struct Occupancy {
        now: AtomicUsize,
        peak: AtomicUsize,
    }

    impl Occupancy {
        fn enter(&self) {
            let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
        }

        fn leave(&self) {
            self.now.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn poll<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
        Pin::new(future).poll(&mut Context::from_waker(waker))
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

    #[test]
    fn the_acquire_future_and_the_permit_are_send() {
        let clock = ManualClock::new();
        let bulkhead = Bulkhead::new("db", BulkheadConfig::new(1));
        crate::recovery::test_support::assert_send(&bulkhead.acquire_async(&clock));
        crate::recovery::test_support::assert_send(&bulkhead.try_acquire());
    }
}
