//! Recovery configured by the attribute: each strategy, the chain's order,
//! the circuit breaker, the retry budget, sync and async. Time is a
//! `ManualClock`, so backoff delays and cool-downs pass without sleeping.

mod common;

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{block_on, method};
use reliability_core::{
    manager, recovery::RecoveryOutcome, recovery::StepOutcome, reliable, CircuitOpen, CircuitState,
    Classify, ErrorCategory, ManualClock, Strategy,
};
use std::sync::LazyLock;

/// One manual clock for the whole binary: every test reads time from it.
static CLOCK: LazyLock<Arc<ManualClock>> = LazyLock::new(|| {
    let clock = Arc::new(ManualClock::new());
    manager().set_clock(clock.clone());
    clock
});

fn clock() -> &'static ManualClock {
    &CLOCK
}

/// The tests share the clock, and some move it (a circuit's cool-down), which
/// would cut short another test's `max_elapsed`: they take turns.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug, Clone, PartialEq)]
enum FetchError {
    Reset,
    Busy(Duration),
    Forbidden,
    Corrupt,
    Missing,
    Open(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Reset => f.write_str("connection reset"),
            FetchError::Busy(wait) => write!(f, "busy, retry in {wait:?}"),
            FetchError::Forbidden => f.write_str("forbidden"),
            FetchError::Corrupt => f.write_str("checksum mismatch"),
            FetchError::Missing => f.write_str("no such model"),
            FetchError::Open(text) => f.write_str(text),
        }
    }
}

impl Classify for FetchError {
    fn category(&self) -> ErrorCategory {
        match self {
            FetchError::Reset => ErrorCategory::Network,
            FetchError::Busy(_) => ErrorCategory::ResourceExhausted,
            FetchError::Forbidden => ErrorCategory::Permission,
            FetchError::Corrupt => ErrorCategory::Validation,
            FetchError::Missing => ErrorCategory::NotFound,
            FetchError::Open(_) => ErrorCategory::ResourceExhausted,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Busy(wait) => Some(*wait),
            _ => None,
        }
    }
}

impl From<CircuitOpen> for FetchError {
    fn from(open: CircuitOpen) -> Self {
        FetchError::Open(open.to_string())
    }
}

/// Fails with the scripted errors, in order, then succeeds.
struct Scripted {
    script: Vec<FetchError>,
    calls: AtomicU32,
    fallbacks: AtomicU32,
    repairs: AtomicU32,
}

impl Scripted {
    fn new(script: Vec<FetchError>) -> Self {
        Scripted {
            script,
            calls: AtomicU32::new(0),
            fallbacks: AtomicU32::new(0),
            repairs: AtomicU32::new(0),
        }
    }

    fn next(&self, name: &str) -> Result<String, FetchError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) as usize;
        match self.script.get(n) {
            Some(error) => Err(error.clone()),
            None => Ok(format!("model {name}")),
        }
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

struct NetworkOnly(Scripted);

#[reliable(component = "recovery_network", strategies = [network], max_attempts = 4, base_delay = "100ms")]
impl NetworkOnly {
    fn fetch(&self, name: &str) -> Result<String, FetchError> {
        self.0.next(name)
    }
}

#[test]
fn two_network_failures_then_success_returns_ok_after_three_attempts() {
    let _turn = serial();
    let _ = clock();
    let client = NetworkOnly(Scripted::new(vec![FetchError::Reset, FetchError::Reset]));
    assert_eq!(client.fetch("bert"), Ok("model bert".to_owned()));
    assert_eq!(client.0.calls(), 3);
    let fetch = method("recovery_network", "fetch");
    assert_eq!((fetch.calls, fetch.successes, fetch.failures), (1, 1, 0));
    assert_eq!(fetch.attempts, 3);
    let session = manager()
        .recovery_history()
        .into_iter()
        .rev()
        .find(|s| s.component == "recovery_network")
        .expect("a recovery session");
    assert_eq!(session.outcome, RecoveryOutcome::Recovered);
    assert_eq!(session.recovered_by, Some(Strategy::Network));
    assert_eq!(session.category, ErrorCategory::Network);
    assert_eq!(session.error, "connection reset");
    let attempts: Vec<Option<u32>> = session.steps.iter().map(|s| s.attempt).collect();
    assert_eq!(attempts, [Some(2), Some(3)]);
    assert_eq!(session.steps[0].outcome, StepOutcome::Failed);
    assert_eq!(session.steps[1].outcome, StepOutcome::Succeeded);
    // Full jitter: each delay is at most the exponential backoff.
    assert!(session.steps[0].delay <= Duration::from_millis(100));
    assert!(session.steps[1].delay <= Duration::from_millis(200));
    let snapshot = reliability_core::snapshot();
    let component = snapshot.component("recovery_network").unwrap();
    assert_eq!(
        component.failures_by_category.get(&ErrorCategory::Network),
        Some(&2)
    );
    assert_eq!(component.recovery.recovered, 1);
}

