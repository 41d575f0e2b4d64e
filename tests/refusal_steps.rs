//! A call refused before its body ran records one session step, and that
//! step names what refused it (issue 12): `rate_limit` for the rate limit,
//! `bulkhead` for the bulkhead, `circuit_breaker` for an open circuit, each
//! beside the matching `rejected_by`. A call takes one token and one place
//! however its limits' fast and whole paths share the work, and a failed
//! call gives its place back. Each test has a component of its own.

mod common;

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use reliability_core::{
    limit::RejectReason, manager, recovery::RecoverySession, recovery::StepOutcome, reliable,
    BulkheadFull, CircuitOpen, RateLimited, Strategy,
};

#[derive(Debug)]
enum Error {
    Failed,
    Full,
    Limited,
    Open,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
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

impl From<CircuitOpen> for Error {
    fn from(_: CircuitOpen) -> Self {
        Error::Open
    }
}

/// The one session of `component`, which must have exactly one.
fn only_session(component: &str) -> RecoverySession {
    let mut sessions: Vec<_> = manager()
        .recovery_history()
        .into_iter()
        .filter(|s| s.component == component)
        .collect();
    assert_eq!(sessions.len(), 1, "sessions of {component}: {sessions:?}");
    sessions.remove(0)
}

struct Sender {
    sent: AtomicUsize,
}

#[reliable(component = "refusal_rate")]
impl Sender {
    // One token, refilled once a second: the second call at once is refused.
    #[reliable(rate_limit(per_second = 1, burst = 1))]
    fn send(&self) -> Result<u8, Error> {
        self.sent.fetch_add(1, SeqCst);
        Ok(1)
    }
}

#[test]
fn a_rate_limited_call_records_a_rate_limit_step() {
    let sender = Sender {
        sent: AtomicUsize::new(0),
    };
    assert!(sender.send().is_ok());
    assert!(matches!(sender.send(), Err(Error::Limited)));
    assert_eq!(sender.sent.load(SeqCst), 1, "the refused body did not run");
    let session = only_session("refusal_rate");
    assert_eq!(session.steps.len(), 1);
    let step = &session.steps[0];
    assert_eq!(step.outcome, StepOutcome::Rejected);
    assert_eq!(step.rejected_by, Some(RejectReason::RateLimited));
    assert_eq!(step.strategy, Strategy::RateLimit);
    assert_eq!(step.strategy.as_str(), "rate_limit");
}

struct Pool;

#[reliable(component = "refusal_bulkhead")]
impl Pool {
    // One place, no wait: a call made while another holds the place is
    // refused, on this one thread.
    #[reliable(bulkhead(max_concurrent = 1, max_wait = "0ms"))]
    fn outer(&self) -> Result<Result<u8, Error>, Error> {
        Ok(self.inner())
    }

    #[reliable(bulkhead(max_concurrent = 1, max_wait = "0ms"))]
    fn inner(&self) -> Result<u8, Error> {
        Ok(2)
    }
}

#[test]
fn a_call_refused_by_the_bulkhead_records_a_bulkhead_step() {
    let inner = Pool.outer().expect("the outer call holds the place");
    assert!(matches!(inner, Err(Error::Full)), "{inner:?}");
    let session = only_session("refusal_bulkhead");
    assert_eq!(session.method, "inner");
    assert_eq!(session.steps.len(), 1);
    let step = &session.steps[0];
    assert_eq!(step.outcome, StepOutcome::Rejected);
    assert_eq!(step.rejected_by, Some(RejectReason::BulkheadFull));
    assert_eq!(step.strategy, Strategy::Bulkhead);
    assert_eq!(step.strategy.as_str(), "bulkhead");
}

struct Gate;

#[reliable(component = "refusal_both")]
impl Gate {
    // Four tokens, one place. No clock is installed in this binary, so a
    // site's calls after its first take their token and place on the fast
    // paths, as soon as the clock is read.
    #[reliable(
        rate_limit(per_second = 1, burst = 4),
        bulkhead(max_concurrent = 1, max_wait = "0ms")
    )]
    fn outer(&self) -> Result<Result<u8, Error>, Error> {
        Ok(self.inner())
    }

    #[reliable(
        rate_limit(per_second = 1, burst = 4),
        bulkhead(max_concurrent = 1, max_wait = "0ms")
    )]
    fn inner(&self) -> Result<u8, Error> {
        Ok(3)
    }
}

