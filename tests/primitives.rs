//! `timeout`, `bulkhead` and `rate_limit` wired into the attribute: a
//! refusal never runs the body, a timed-out attempt's future is dropped and
//! the chain goes on to the fallback, and a cancelled waiter gives its
//! place back. Time is the manager's manual clock with held delays, moved
//! by the tests; futures are polled by hand, so every interleaving is fixed.

mod common;

use std::fmt;
use std::future::{pending, Future};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use reliability_core::{
    limit::RejectReason, manager, recovery::StepOutcome, reliable, BulkheadFull, ManualClock,
    RateLimited, ReliabilityEvent, TimedOut,
};

/// The events about `component` while `run` runs.
fn events_of(component: &'static str, run: impl FnOnce()) -> Vec<ReliabilityEvent> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let subscription = manager().subscribe(move |event| {
        if event.component() == component {
            sink.lock().unwrap().push(event.clone());
        }
    });
    run();
    drop(subscription);
    let events = seen.lock().unwrap().clone();
    events
}

/// One manual clock with held delays for the whole binary, and one test at
/// a time: a test that advances the clock would refill another's bucket.
fn serial() -> (MutexGuard<'static, ()>, Arc<ManualClock>) {
    static LOCK: Mutex<()> = Mutex::new(());
    static CLOCK: OnceLock<Arc<ManualClock>> = OnceLock::new();
    let guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let clock = CLOCK
        .get_or_init(|| {
            let clock = Arc::new(ManualClock::new().with_held_delays(true));
            manager().set_clock(clock.clone());
            clock
        })
        .clone();
    (guard, clock)
}

fn poll<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

#[derive(Debug, Clone, PartialEq)]
enum Error {
    TimedOut,
    Full,
    Limited,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl From<TimedOut> for Error {
    fn from(_: TimedOut) -> Self {
        Error::TimedOut
    }
}

impl From<BulkheadFull> for Error {
    fn from(_: BulkheadFull) -> Self {
        Error::Full
    }
}

impl From<RateLimited> for Error {
    fn from(_: RateLimited) -> Self {
        Error::Limited
    }
}

/// Sets its flag when dropped: whether a body's future was dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

struct Slow {
    dropped: Arc<AtomicBool>,
    runs: AtomicUsize,
}

impl Slow {
    fn new() -> Self {
        Slow {
            dropped: Arc::new(AtomicBool::new(false)),
            runs: AtomicUsize::new(0),
        }
    }
}

#[reliable(component = "prim_timeout")]
impl Slow {
    #[reliable(timeout = "2s", fallback = cached)]
    async fn fetch(&self) -> Result<u8, Error> {
        self.runs.fetch_add(1, SeqCst);
        let _flag = DropFlag(self.dropped.clone());
        pending::<()>().await;
        Ok(1)
    }

    #[reliable(skip)]
    async fn cached(&self) -> Result<u8, Error> {
        Ok(7)
    }

    #[reliable(timeout = "2s")]
    async fn bare(&self) -> Result<u8, Error> {
        let _flag = DropFlag(self.dropped.clone());
        pending::<()>().await;
        Ok(1)
    }