struct NetworkPermanent(Scripted);

#[reliable(component = "recovery_network_permanent", strategies = [network])]
impl NetworkPermanent {
    fn fetch(&self, name: &str) -> Result<String, FetchError> {
        self.0.next(name)
    }
}

#[test]
fn network_does_not_retry_permanent_errors() {
    let _turn = serial();
    let _ = clock();
    let client = NetworkPermanent(Scripted::new(vec![FetchError::Missing]));
    assert_eq!(client.fetch("gone"), Err(FetchError::Missing));
    assert_eq!(client.0.calls(), 1);
}

struct WithFallback(Scripted);

#[reliable(
    component = "recovery_fallback",
    strategies = [retry, network],
    fallback = cached,
    max_attempts = 3,
    base_delay = "10ms",
    jitter = false,
    backoff = constant
)]
impl WithFallback {
    fn fetch(&self, name: &str) -> Result<String, FetchError> {
        self.0.next(name)
    }

    fn cached(&self, name: &str) -> Result<String, FetchError> {
        self.0.fallbacks.fetch_add(1, Ordering::SeqCst);
        Ok(format!("cached {name}"))
    }
}

#[test]
fn a_permission_error_is_never_retried_and_goes_to_the_fallback() {
    let _turn = serial();
    let _ = clock();
    let client = WithFallback(Scripted::new(vec![FetchError::Forbidden; 5]));
    // `exhausted_retries_end_in_the_fallback` calls the same fallback, before
    // or after this test: count this test's call only.
    let cached_before = reliability_core::snapshot()
        .component("recovery_fallback")
        .and_then(|c| c.method("cached").map(|m| m.calls))
        .unwrap_or(0);
    assert_eq!(client.fetch("gpt"), Ok("cached gpt".to_owned()));
    assert_eq!(client.0.calls(), 1, "never retried");
    assert_eq!(client.0.fallbacks.load(Ordering::SeqCst), 1);
    let session = manager()
        .recovery_history()
        .into_iter()
        .rev()
        .find(|s| s.component == "recovery_fallback" && s.category == ErrorCategory::Permission)
        .unwrap();
    assert_eq!(session.recovered_by, Some(Strategy::Fallback));
    assert_eq!(session.steps.len(), 1);
    assert_eq!(session.steps[0].target, "cached");
    // The fallback was not given recovery of its own, and was instrumented.
    assert_eq!(
        method("recovery_fallback", "cached").calls,
        cached_before + 1
    );
}

struct Linear(Scripted);

#[reliable(
    component = "recovery_linear",
    strategies = [retry],
    max_attempts = 4,
    base_delay = "10ms",
    jitter = false,
    backoff = linear
)]
impl Linear {
    fn fetch(&self, name: &str) -> Result<String, FetchError> {
        self.0.next(name)
    }
}

#[test]
fn retries_are_spaced_by_the_configured_backoff() {
    let _turn = serial();
    let clock = clock();
    let client = Linear(Scripted::new(vec![FetchError::Reset; 3]));
    let before = clock.slept();
    assert_eq!(client.fetch("t5"), Ok("model t5".to_owned()));
    let session = manager()
        .recovery_history()
        .into_iter()
        .rev()
        .find(|s| s.component == "recovery_linear")
        .unwrap();
    let delays: Vec<Duration> = session.steps.iter().map(|s| s.delay).collect();
    assert_eq!(delays, [10, 20, 30].map(Duration::from_millis));
    assert_eq!(session.recovered_by, Some(Strategy::Retry));
    // The waits happened on the clock (others may sleep on it too).
    assert!(clock.slept() - before >= Duration::from_millis(60));
}