#[test]
fn a_call_the_bulkhead_refuses_after_its_token_takes_no_second_token() {
    // Token 1, on the whole path (the site's first call).
    assert_eq!(Gate.inner().ok(), Some(3));
    // Token 2 for the outer call, which holds the place; token 3 for the
    // inner one, taken on the fast path before the bulkhead refuses it.
    let inner = Gate.outer().expect("the outer call holds the place");
    assert!(matches!(inner, Err(Error::Full)), "{inner:?}");
    // Token 4 is left (had the refusal taken another, none would be: the
    // bucket only refills a second later).
    assert_eq!(Gate.inner().ok(), Some(3));
    assert_inner_refused_by_the_bulkhead("refusal_both");
}

/// The one session of `component` is the inner call's, which the bulkhead
/// refused.
fn assert_inner_refused_by_the_bulkhead(component: &str) {
    let session = only_session(component);
    assert_eq!(session.method, "inner");
    assert_eq!(
        session.steps[0].rejected_by,
        Some(RejectReason::BulkheadFull)
    );
}

struct AsyncGate;

#[reliable(component = "refusal_both_async")]
impl AsyncGate {
    #[reliable(
        rate_limit(per_second = 1, burst = 4),
        bulkhead(max_concurrent = 1, max_wait = "0ms")
    )]
    async fn outer(&self) -> Result<Result<u8, Error>, Error> {
        Ok(self.inner().await)
    }

    #[reliable(
        rate_limit(per_second = 1, burst = 4),
        bulkhead(max_concurrent = 1, max_wait = "0ms")
    )]
    async fn inner(&self) -> Result<u8, Error> {
        Ok(4)
    }
}

#[test]
fn an_async_call_the_bulkhead_refuses_after_its_token_takes_no_second_token() {
    assert_eq!(common::block_on(AsyncGate.inner()).ok(), Some(4));
    let inner = common::block_on(AsyncGate.outer()).expect("the outer call holds the place");
    assert!(matches!(inner, Err(Error::Full)), "{inner:?}");
    assert_eq!(common::block_on(AsyncGate.inner()).ok(), Some(4));
    assert_inner_refused_by_the_bulkhead("refusal_both_async");
}

struct Failing;

#[reliable(component = "refusal_failed_place")]
impl Failing {
    // One place: a failed call that escalates must give it back, or the
    // next call is refused.
    #[reliable(
        bulkhead(max_concurrent = 1, max_wait = "0ms"),
        strategies = [escalate]
    )]
    fn fail(&self) -> Result<u8, Error> {
        Err(Error::Failed)
    }
}

#[test]
fn a_failed_call_behind_a_bulkhead_gives_its_place_back() {
    for _ in 0..3 {
        let failed = Failing.fail();
        assert!(matches!(failed, Err(Error::Failed)), "{failed:?}");
    }
    let snapshot = reliability_core::snapshot();
    let component = snapshot.component("refusal_failed_place").unwrap();
    assert_eq!(component.in_flight, 0);
    assert_eq!(component.method("fail").unwrap().rejected, 0);
}

struct Flaky;

#[reliable(component = "refusal_circuit")]
impl Flaky {
    // Opens after one failure; the next call is refused by the circuit.
    #[reliable(strategies = [circuit_breaker], open_after = 1, cool_down = "1h")]
    fn get(&self) -> Result<u8, Error> {
        Err(Error::Failed)
    }
}

#[test]
fn a_call_refused_by_an_open_circuit_still_records_a_circuit_breaker_step() {
    assert!(matches!(Flaky.get(), Err(Error::Failed)));
    assert!(matches!(Flaky.get(), Err(Error::Open)));
    let refused: Vec<_> = manager()
        .recovery_history()
        .into_iter()
        .filter(|s| s.component == "refusal_circuit")
        .flat_map(|s| s.steps)
        .filter(|step| step.outcome == StepOutcome::Rejected)
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].rejected_by, Some(RejectReason::CircuitOpen));
    assert_eq!(refused[0].strategy, Strategy::CircuitBreaker);
}