    #[reliable(timeout = "2s", strategies = [retry], max_attempts = 2, base_delay = "1s")]
    async fn retried(&self) -> Result<u8, Error> {
        if self.runs.fetch_add(1, SeqCst) == 0 {
            pending::<()>().await;
        }
        Ok(3)
    }
}

#[test]
fn a_never_completing_attempt_times_out_and_falls_back() {
    let (_serial, clock) = serial();
    let slow = Slow::new();
    let (before, ..) = common::method_or_default("prim_timeout", "fetch");
    let events = events_of("prim_timeout", || {
        let mut call = pin!(slow.fetch());
        assert!(poll(call.as_mut()).is_pending());
        assert!(!slow.dropped.load(SeqCst));
        clock.advance(Duration::from_millis(1999));
        assert!(poll(call.as_mut()).is_pending(), "not yet two seconds");
        clock.advance(Duration::from_millis(1));
        assert_eq!(poll(call.as_mut()), Poll::Ready(Ok(7)));
    });
    assert!(
        slow.dropped.load(SeqCst),
        "the attempt's future was dropped"
    );
    let method = common::method("prim_timeout", "fetch");
    assert_eq!(method.cancelled, 0, "a timeout is not a cancellation");
    assert_eq!(method.timeouts, before + 1);
    assert!(events.iter().any(|e| matches!(e,
        ReliabilityEvent::TimedOut { method, after, .. }
            if method == "fetch" && *after == Duration::from_secs(2))));
    let session = manager()
        .recovery_history()
        .into_iter()
        .rev()
        .find(|s| s.method == "fetch" && s.component == "prim_timeout")
        .expect("a recovery session");
    assert_eq!(session.category, reliability_core::ErrorCategory::Timeout);
    assert_eq!(
        session.steps.last().map(|s| s.outcome),
        Some(StepOutcome::Succeeded)
    );
}

#[test]
fn without_a_fallback_a_timeout_is_the_error_type_built_from_timed_out() {
    let (_serial, clock) = serial();
    let slow = Slow::new();
    let mut call = pin!(slow.bare());
    assert!(poll(call.as_mut()).is_pending());
    clock.advance(Duration::from_secs(2));
    assert_eq!(poll(call.as_mut()), Poll::Ready(Err(Error::TimedOut)));
    assert!(slow.dropped.load(SeqCst));
}

#[test]
fn a_timed_out_attempt_is_retried_with_a_fresh_timeout() {
    let (_serial, clock) = serial();
    let slow = Slow::new();
    let mut call = pin!(slow.retried());
    assert!(poll(call.as_mut()).is_pending());
    clock.advance(Duration::from_secs(2));
    // Timed out; now in the one-second backoff.
    assert!(poll(call.as_mut()).is_pending());
    clock.advance(Duration::from_secs(1));
    assert_eq!(poll(call.as_mut()), Poll::Ready(Ok(3)));
    assert_eq!(slow.runs.load(SeqCst), 2);
}

#[test]
fn an_attempt_that_finishes_in_time_is_not_touched() {
    let (_serial, _clock) = serial();
    let slow = Slow::new();
    slow.runs.store(1, SeqCst);
    assert_eq!(common::block_on(slow.retried()), Ok(3));
}

/// A body that waits until the test lets it go, telling the test it is inside.
struct Pool {
    inside: AtomicUsize,
    most: AtomicUsize,
    entered: Mutex<Option<mpsc::Sender<()>>>,
    release: Arc<Barrier>,
    ran: AtomicUsize,
}

#[reliable(component = "prim_bulkhead")]
impl Pool {
    #[reliable(bulkhead(max_concurrent = 2, max_wait = "0ms"))]
    fn query(&self) -> Result<u8, Error> {
        let now = self.inside.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        self.ran.fetch_add(1, SeqCst);
        if let Some(entered) = self.entered.lock().unwrap().as_ref() {
            entered.send(()).unwrap();
        }
        self.release.wait();
        self.inside.fetch_sub(1, SeqCst);
        Ok(1)
    }
}

#[test]
fn six_callers_against_two_places_two_inside_four_refused() {
    let (_serial, _clock) = serial();
    let (entered, inside) = mpsc::channel();
    let pool = Arc::new(Pool {
        inside: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
        entered: Mutex::new(Some(entered)),
        // The two inside, and the test.
        release: Arc::new(Barrier::new(3)),
        ran: AtomicUsize::new(0),
    });
    let first: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            std::thread::spawn(move || pool.query())
        })
        .collect();
    inside.recv().unwrap();
    inside.recv().unwrap();
    let snapshot = reliability_core::snapshot();
    let component = snapshot.component("prim_bulkhead").unwrap();
    assert_eq!(component.in_flight, 2, "two calls inside now");
    let refused: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            std::thread::spawn(move || pool.query())
        })
        .map(|caller| caller.join().unwrap())
        .collect();
    assert_eq!(refused, vec![Err(Error::Full); 4], "the bulkhead was full");
    pool.release.wait();
    for caller in first {
        assert_eq!(caller.join().unwrap(), Ok(1));
    }
    assert_eq!(pool.most.load(SeqCst), 2);
    assert_eq!(
        pool.ran.load(SeqCst),
        2,
        "a refused call never runs the body"
    );
    // The places were given back.
    *pool.entered.lock().unwrap() = None;
    let pool2 = pool.clone();
    let again = std::thread::spawn(move || pool2.query());
    let pool3 = pool.clone();
    let also = std::thread::spawn(move || pool3.query());
    pool.release.wait();
    assert_eq!(again.join().unwrap(), Ok(1));
    assert_eq!(also.join().unwrap(), Ok(1));
    let query = common::method("prim_bulkhead", "query");
    assert_eq!(query.rejected, 4);
    assert_eq!(query.rejected_by.bulkhead_full, 4);
    assert_eq!(query.rejected_by.circuit_open, 0);
    let snapshot = reliability_core::snapshot();
    assert_eq!(snapshot.component("prim_bulkhead").unwrap().in_flight, 0);
}