#[test]
fn exhausted_retries_end_in_the_fallback() {
    let _turn = serial();
    let _ = clock();
    let client = WithFallback(Scripted::new(vec![FetchError::Reset; 10]));
    assert_eq!(client.fetch("llama"), Ok("cached llama".to_owned()));
    assert_eq!(client.0.calls(), 3, "max_attempts = 3");
    assert_eq!(client.0.fallbacks.load(Ordering::SeqCst), 1);
}

struct Busy(Scripted);

#[reliable(component = "recovery_retry_after", strategies = [network], max_attempts = 2, base_delay = "1ms")]
impl Busy {
    fn fetch(&self, name: &str) -> Result<String, FetchError> {
        self.0.next(name)
    }
}

#[test]
fn retry_after_is_honoured() {
    let _turn = serial();
    let _ = clock();
    let client = Busy(Scripted::new(vec![FetchError::Busy(Duration::from_secs(
        3,
    ))]));
    assert!(client.fetch("x").is_ok());
    let session = manager()
        .recovery_history()
        .into_iter()
        .rev()
        .find(|s| s.component == "recovery_retry_after")
        .unwrap();
    assert_eq!(session.steps[0].delay, Duration::from_secs(3));
}

struct Repairable(Scripted);

#[reliable(component = "recovery_repair", strategies = [repair, escalate], repair = clear_cache)]
impl Repairable {
    fn fetch(&self, name: &str) -> Result<String, FetchError> {
        self.0.next(name)
    }

    fn clear_cache(&self) {
        self.0.repairs.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_validation_error_is_repaired_then_retried() {
    let _turn = serial();
    let _ = clock();
    let client = Repairable(Scripted::new(vec![FetchError::Corrupt]));
    assert_eq!(client.fetch("vit"), Ok("model vit".to_owned()));
    assert_eq!(client.0.repairs.load(Ordering::SeqCst), 1);
    assert_eq!(client.0.calls(), 2);
    let session = manager()
        .recovery_history()
        .into_iter()
        .rev()
        .find(|s| s.component == "recovery_repair" && s.outcome == RecoveryOutcome::Recovered)
        .unwrap();
    assert_eq!(session.recovered_by, Some(Strategy::Repair));
    let targets: Vec<&str> = session.steps.iter().map(|s| s.target.as_str()).collect();
    assert_eq!(targets, ["clear_cache", "fetch"]);
}

#[test]
fn a_second_validation_error_escalates_and_flags_the_component() {
    let _turn = serial();
    let _ = clock();
    let client = Repairable(Scripted::new(vec![
        FetchError::Corrupt,
        FetchError::Corrupt,
    ]));
    assert_eq!(client.fetch("bad"), Err(FetchError::Corrupt));
    assert_eq!(
        client.0.repairs.load(Ordering::SeqCst),
        1,
        "one repair per call"
    );
    let health = manager().component_health("recovery_repair").unwrap();
    assert!(health.needs_attention);
    assert!(manager().acknowledge("recovery_repair"));
    assert!(
        !manager()
            .component_health("recovery_repair")
            .unwrap()
            .needs_attention
    );
    assert!(!manager().acknowledge("recovery_repair"));
}

struct Mirrors {
    primary: Scripted,
    mirror_a: Scripted,
    mirror_b: Scripted,
}

#[reliable(component = "recovery_alternatives", alternatives = [mirror_a, mirror_b], strategies = [alternatives, escalate])]
impl Mirrors {
    fn fetch(&self, name: &str) -> Result<String, FetchError> {
        self.primary.next(name)
    }

    fn mirror_a(&self, name: &str) -> Result<String, FetchError> {
        self.mirror_a.next(name).map(|m| format!("{m} from a"))
    }

    fn mirror_b(&self, name: &str) -> Result<String, FetchError> {
        self.mirror_b.next(name).map(|m| format!("{m} from b"))
    }
}

#[test]
fn alternatives_are_tried_in_order() {
    let _turn = serial();
    let _ = clock();
    let mirrors = Mirrors {
        primary: Scripted::new(vec![FetchError::Missing]),
        mirror_a: Scripted::new(vec![FetchError::Missing]),
        mirror_b: Scripted::new(vec![]),
    };
    assert_eq!(mirrors.fetch("clip"), Ok("model clip from b".to_owned()));
    assert_eq!(
        (
            mirrors.primary.calls(),
            mirrors.mirror_a.calls(),
            mirrors.mirror_b.calls()
        ),
        (1, 1, 1)
    );
}

struct Breaker(Scripted);

#[reliable(
    component = "recovery_circuit",
    strategies = [circuit_breaker],
    open_after = 2,
    cool_down = "30s"
)]
impl Breaker {
    fn fetch(&self, name: &str) -> Result<String, FetchError> {
        self.0.next(name)
    }
}

