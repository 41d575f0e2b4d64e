//! Recovery costs nothing until the first failure (issue 16): a call whose
//! first attempt succeeds reads no recovery clock and opens no session, and
//! arguments are copied for an attempt only when a re-run can follow.

mod common;

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{block_on, method};
use reliability_core::{clock::Delay, manager, reliable, CircuitOpen, Clock, ManualClock};

/// A manual clock that counts how often it is read.
#[derive(Debug, Default)]
struct CountingClock {
    inner: ManualClock,
    reads: AtomicUsize,
}

impl Clock for CountingClock {
    fn now(&self) -> Instant {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.now()
    }

    fn sleep(&self, duration: Duration) {
        self.inner.sleep(duration);
    }

    fn delay(&self, duration: Duration) -> Delay {
        self.inner.delay(duration)
    }
}

static CLOCK: LazyLock<Arc<CountingClock>> = LazyLock::new(|| {
    let clock = Arc::new(CountingClock::default());
    manager().set_clock(clock.clone());
    clock
});

/// The tests read one clock's counter: they take turns. The clock is
/// installed before anything runs.
fn turn() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    LazyLock::force(&CLOCK);
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A component's recovery sessions so far, and how many recovered.
fn sessions(component: &str) -> (u64, u64) {
    let snapshot = reliability_core::snapshot();
    snapshot
        .component(component)
        .map_or((0, 0), |c| (c.recovery.sessions, c.recovery.recovered))
}

fn successes(component: &str, name: &str) -> u64 {
    let snapshot = reliability_core::snapshot();
    snapshot
        .component(component)
        .and_then(|c| c.method(name))
        .map_or(0, |m| m.successes)
}

fn clock_reads() -> usize {
    CLOCK.reads.load(Ordering::SeqCst)
}

#[derive(Debug, Clone, PartialEq)]
enum Error {
    Reset,
    Open,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Reset => "connection reset",
            Error::Open => "circuit open",
        })
    }
}

impl From<CircuitOpen> for Error {
    fn from(_: CircuitOpen) -> Self {
        Error::Open
    }
}

/// An argument that counts its copies.
#[derive(Debug)]
struct Counted<'a>(&'a AtomicU32);

impl Clone for Counted<'_> {
    fn clone(&self) -> Self {
        self.0.fetch_add(1, Ordering::SeqCst);
        Counted(self.0)
    }
}

/// Takes the argument by value, as a body that consumes it would.
fn consume(token: Counted<'_>) {
    let _owned = token;
}

/// Fails the first `failures` calls, then succeeds.
struct Flaky {
    failures: u32,
    calls: AtomicU32,
}

impl Flaky {
    fn new(failures: u32) -> Self {
        Flaky {
            failures,
            calls: AtomicU32::new(0),
        }
    }

    fn attempt(&self) -> Result<u32, Error> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n < self.failures {
            Err(Error::Reset)
        } else {
            Ok(n)
        }
    }
}

struct Guarded(Flaky);

#[reliable(
    component = "lazy_guarded",
    strategies = [retry, circuit_breaker, escalate],
    base_delay = "1ms",
    failure_rate = 0.9,
    min_calls = 100
)]
impl Guarded {
    fn fetch(&self, token: Counted<'_>) -> Result<u32, Error> {
        consume(token);
        self.0.attempt()
    }

    async fn fetch_async(&self, token: Counted<'_>) -> Result<u32, Error> {
        consume(token);
        self.0.attempt()
    }
}

struct BreakerOnly(Flaky);

#[reliable(component = "lazy_breaker_only", strategies = [circuit_breaker], open_after = 2)]
impl BreakerOnly {
    // The body consumes its argument: with no re-run possible, it gets the
    // caller's value, not a copy.
    fn fetch(&self, token: Counted<'_>) -> Result<u32, Error> {
        consume(token);
        self.0.attempt()
    }

    async fn fetch_async(&self, token: Counted<'_>) -> Result<u32, Error> {
        consume(token);
        self.0.attempt()
    }
}

#[test]
fn a_first_attempt_that_succeeds_reads_no_clock_and_opens_no_session() {
    let _turn = turn();
    let copies = AtomicU32::new(0);
    let service = Guarded(Flaky::new(0));
    // The other tests share the component and take turns: compare with before.
    let (opened, fetched, fetched_async) = (
        sessions("lazy_guarded").0,
        successes("lazy_guarded", "fetch"),
        successes("lazy_guarded", "fetch_async"),
    );
    let before = clock_reads();
    assert_eq!(service.fetch(Counted(&copies)), Ok(0));
    assert_eq!(block_on(service.fetch_async(Counted(&copies))), Ok(1));
    assert_eq!(clock_reads(), before, "the success path read the clock");
    assert_eq!(sessions("lazy_guarded").0, opened, "a session was opened");
    assert_eq!(successes("lazy_guarded", "fetch"), fetched + 1);
    assert_eq!(successes("lazy_guarded", "fetch_async"), fetched_async + 1);
    // A retry may follow each attempt: each gets its own copy.
    assert_eq!(copies.load(Ordering::SeqCst), 2);
}

#[test]
fn a_first_failure_starts_the_driver_as_before() {
    let _turn = turn();
    let copies = AtomicU32::new(0);
    let service = Guarded(Flaky::new(1));
    let (sessions_before, recovered_before) = sessions("lazy_guarded");
    let before = clock_reads();
    assert_eq!(service.fetch(Counted(&copies)), Ok(1));
    assert!(
        clock_reads() > before,
        "the retry's backoff reads the clock"
    );
    assert_eq!(copies.load(Ordering::SeqCst), 2, "one copy per attempt");
    assert_eq!(
        sessions("lazy_guarded"),
        (sessions_before + 1, recovered_before + 1)
    );

    // The async path the same way.
    let service = Guarded(Flaky::new(1));
    assert_eq!(block_on(service.fetch_async(Counted(&copies))), Ok(1));
    assert_eq!(copies.load(Ordering::SeqCst), 4);
    assert_eq!(
        sessions("lazy_guarded"),
        (sessions_before + 2, recovered_before + 2)
    );
}

#[test]
fn without_a_rerun_the_body_takes_the_arguments_as_they_are() {
    let _turn = turn();
    let copies = AtomicU32::new(0);
    let service = BreakerOnly(Flaky::new(2));
    assert_eq!(service.fetch(Counted(&copies)), Err(Error::Reset));
    assert_eq!(service.fetch(Counted(&copies)), Err(Error::Reset));
    // Two failures in a row opened the circuit: refused without running.
    assert_eq!(service.fetch(Counted(&copies)), Err(Error::Open));
    assert_eq!(service.0.calls.load(Ordering::SeqCst), 2);
    assert_eq!(copies.load(Ordering::SeqCst), 0);
    assert_eq!(method("lazy_breaker_only", "fetch").rejected, 1);
    // The async path the same way; the circuit is the component's, still open.
    assert_eq!(
        block_on(service.fetch_async(Counted(&copies))),
        Err(Error::Open)
    );
    assert_eq!(service.0.calls.load(Ordering::SeqCst), 2);
    assert_eq!(method("lazy_breaker_only", "fetch_async").rejected, 1);
    let service = BreakerOnly(Flaky::new(0));
    CLOCK.inner.advance(Duration::from_secs(60));
    // After the cool-down a probe runs, on the caller's argument, and closes it.
    assert_eq!(block_on(service.fetch_async(Counted(&copies))), Ok(0));
    assert_eq!(copies.load(Ordering::SeqCst), 0);
    assert_eq!(service.fetch(Counted(&copies)), Ok(1));
}