struct Mailer {
    sent: AtomicUsize,
}

/// Limits are per component, made from the first method's settings: a
/// component of its own, so the order of the tests does not matter.
struct AsyncMailer;

#[reliable(component = "prim_rate_async")]
impl AsyncMailer {
    #[reliable(rate_limit(per_second = 1000, burst = 1000, max_wait = "10ms"))]
    async fn send_async(&self) -> Result<u8, Error> {
        Ok(4)
    }
}

#[reliable(component = "prim_rate")]
impl Mailer {
    #[reliable(rate_limit(per_second = 5, burst = 2))]
    fn send(&self) -> Result<u8, Error> {
        self.sent.fetch_add(1, SeqCst);
        Ok(1)
    }
}

#[test]
fn back_to_back_calls_against_a_burst_of_two_two_pass() {
    let (_serial, clock) = serial();
    let mailer = Mailer {
        sent: AtomicUsize::new(0),
    };
    let mut results = Vec::new();
    let events = events_of("prim_rate", || {
        results = (0..4).map(|_| mailer.send()).collect();
    });
    let reasons: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            ReliabilityEvent::CallRejected { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, [RejectReason::RateLimited; 2]);
    let session = manager()
        .recovery_history()
        .into_iter()
        .rev()
        .find(|s| s.component == "prim_rate")
        .expect("the refusal's session");
    assert_eq!(session.steps.len(), 1);
    assert_eq!(session.steps[0].outcome, StepOutcome::Rejected);
    assert_eq!(
        session.steps[0].attempt, None,
        "a refused call made no attempt"
    );
    assert_eq!(
        session.steps[0].rejected_by,
        Some(RejectReason::RateLimited)
    );
    assert_eq!(
        results,
        vec![Ok(1), Ok(1), Err(Error::Limited), Err(Error::Limited)]
    );
    assert_eq!(
        mailer.sent.load(SeqCst),
        2,
        "a refused call never runs the body"
    );
    // One token every 200ms.
    clock.advance(Duration::from_millis(200));
    assert_eq!(mailer.send(), Ok(1));
    assert_eq!(mailer.send(), Err(Error::Limited));
    let send = common::method("prim_rate", "send");
    assert_eq!(send.rejected_by.rate_limited, 3);
    assert_eq!(send.attempts, 3, "the refused calls are not attempts");
}

/// Opens when told to: an async body the test finishes by hand.
#[derive(Default)]
struct Gate(AtomicBool);