#[test]
fn the_circuit_opens_rejects_without_running_the_body_and_closes_again() {
    let _turn = serial();
    let clock = clock();
    let service = Breaker(Scripted::new(vec![
        FetchError::Reset,
        FetchError::Reset,
        FetchError::Reset,
    ]));
    let circuit = || {
        manager()
            .component_health("recovery_circuit")
            .unwrap()
            .circuit
    };
    assert_eq!(service.fetch("a"), Err(FetchError::Reset));
    assert_eq!(circuit(), Some(CircuitState::Closed));
    assert_eq!(service.fetch("a"), Err(FetchError::Reset));
    assert_eq!(circuit(), Some(CircuitState::Open));
    // Open: the body does not run; the error comes from `From<CircuitOpen>`.
    let rejected = service.fetch("a").unwrap_err();
    assert!(
        matches!(&rejected, FetchError::Open(text) if text.contains("recovery_circuit")),
        "{rejected:?}"
    );
    assert_eq!(service.0.calls(), 2);
    assert_eq!(method("recovery_circuit", "fetch").rejected, 1);
    // The refusal's step made no attempt, and says what refused the call.
    let refused = manager()
        .recovery_history()
        .into_iter()
        .rev()
        .find(|s| s.component == "recovery_circuit")
        .expect("the refusal's session");
    let step = refused.steps.first().expect("the refusal's step");
    assert_eq!(step.outcome, StepOutcome::Rejected);
    assert_eq!(step.attempt, None);
    assert_eq!(
        step.rejected_by,
        Some(reliability_core::limit::RejectReason::CircuitOpen)
    );
    // After the cool-down a probe runs; it fails, and the circuit opens again.
    clock.advance(Duration::from_secs(30));
    assert_eq!(service.fetch("a"), Err(FetchError::Reset));
    assert_eq!(service.0.calls(), 3);
    assert_eq!(circuit(), Some(CircuitState::Open));
    // The next probe succeeds and closes it.
    clock.advance(Duration::from_secs(30));
    assert_eq!(service.fetch("a"), Ok("model a".to_owned()));
    assert_eq!(circuit(), Some(CircuitState::Closed));
    assert_eq!(service.fetch("b"), Ok("model b".to_owned()));
    let snapshot = reliability_core::snapshot();
    assert_eq!(snapshot.component("recovery_circuit").unwrap().rejected, 1);
}

struct Overridden(Scripted);

#[reliable(component = "recovery_override", strategies = [retry], max_attempts = 5, base_delay = "1ms")]
impl Overridden {
    #[reliable(max_attempts = 2)]
    fn two_tries(&self) -> Result<String, FetchError> {
        self.0.next("two")
    }

    #[reliable(no_recovery)]
    fn once(&self) -> Result<String, FetchError> {
        self.0.next("once")
    }

    fn five_tries(&self) -> Result<String, FetchError> {
        self.0.next("five")
    }
}

#[test]
fn methods_override_the_impl_and_can_opt_out() {
    let _turn = serial();
    let _ = clock();
    let two = Overridden(Scripted::new(vec![FetchError::Reset; 10]));
    assert!(two.two_tries().is_err());
    assert_eq!(two.0.calls(), 2);
    let once = Overridden(Scripted::new(vec![FetchError::Reset; 10]));
    assert!(once.once().is_err());
    assert_eq!(once.0.calls(), 1);
    let five = Overridden(Scripted::new(vec![FetchError::Reset; 10]));
    assert!(five.five_tries().is_err());
    assert_eq!(five.0.calls(), 5);
}

struct AsyncClient(Scripted);

#[reliable(component = "recovery_async", strategies = [network, fallback], fallback = offline, base_delay = "1ms")]
impl AsyncClient {
    async fn fetch(&self, name: &str) -> Result<String, FetchError> {
        common::YieldOnce::default().await;
        self.0.next(name)
    }

    async fn offline(&self, name: &str) -> Result<String, FetchError> {
        Ok(format!("offline {name}"))
    }
}

