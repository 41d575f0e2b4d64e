//! The clock every call is timed with, and the clock recovery waits on.
//!
//! Calls are timed with the CPU's time-stamp counter through `quanta`
//! (the clock of the `metrics` ecosystem): a raw read costs less than half
//! of `std::time::Instant::now()`, and the clock is most of a successful
//! call's cost (docs/PERFORMANCE.md). `quanta` calibrates the counter
//! against the OS clock on first use and falls back to the OS clock where
//! the counter is unreliable. Kept behind two functions so the choice is
//! made in one place.

use std::sync::LazyLock;
use std::time::Instant;

static CALL_CLOCK: LazyLock<quanta::Clock> = LazyLock::new(quanta::Clock::new);

/// Reads the clock at the start of a call: raw counter ticks.
#[inline(always)]
pub(crate) fn now() -> u64 {
    CALL_CLOCK.raw()
}

/// Nanoseconds since `start` (ticks from [`now`]).
#[inline(always)]
pub(crate) fn nanos_since(start: u64) -> u64 {
    let clock = &*CALL_CLOCK;
    clock.delta_as_nanos(start, clock.raw())
}

/// Nanoseconds from `start` to `end` (ticks from [`now`]); 0 when `end`
/// came first.
#[cfg(test)]
pub(crate) fn nanos_between(start: u64, end: u64) -> u64 {
    CALL_CLOCK.delta_as_nanos(start, end)
}

/// Nanoseconds per 2^32 ticks of [`now`]: a 32.32 fixed-point factor for
/// whoever converts many readings and keeps it (a rate limit's origin).
pub(crate) fn nanos_per_2_32_ticks() -> u64 {
    CALL_CLOCK.delta_as_nanos(0, 1 << 32)
}

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use parking_lot::Mutex;

use super::timer::{timer, Queued, Timer};

/// The time source recovery waits on: backoff delays, circuit cool-downs,
/// retry budgets and `max_elapsed`. Call latency is always measured with the
/// real monotonic clock.
///
/// Install one with
/// [`ReliabilityManager::set_clock`](crate::ReliabilityManager::set_clock);
/// tests use [`ManualClock`] so that no test sleeps.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> Instant;

    /// Blocks the thread for `duration` (sync methods back off with this).
    fn sleep(&self, duration: Duration);

    /// A future that completes after `duration`, without blocking the
    /// executor's thread (async methods back off with this).
    fn delay(&self, duration: Duration) -> Delay;
}

const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The real clock: `Instant::now`, `thread::sleep`, and a shared timer
/// thread that wakes async delays on any executor.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }

    fn delay(&self, duration: Duration) -> Delay {
        if duration.is_zero() {
            return Delay::ready();
        }
        let Some(timer) = timer() else {
            return Delay::unavailable();
        };
        // A wait too long for an `Instant` (a `max_wait` of `Duration::MAX`)
        // is capped at a century rather than panicking.
        Delay::on_timer(timer, Instant::now() + duration.min(CENTURY))
    }
}

/// A clock that only moves when told to, or when something sleeps on it
/// (a sleep or a delay advances it at once). For deterministic tests.
///
/// A clock made [`with_held_delays`](ManualClock::with_held_delays) keeps
/// its async delays pending until [`advance`](ManualClock::advance) moves it
/// past their end: what a test of a timeout, a hedge or a waiting caller
/// needs, since there a delay races with other work instead of being the
/// only thing waited on.
///
/// # Default
///
/// Delays advance the clock at once (`with_held_delays(false)`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use reliability_core::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let start = clock.now();
/// clock.sleep(Duration::from_secs(3)); // returns at once
/// assert_eq!(clock.now() - start, Duration::from_secs(3));
/// assert_eq!(clock.slept(), Duration::from_secs(3));
/// ```
#[derive(Debug)]
pub struct ManualClock {
    time: Arc<ManualTime>,
    slept: Mutex<Duration>,
    hold_delays: bool,
}

/// The manual time, shared with the held delays that wait on it.
#[derive(Debug)]
struct ManualTime {
    origin: Instant,
    state: Mutex<ManualState>,
}

/// One lock for the offset and the waiting delays, so that a delay cannot
/// miss the advance that ends it.
#[derive(Debug, Default)]
struct ManualState {
    offset: Duration,
    next_id: u64,
    waiting: Vec<(u64, Duration, Waker)>,
}

impl ManualClock {
    /// A clock standing at the moment it was made.
    pub fn new() -> Self {
        ManualClock {
            time: Arc::new(ManualTime {
                origin: Instant::now(),
                state: Mutex::new(ManualState::default()),
            }),
            slept: Mutex::new(Duration::ZERO),
            hold_delays: false,
        }
    }