impl Gate {
    fn wait(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(|_| {
            if self.0.load(SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
}

struct Downloads {
    gate: Gate,
    ran: AtomicUsize,
}

#[reliable(component = "prim_async_bulkhead")]
impl Downloads {
    #[reliable(bulkhead(max_concurrent = 1, max_wait = "5s"))]
    async fn get(&self) -> Result<u8, Error> {
        self.ran.fetch_add(1, SeqCst);
        self.gate.wait().await;
        Ok(2)
    }
}

#[test]
fn a_cancelled_async_waiter_gives_its_place_back() {
    let (_serial, clock) = serial();
    let downloads = Downloads {
        gate: Gate::default(),
        ran: AtomicUsize::new(0),
    };
    let mut inside = pin!(downloads.get());
    assert!(poll(inside.as_mut()).is_pending());
    {
        let mut waiter = pin!(downloads.get());
        assert!(poll(waiter.as_mut()).is_pending(), "waits for the place");
        // Dropped here, while it waits.
    }
    let mut next = pin!(downloads.get());
    assert!(
        poll(next.as_mut()).is_pending(),
        "waits behind the one inside"
    );
    downloads.gate.0.store(true, SeqCst);
    assert_eq!(poll(inside.as_mut()), Poll::Ready(Ok(2)));
    // The freed place went to the live waiter, not the cancelled one.
    assert_eq!(poll(next.as_mut()), Poll::Ready(Ok(2)));
    assert_eq!(
        downloads.ran.load(SeqCst),
        2,
        "the cancelled waiter never ran"
    );
    // A waiter that waits out `max_wait` is refused.
    downloads.gate.0.store(false, SeqCst);
    let mut busy = pin!(downloads.get());
    assert!(poll(busy.as_mut()).is_pending());
    let mut late = pin!(downloads.get());
    assert!(poll(late.as_mut()).is_pending());
    clock.advance(Duration::from_secs(5));
    assert_eq!(poll(late.as_mut()), Poll::Ready(Err(Error::Full)));
    downloads.gate.0.store(true, SeqCst);
    assert_eq!(poll(busy.as_mut()), Poll::Ready(Ok(2)));
}

#[test]
fn on_tokio_a_timeout_and_a_bulkhead_keep_the_future_send() {
    let (_serial, clock) = serial();
    fn assert_send<T: Send>(_: &T) {}
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let slow = Arc::new(Slow::new());
    let downloads = Arc::new(Downloads {
        gate: Gate(AtomicBool::new(true)),
        ran: AtomicUsize::new(0),
    });
    runtime.block_on(async {
        let fetch = {
            let slow = slow.clone();
            async move { slow.fetch().await }
        };
        assert_send(&fetch);
        let task = tokio::spawn(fetch);
        tokio::task::yield_now().await;
        clock.advance(Duration::from_secs(2));
        assert_eq!(task.await.unwrap(), Ok(7));
        let get = {
            let downloads = downloads.clone();
            async move { downloads.get().await }
        };
        assert_send(&get);
        assert_eq!(tokio::spawn(get).await.unwrap(), Ok(2));
        let send = async move { AsyncMailer.send_async().await };
        assert_send(&send);
        assert_eq!(tokio::spawn(send).await.unwrap(), Ok(4));
    });
}

struct Search {
    gate: Gate,
    primary_dropped: Arc<AtomicBool>,
    mirrors: AtomicUsize,
}

impl Search {
    fn new() -> Self {
        Search {
            gate: Gate::default(),
            primary_dropped: Arc::new(AtomicBool::new(false)),
            mirrors: AtomicUsize::new(0),
        }
    }
}

#[reliable(component = "prim_hedge")]
impl Search {
    #[reliable(hedge(after = "50ms"), alternatives = [mirror])]
    async fn find(&self, query: u8) -> Result<u8, Error> {
        let _flag = DropFlag(self.primary_dropped.clone());
        self.gate.wait().await;
        Ok(query)
    }

    #[reliable(skip)]
    async fn mirror(&self, query: u8) -> Result<u8, Error> {
        self.mirrors.fetch_add(1, SeqCst);
        Ok(query + 10)
    }

    #[reliable(hedge(after = "50ms"), alternatives = [broken_mirror], fallback = cached)]
    async fn find_or_cached(&self, _query: u8) -> Result<u8, Error> {
        self.gate.wait().await;
        Err(Error::Full)
    }

    #[reliable(skip)]
    async fn broken_mirror(&self, _query: u8) -> Result<u8, Error> {
        self.mirrors.fetch_add(1, SeqCst);
        Err(Error::Limited)
    }

    #[reliable(skip)]
    async fn cached(&self, _query: u8) -> Result<u8, Error> {
        Ok(99)
    }
}

#[test]
fn a_slow_primary_is_hedged_by_a_fast_alternative_which_wins() {
    let (_serial, clock) = serial();
    let search = Search::new();
    let (_, won, lost, _) = common::method_or_default("prim_hedge", "find");
    let events = events_of("prim_hedge", || {
        let mut call = pin!(search.find(3));
        assert!(poll(call.as_mut()).is_pending());
        assert_eq!(search.mirrors.load(SeqCst), 0, "no hedge before `after`");
        clock.advance(Duration::from_millis(50));
        assert_eq!(poll(call.as_mut()), Poll::Ready(Ok(13)));
    });
    assert!(events.iter().any(|e| matches!(
        e,
        ReliabilityEvent::Hedged {
            hedged: 1,
            won_by_hedge: true,
            ..
        }
    )));
    let find = common::method("prim_hedge", "find");
    assert_eq!((find.hedges_won, find.hedges_lost), (won + 1, lost));
    assert_eq!(search.mirrors.load(SeqCst), 1);
    assert!(
        search.primary_dropped.load(SeqCst),
        "the losing primary was dropped"
    );
}

#[test]
fn a_fast_primary_is_not_hedged() {
    let (_serial, _clock) = serial();
    let search = Search::new();
    search.gate.0.store(true, SeqCst);
    assert_eq!(common::block_on(search.find(4)), Ok(4));
    assert_eq!(search.mirrors.load(SeqCst), 0);
}

#[test]
fn when_the_primary_and_its_hedges_all_fail_the_fallback_answers_once() {
    let (_serial, clock) = serial();
    let search = Search::new();
    let mut call = pin!(search.find_or_cached(1));
    assert!(poll(call.as_mut()).is_pending());
    clock.advance(Duration::from_millis(50));
    // The mirror failed; the primary still runs.
    assert!(poll(call.as_mut()).is_pending());
    search.gate.0.store(true, SeqCst);
    assert_eq!(poll(call.as_mut()), Poll::Ready(Ok(99)));
    assert_eq!(
        search.mirrors.load(SeqCst),
        1,
        "the alternative is not run again"
    );
    let method = common::method("prim_hedge", "find_or_cached");
    assert_eq!((method.hedges_won, method.hedges_lost), (0, 1));
}

struct HedgedRun {
    gate: Gate,
}

#[reliable(component = "prim_hedge_run")]
impl HedgedRun {
    #[reliable(hedge(after = "50ms"), alternatives = [failing_mirror])]
    async fn find(&self, _query: u8) -> Result<u8, Error> {
        self.gate.wait().await;
        Err(Error::Full)
    }

    /// Instrumented: its own failure is counted on its own call site.
    async fn failing_mirror(&self, _query: u8) -> Result<u8, Error> {
        Err(Error::Limited)
    }
}

/// A hedged alternative is a step of the call's recovery, as a sequential
/// one is: when the primary and its hedge both fail, the component has one
/// more failure in a row (the call's), not two.
#[test]
fn a_failed_hedge_is_not_another_failure_in_a_row() {
    let (_serial, clock) = serial();
    let run = HedgedRun {
        gate: Gate::default(),
    };
    let mut call = pin!(run.find(1));
    assert!(poll(call.as_mut()).is_pending());
    clock.advance(Duration::from_millis(50));
    assert!(poll(call.as_mut()).is_pending());
    run.gate.0.store(true, SeqCst);
    assert_eq!(poll(call.as_mut()), Poll::Ready(Err(Error::Full)));
    let health = reliability_core::manager()
        .component_health("prim_hedge_run")
        .unwrap();
    assert_eq!(health.consecutive_failures, 1);
    assert_eq!(
        common::method("prim_hedge_run", "failing_mirror").failures,
        1
    );
}

/// `hedge` with `timeout`: the attempt and each hedged alternative run
/// under a timeout of their own, counted from when each started.
struct TimedSearch {
    primary: Gate,
    mirror: Gate,
    primary_dropped: Arc<AtomicBool>,
    mirror_dropped: Arc<AtomicBool>,
    mirrors: AtomicUsize,
}

impl TimedSearch {
    fn new() -> Self {
        TimedSearch {
            primary: Gate::default(),
            mirror: Gate::default(),
            primary_dropped: Arc::new(AtomicBool::new(false)),
            mirror_dropped: Arc::new(AtomicBool::new(false)),
            mirrors: AtomicUsize::new(0),
        }
    }
}

#[reliable(component = "prim_hedge_timeout")]
impl TimedSearch {
    #[reliable(hedge(after = "50ms"), timeout = "1s", alternatives = [mirror])]
    async fn find(&self, query: u8) -> Result<u8, Error> {
        let _flag = DropFlag(self.primary_dropped.clone());
        self.primary.wait().await;
        Ok(query)
    }

    #[reliable(hedge(after = "50ms"), timeout = "1s", alternatives = [mirror], fallback = cached)]
    async fn find_or_cached(&self, query: u8) -> Result<u8, Error> {
        let _flag = DropFlag(self.primary_dropped.clone());
        self.primary.wait().await;
        Ok(query)
    }

    #[reliable(skip)]
    async fn mirror(&self, query: u8) -> Result<u8, Error> {
        self.mirrors.fetch_add(1, SeqCst);
        let _flag = DropFlag(self.mirror_dropped.clone());
        self.mirror.wait().await;
        Ok(query + 10)
    }

    #[reliable(skip)]
    async fn cached(&self, _query: u8) -> Result<u8, Error> {
        Ok(99)
    }
}

const MS: Duration = Duration::from_millis(1);

#[test]
fn a_hanging_primary_loses_to_an_alternative_that_answers_within_its_timeout() {
    let (_serial, clock) = serial();
    let search = TimedSearch::new();
    let (timeouts, won, lost, _) = common::method_or_default("prim_hedge_timeout", "find");
    let mut call = pin!(search.find(3));
    assert!(poll(call.as_mut()).is_pending());
    clock.advance(50 * MS);
    assert!(poll(call.as_mut()).is_pending());
    assert_eq!(search.mirrors.load(SeqCst), 1, "the hedge did not start");
    clock.advance(500 * MS);
    search.mirror.0.store(true, SeqCst);
    assert_eq!(poll(call.as_mut()), Poll::Ready(Ok(13)));
    assert!(search.primary_dropped.load(SeqCst), "the loser still runs");
    let find = common::method("prim_hedge_timeout", "find");
    assert_eq!(
        (find.timeouts, find.hedges_won, find.hedges_lost),
        (timeouts, won + 1, lost),
        "nothing timed out"
    );
}

#[test]
fn each_leg_of_a_hedge_has_its_own_timeout_from_its_own_start() {
    let (_serial, clock) = serial();
    let search = TimedSearch::new();
    let (timeouts, won, ..) = common::method_or_default("prim_hedge_timeout", "find");
    let mut call = pin!(search.find(3));
    assert!(poll(call.as_mut()).is_pending());
    clock.advance(50 * MS);
    assert!(poll(call.as_mut()).is_pending());
    // One second after the primary started: its timeout is over, the
    // mirror's (started 50 ms later) is not.
    clock.advance(950 * MS);
    assert!(poll(call.as_mut()).is_pending(), "the mirror still runs");
    assert!(
        search.primary_dropped.load(SeqCst),
        "the timed-out primary runs on"
    );
    assert!(
        !search.mirror_dropped.load(SeqCst),
        "the mirror got the primary's deadline"
    );
    clock.advance(40 * MS);
    search.mirror.0.store(true, SeqCst);
    assert_eq!(poll(call.as_mut()), Poll::Ready(Ok(13)));
    let find = common::method("prim_hedge_timeout", "find");
    assert_eq!((find.timeouts, find.hedges_won), (timeouts + 1, won + 1));
    assert_eq!(find.cancelled, 0, "a timeout is not a cancellation");
}

#[test]
fn when_every_leg_of_a_hedge_times_out_the_fallback_answers() {
    let (_serial, clock) = serial();
    let search = TimedSearch::new();
    let (timeouts, won, lost, _) =
        common::method_or_default("prim_hedge_timeout", "find_or_cached");
    let events = events_of("prim_hedge_timeout", || {
        let mut call = pin!(search.find_or_cached(3));
        assert!(poll(call.as_mut()).is_pending());
        clock.advance(50 * MS);
        assert!(poll(call.as_mut()).is_pending());
        clock.advance(950 * MS);
        assert!(
            poll(call.as_mut()).is_pending(),
            "the mirror's time is not up"
        );
        clock.advance(50 * MS);
        assert_eq!(poll(call.as_mut()), Poll::Ready(Ok(99)));
    });
    assert!(search.primary_dropped.load(SeqCst));
    assert!(search.mirror_dropped.load(SeqCst));
    assert_eq!(search.mirrors.load(SeqCst), 1, "the mirror ran again");
    let method = common::method("prim_hedge_timeout", "find_or_cached");
    assert_eq!(
        (method.timeouts, method.hedges_won, method.hedges_lost),
        (timeouts + 2, won, lost + 1),
        "both legs timed out; the hedge lost"
    );
    let timed_out = events
        .iter()
        .filter(|e| matches!(e, ReliabilityEvent::TimedOut { method, .. } if method == "find_or_cached"))
        .count();
    assert_eq!(timed_out, 2);
    let session = manager()
        .recovery_history()
        .into_iter()
        .rev()
        .find(|s| s.method == "find_or_cached" && s.component == "prim_hedge_timeout")
        .expect("a recovery session");
    assert_eq!(session.category, reliability_core::ErrorCategory::Timeout);
    assert_eq!(
        session.steps.last().map(|s| s.outcome),
        Some(StepOutcome::Succeeded),
        "the fallback did not answer"
    );
}

#[test]
fn without_a_fallback_a_hedge_whose_legs_all_time_out_is_timed_out() {
    let (_serial, clock) = serial();
    let search = TimedSearch::new();
    let (timeouts, ..) = common::method_or_default("prim_hedge_timeout", "find");
    let mut call = pin!(search.find(3));
    assert!(poll(call.as_mut()).is_pending());
    clock.advance(50 * MS);
    assert!(poll(call.as_mut()).is_pending());
    clock.advance(1000 * MS);
    assert_eq!(poll(call.as_mut()), Poll::Ready(Err(Error::TimedOut)));
    assert!(search.primary_dropped.load(SeqCst) && search.mirror_dropped.load(SeqCst));
    let find = common::method("prim_hedge_timeout", "find");
    assert_eq!(
        find.timeouts,
        timeouts + 2,
        "each leg's timeout counts once"
    );
}

/// The `tracing` events of the calling thread, as `(level, message and
/// fields)` text.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

impl Warnings {
    /// What `run` logs on this thread at `WARN` or above.
    fn during(run: impl FnOnce()) -> Vec<String> {
        let warnings = Warnings::default();
        tracing::subscriber::with_default(warnings.clone(), run);
        let logged = warnings.0.lock().unwrap().clone();
        logged
    }
}

struct Text<'a>(&'a mut String);

impl tracing::field::Visit for Text<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
}

impl tracing::Subscriber for Warnings {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() <= tracing::Level::WARN
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut text = event.metadata().target().to_owned();
        event.record(&mut Text(&mut text));
        self.0.lock().unwrap().push(text);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Two impl blocks of one component with different bulkheads: the compile
/// time check sees one impl at a time, so the second is told at run time.
struct Uploads;

#[reliable(component = "prim_split_limits")]
impl Uploads {
    #[reliable(bulkhead(max_concurrent = 4))]
    fn upload(&self) -> Result<u8, Error> {
        Ok(1)
    }

    #[reliable(bulkhead(max_concurrent = 4))]
    fn replace(&self) -> Result<u8, Error> {
        Ok(3)
    }
}

struct Deletes;

#[reliable(component = "prim_split_limits")]
impl Deletes {
    #[reliable(bulkhead(max_concurrent = 2, max_wait = "10ms"))]
    fn delete(&self) -> Result<u8, Error> {
        Ok(2)
    }
}

#[test]
fn a_method_whose_bulkhead_differs_from_its_components_is_warned_about_once() {
    let agreeing = Warnings::during(|| {
        assert_eq!(Uploads.upload(), Ok(1));
        assert_eq!(Uploads.replace(), Ok(3));
    });
    assert_eq!(agreeing, Vec::<String>::new(), "same settings, no warning");
    let differing = Warnings::during(|| {
        assert_eq!(Deletes.delete(), Ok(2));
        assert_eq!(Deletes.delete(), Ok(2));
    });
    assert_eq!(differing.len(), 1, "one warning, once: {differing:?}");
    let warning = &differing[0];
    for expected in [
        "reliability",
        "prim_split_limits::delete",
        "limit=\"bulkhead\"",
        "max_concurrent: 4",
        "max_concurrent: 2",
    ] {
        assert!(warning.contains(expected), "`{expected}` not in {warning}");
    }
}