#[test]
fn async_methods_recover_too() {
    let _turn = serial();
    let _ = clock();
    let client = AsyncClient(Scripted::new(vec![FetchError::Reset]));
    assert_eq!(block_on(client.fetch("m")), Ok("model m".to_owned()));
    assert_eq!(client.0.calls(), 2);
    let forbidden = AsyncClient(Scripted::new(vec![FetchError::Forbidden]));
    assert_eq!(block_on(forbidden.fetch("m")), Ok("offline m".to_owned()));
    assert_eq!(forbidden.0.calls(), 1);
}

#[test]
fn async_recovery_on_tokio() {
    let _turn = serial();
    let _ = clock();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = Arc::new(AsyncClient(Scripted::new(vec![
            FetchError::Reset,
            FetchError::Reset,
        ])));
        let task = {
            let client = Arc::clone(&client);
            tokio::spawn(async move { client.fetch("n").await })
        };
        assert_eq!(task.await.unwrap(), Ok("model n".to_owned()));
        assert_eq!(client.0.calls(), 3);
    });
}

/// Recovery re-runs methods that take `&mut self` and `&mut` arguments:
/// each attempt reborrows them.
struct Buffered {
    script: Scripted,
    fills: u32,
}

#[reliable(component = "recovery_mut", strategies = [retry], base_delay = "1ms")]
impl Buffered {
    fn fill(&mut self, buffer: &mut Vec<u8>, byte: u8) -> Result<usize, FetchError> {
        self.fills += 1;
        buffer.push(byte);
        self.script.next("x").map(|_| buffer.len())
    }

    async fn fill_later(&mut self, buffer: &mut Vec<u8>) -> Result<usize, FetchError> {
        common::YieldOnce::default().await;
        self.fills += 1;
        buffer.push(0);
        self.script.next("y").map(|_| buffer.len())
    }
}

#[test]
fn mutable_receivers_and_arguments_are_reborrowed_on_each_attempt() {
    let _turn = serial();
    let _ = clock();
    let mut buffered = Buffered {
        script: Scripted::new(vec![FetchError::Reset]),
        fills: 0,
    };
    let mut buffer = Vec::new();
    assert_eq!(buffered.fill(&mut buffer, 7), Ok(2));
    assert_eq!((buffered.fills, buffer), (2, vec![7, 7]));
    let mut later = Vec::new();
    let mut again = Buffered {
        script: Scripted::new(vec![FetchError::Reset]),
        fills: 0,
    };
    assert_eq!(block_on(again.fill_later(&mut later)), Ok(2));
    assert_eq!(again.fills, 2);
}

struct Gatekeeper(Scripted);

#[reliable(component = "recovery_circuit_permanent", strategies = [circuit_breaker], open_after = 2)]
impl Gatekeeper {
    fn fetch(&self, name: &str) -> Result<String, FetchError> {
        self.0.next(name)
    }
}

#[test]
fn permanent_errors_do_not_open_the_circuit() {
    let _turn = serial();
    let _ = clock();
    let service = Gatekeeper(Scripted::new(vec![FetchError::Forbidden; 5]));
    for _ in 0..5 {
        assert_eq!(service.fetch("x"), Err(FetchError::Forbidden));
    }
    assert_eq!(
        service.0.calls(),
        5,
        "every call ran: the service answers, with a 403"
    );
    let health = manager()
        .component_health("recovery_circuit_permanent")
        .unwrap();
    assert_eq!(health.circuit, Some(CircuitState::Closed));
}

struct Layered {
    primary: Scripted,
    mirror: Scripted,
}

#[reliable(component = "recovery_one_failure", alternatives = [mirror], fallback = cached)]
impl Layered {
    fn fetch(&self, name: &str) -> Result<String, FetchError> {
        self.primary.next(name)
    }

    fn mirror(&self, name: &str) -> Result<String, FetchError> {
        self.mirror.next(name)
    }

    fn cached(&self, _name: &str) -> Result<String, FetchError> {
        Err(FetchError::Missing)
    }
}

#[test]
fn a_call_whose_recovery_fails_counts_as_one_failure_in_a_row() {
    let _turn = serial();
    let _ = clock();
    let layered = Layered {
        primary: Scripted::new(vec![FetchError::Missing]),
        mirror: Scripted::new(vec![FetchError::Missing]),
    };
    assert!(layered.fetch("x").is_err());
    let health = manager().component_health("recovery_one_failure").unwrap();
    // fetch, mirror and cached each failed, but it was one call.
    assert_eq!(health.consecutive_failures, 1);
    assert_eq!(health.failures, 3);
}