    /// Whether async delays wait for [`advance`](ManualClock::advance)
    /// (`true`) or advance the clock at once (`false`). Sync sleeps always
    /// advance it at once: a thread blocked in one could not be advanced.
    #[must_use]
    pub fn with_held_delays(mut self, held: bool) -> Self {
        self.hold_delays = held;
        self
    }

    /// Moves the clock forward, waking the held delays it ends.
    pub fn advance(&self, duration: Duration) {
        let mut due = Vec::new();
        {
            let mut state = self.time.state.lock();
            state.offset += duration;
            let now = state.offset;
            state.waiting.retain(|(_, deadline, waker)| {
                let keep = *deadline > now;
                if !keep {
                    due.push(waker.clone());
                }
                keep
            });
        }
        // Woken outside the lock: a waker may poll at once.
        due.into_iter().for_each(Waker::wake);
    }

    /// The total time slept, or delayed without holding, on this clock.
    pub fn slept(&self) -> Duration {
        *self.slept.lock()
    }

    /// How many held delays are waiting for the clock to reach them.
    pub fn held_delays(&self) -> usize {
        self.time.state.lock().waiting.len()
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.time.origin + self.time.state.lock().offset
    }

    fn sleep(&self, duration: Duration) {
        *self.slept.lock() += duration;
        self.advance(duration);
    }

    fn delay(&self, duration: Duration) -> Delay {
        if !self.hold_delays {
            self.sleep(duration);
            return Delay::ready();
        }
        let deadline = self.time.state.lock().offset.saturating_add(duration);
        Delay(DelayInner::Manual(HeldDelay {
            time: Arc::clone(&self.time),
            deadline,
            id: None,
        }))
    }
}

/// A delay of a [`ManualClock`] made with held delays.
struct HeldDelay {
    time: Arc<ManualTime>,
    /// The offset of the manual clock at which it ends.
    deadline: Duration,
    /// Its entry among the waiting delays, once polled.
    id: Option<u64>,
}

impl HeldDelay {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.time.state.lock();
        if state.offset >= self.deadline {
            return Poll::Ready(());
        }
        match self.id {
            Some(id) => {
                if let Some(entry) = state.waiting.iter_mut().find(|entry| entry.0 == id) {
                    entry.2.clone_from(cx.waker());
                }
            }
            None => {
                let id = state.next_id;
                state.next_id += 1;
                state.waiting.push((id, self.deadline, cx.waker().clone()));
                self.id = Some(id);
            }
        }
        Poll::Pending
    }
}

impl Drop for HeldDelay {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.time.state.lock().waiting.retain(|entry| entry.0 != id);
        }
    }
}

/// A future that completes after a delay (see [`Clock::delay`]).
#[must_use = "futures do nothing unless polled"]
pub struct Delay(DelayInner);

enum DelayInner {
    Ready,
    /// No timer can wake it: it completes at once, and says so.
    Unavailable,
    Manual(HeldDelay),
    Timer {
        deadline: Instant,
        timer: &'static Timer,
        /// Its place in the timer's queue, once polled.
        queued: Option<Queued>,
    },
}

impl fmt::Debug for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            DelayInner::Ready => f.write_str("Delay(ready)"),
            DelayInner::Unavailable => f.write_str("Delay(unavailable)"),
            DelayInner::Manual(held) => f.debug_tuple("Delay").field(&held.deadline).finish(),
            DelayInner::Timer { deadline, .. } => f.debug_tuple("Delay").field(deadline).finish(),
        }
    }
}

impl Delay {
    /// A delay that is already over.
    pub fn ready() -> Self {
        Delay(DelayInner::Ready)
    }

    /// A delay that cannot be waited out because no timer can wake it (the
    /// timer thread could not start). It completes at once; whoever awaits
    /// it should check [`is_unavailable`](Self::is_unavailable) first and
    /// give up rather than retry at once. Recovery fails the call's
    /// recovery with a clear error when its backoff gets one.
    pub fn unavailable() -> Self {
        Delay(DelayInner::Unavailable)
    }

    /// Whether this delay cannot be waited out (see [`Delay::unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        matches!(self.0, DelayInner::Unavailable)
    }

    /// A delay of `timer` until `deadline`.
    pub(super) fn on_timer(timer: &'static Timer, deadline: Instant) -> Self {
        Delay(DelayInner::Timer {
            deadline,
            timer,
            queued: None,
        })
    }
}