struct Contended {
    primary: Scripted,
    mirror: Scripted,
}

#[reliable(component = "recovery_run_counted_when_recorded", alternatives = [mirror], fallback = cached)]
impl Contended {
    fn fetch(&self, name: &str) -> Result<String, FetchError> {
        self.primary.next(name)
    }

    fn mirror(&self, name: &str) -> Result<String, FetchError> {
        self.mirror.next(name)
    }

    fn cached(&self, _name: &str) -> Result<String, FetchError> {
        Err(FetchError::Missing)
    }

    #[reliable(no_recovery)]
    fn ping(&self, ok: bool) -> Result<(), FetchError> {
        if ok {
            Ok(())
        } else {
            Err(FetchError::Reset)
        }
    }
}

/// Other calls of the component land while one call is in recovery (here
/// from a listener, on the same thread, between the alternative and the
/// fallback): a success ends the run, a failure starts a new one, and the
/// recovering call adds one when it ends. Correcting the count after the
/// fact (taking the recovery's own steps back at the end) would have taken
/// the other call's failure back too.
#[test]
fn calls_made_during_a_recovery_keep_their_place_in_the_run_of_failures() {
    let _turn = serial();
    let _ = clock();
    let contended = Arc::new(Contended {
        primary: Scripted::new(vec![FetchError::Missing]),
        mirror: Scripted::new(vec![FetchError::Missing]),
    });
    let subscription = {
        let contended = Arc::clone(&contended);
        manager().subscribe(move |event| {
            if let reliability_core::ReliabilityEvent::RecoveryAttempt {
                component,
                strategy: Strategy::Fallback,
                ..
            } = event
            {
                if component == "recovery_run_counted_when_recorded" {
                    let _ = contended.ping(true);
                    let _ = contended.ping(false);
                }
            }
        })
    };
    assert!(contended.fetch("x").is_err());
    drop(subscription);
    let health = manager()
        .component_health("recovery_run_counted_when_recorded")
        .unwrap();
    // ping's failure, then fetch's: two in a row.
    assert_eq!(health.consecutive_failures, 2);
    assert_eq!(
        method("recovery_run_counted_when_recorded", "ping").calls,
        2
    );
}

struct OnlyFallback;

#[reliable(component = "recovery_stats_names", strategies = [fallback], fallback = spare)]
impl OnlyFallback {
    fn get(&self) -> Result<u8, FetchError> {
        Err(FetchError::Missing)
    }

    fn spare(&self) -> Result<u8, FetchError> {
        Ok(1)
    }
}

#[test]
fn strategy_figures_are_reported_under_their_own_name() {
    assert_eq!(OnlyFallback.get(), Ok(1));
    let snapshot = reliability_core::snapshot();
    let strategies = &snapshot
        .component("recovery_stats_names")
        .unwrap()
        .strategies;
    let named: Vec<_> = strategies
        .iter()
        .map(|s| (s.strategy, s.attempts, s.successes))
        .collect();
    assert_eq!(named, [(Strategy::Fallback, 1, 1)]);
}

struct Narrowed {
    spare_calls: AtomicU32,
}

#[reliable(component = "recovery_narrowed", strategies = [fallback], fallback = spare)]
impl Narrowed {
    fn get(&self) -> Result<u8, FetchError> {
        Err(FetchError::Missing)
    }

    /// Its own list leaves out the impl's fallback: it does not fall back.
    #[reliable(strategies = [retry], max_attempts = 2, base_delay = "0ms")]
    fn strict(&self) -> Result<u8, FetchError> {
        Err(FetchError::Reset)
    }

    fn spare(&self) -> Result<u8, FetchError> {
        self.spare_calls.fetch_add(1, Ordering::Relaxed);
        Ok(1)
    }
}

#[test]
fn a_method_list_narrows_the_chain_the_impl_names() {
    let narrowed = Narrowed {
        spare_calls: AtomicU32::new(0),
    };
    assert_eq!(narrowed.get(), Ok(1));
    assert_eq!(narrowed.strict(), Err(FetchError::Reset));
    assert_eq!(narrowed.spare_calls.load(Ordering::Relaxed), 1);
    assert_eq!(method("recovery_narrowed", "strict").attempts, 2);
}