impl Future for Delay {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let (deadline, timer, queued) = match &mut self.0 {
            DelayInner::Ready | DelayInner::Unavailable => return Poll::Ready(()),
            DelayInner::Manual(held) => return held.poll(cx),
            DelayInner::Timer {
                deadline,
                timer,
                queued,
            } => (*deadline, *timer, queued),
        };
        if Instant::now() >= deadline {
            *queued = None;
            return Poll::Ready(());
        }
        match queued {
            Some(queued) => {
                if queued.fired() {
                    return Poll::Ready(());
                }
                queued.wake_with(cx.waker());
                // The timer may have fired between the check and the store.
                if queued.fired() {
                    return Poll::Ready(());
                }
            }
            None => *queued = Some(timer.schedule(deadline, cx.waker().clone())),
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::Wake;

    #[test]
    fn a_system_delay_is_woken_by_the_timer_thread() {
        let delay = Duration::from_millis(20);
        let start = Instant::now();
        let mut future = std::pin::pin!(SystemClock.delay(delay));
        let woken = Arc::new(AtomicBool::new(false));
        struct Flag(Arc<AtomicBool>, std::thread::Thread);
        impl Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
                self.1.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Flag(Arc::clone(&woken), std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        assert!(future.as_mut().poll(&mut cx).is_pending());
        // Parked until the timer thread wakes us (bounded, in case it never does).
        while !woken.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(10) {
            std::thread::park_timeout(Duration::from_secs(1));
        }
        assert!(
            woken.load(Ordering::SeqCst),
            "the timer never woke the task"
        );
        assert!(future.as_mut().poll(&mut cx).is_ready());
        assert!(start.elapsed() >= delay);
    }

    #[test]
    fn a_zero_delay_is_ready_at_once() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut ready = std::pin::pin!(SystemClock.delay(Duration::ZERO));
        assert!(ready.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn a_held_manual_delay_fires_when_the_clock_is_advanced_past_it() {
        let clock = ManualClock::new().with_held_delays(true);
        let woken = Arc::new(AtomicBool::new(false));
        struct Flag(Arc<AtomicBool>);
        impl Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let waker = Waker::from(Arc::new(Flag(Arc::clone(&woken))));
        let mut cx = Context::from_waker(&waker);
        let start = clock.now();
        let mut delay = std::pin::pin!(clock.delay(Duration::from_millis(50)));
        assert!(delay.as_mut().poll(&mut cx).is_pending());
        assert_eq!(clock.now(), start, "a held delay does not move the clock");
        assert_eq!(clock.held_delays(), 1);
        clock.advance(Duration::from_millis(49));
        assert!(!woken.load(Ordering::SeqCst), "woken 1 ms early");
        assert!(delay.as_mut().poll(&mut cx).is_pending());
        clock.advance(Duration::from_millis(1));
        assert!(woken.load(Ordering::SeqCst), "the advance did not wake it");
        assert!(delay.as_mut().poll(&mut cx).is_ready());
        assert_eq!(clock.held_delays(), 0);
        assert_eq!(clock.slept(), Duration::ZERO);
    }

    #[test]
    fn a_dropped_held_delay_stops_waiting() {
        let clock = ManualClock::new().with_held_delays(true);
        let mut cx = Context::from_waker(Waker::noop());
        {
            let mut delay = std::pin::pin!(clock.delay(Duration::from_secs(1)));
            assert!(delay.as_mut().poll(&mut cx).is_pending());
            assert!(delay.as_mut().poll(&mut cx).is_pending());
            assert_eq!(
                clock.held_delays(),
                1,
                "a second poll re-registers in place"
            );
        }
        assert_eq!(clock.held_delays(), 0);
    }

    #[test]
    fn an_unheld_manual_delay_advances_the_clock_at_once() {
        let clock = ManualClock::new();
        let start = clock.now();
        let mut cx = Context::from_waker(Waker::noop());
        let mut delay = std::pin::pin!(clock.delay(Duration::from_millis(30)));
        assert!(delay.as_mut().poll(&mut cx).is_ready());
        assert_eq!(clock.now() - start, Duration::from_millis(30));
        assert_eq!(clock.slept(), Duration::from_millis(30));
    }

    #[test]
    fn an_endless_delay_waits_instead_of_panicking() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut endless = std::pin::pin!(SystemClock.delay(Duration::MAX));
        assert!(endless.as_mut().poll(&mut cx).is_pending());
        let clock = ManualClock::new().with_held_delays(true);
        let mut endless = std::pin::pin!(clock.delay(Duration::MAX));
        assert!(endless.as_mut().poll(&mut cx).is_pending());
        clock.advance(Duration::from_secs(3600));
        assert!(endless.as_mut().poll(&mut cx).is_pending());
    }
}
