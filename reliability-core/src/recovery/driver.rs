//! The recovery driver: runs the chain circuit check → attempt → repair →
//! retries → alternatives → fallback → escalate for one call.
//!
//! The driver is a state machine that never runs user code itself: it says
//! which operation comes next, and the loop the attribute writes into the
//! method (see [`Recovery`]) performs it (calls the body, the repair method,
//! an alternative or the fallback) and reports back. Sync and async calls
//! therefore share every decision.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::classify::probe::CategorySource;
use crate::classify::{Classification, ErrorCategory};
use crate::record::call::{Call, Observed};
use crate::record::clock::Clock;
use crate::record::outcome::ErrorRef;
use crate::record::registry::{registry, Recovering};
use crate::record::site::CallSite;
use crate::recovery::bulkhead::BulkheadPermit;
use crate::recovery::circuit::{CircuitBreaker, CircuitState, Permit};
use crate::recovery::history::{RecoveryOutcome, RecoverySession, RecoveryStep, StepOutcome};
use crate::recovery::limits::{Limits, Refused, RejectReason};
use crate::recovery::plan::{select_strategy, RecoveryContext, RecoveryPlan};
use crate::recovery::strategy::{RecoveryMeta, Strategy, StrategyConfig};
use crate::runtime::component::ComponentState;
use crate::runtime::events::ReliabilityEvent;
use crate::runtime::registry::runtime;

/// An operation the expansion's loop performs for the driver.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Run the method's body (again).
    Attempt,
    /// Call the repair method.
    Repair,
    /// Call the alternative at this index.
    Alternative(u32),
    /// Call the fallback.
    Fallback,
    /// Build the error that an open circuit returns.
    Reject,
}

/// Whether a value stands for success; for a failure, its text and category.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct Verdict(pub(super) Option<Failure>);

#[derive(Debug, Clone)]
pub(super) struct Failure {
    pub(super) text: String,
    pub(super) category: ErrorCategory,
    pub(super) retry_after: Option<Duration>,
}

impl Verdict {
    /// A success.
    pub const SUCCESS: Verdict = Verdict(None);

    #[inline]
    fn is_success(&self) -> bool {
        self.0.is_none()
    }

    fn observed(&self) -> Observed<'_> {
        match &self.0 {
            None => Observed::Success,
            Some(failure) => {
                Observed::Failure(ErrorRef::Display(&failure.text), Some(failure.category))
            }
        }
    }
}

/// Turns what the expansion's probes found into a verdict.
#[doc(hidden)]
#[inline]
pub fn judge(observed: Observed<'_>, source: Option<CategorySource<'_>>) -> Verdict {
    match observed {
        Observed::Success => Verdict(None),
        Observed::Failure(error, _) => judge_failure(error, source),
    }
}

#[cold]
#[inline(never)]
fn judge_failure(error: ErrorRef<'_>, source: Option<CategorySource<'_>>) -> Verdict {
    {
        {
            let classification = source.map_or(
                Classification {
                    category: ErrorCategory::Unknown,
                    retry_after: None,
                },
                CategorySource::resolve,
            );
            Verdict(Some(Failure {
                text: registry().error_text().of(error),
                category: classification.category,
                retry_after: classification.retry_after,
            }))
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Next {
    Run(Op),
    Wait(Duration),
    Done,
}

/// The step whose result the driver waits for.
struct Pending {
    strategy: Option<Strategy>,
    target: &'static str,
    delay: Duration,
    began: Instant,
}

pub(super) struct Driver {
    site: &'static CallSite,
    component: &'static ComponentState,
    recovery: &'static RecoveryMeta,
    clock: Arc<dyn Clock>,
    pub(super) started: Instant,
    started_at: SystemTime,
    pub(super) context: RecoveryContext,
    permit: Permit,
    pending: Pending,
    last_failure: Option<Failure>,
    session: Option<RecoverySession>,
    /// Set when the next value is the last: how the session ends.
    ending: Option<RecoveryOutcome>,
    /// Whether an operation has produced a value for the caller yet.
    has_value: bool,
    /// A half-open probe was granted and its outcome not yet recorded.
    probe_outstanding: bool,
    /// What refused the call, for a `Rejected` step.
    rejected_by: RejectReason,
}

impl Driver {
    pub(super) fn new(site: &'static CallSite, recovery: &'static RecoveryMeta) -> Self {
        let component = runtime().state_of(site.component());
        let clock = component.env().policy.clock();
        let now = clock.now();
        Driver {
            site,
            component,
            recovery,
            clock,
            started: now,
            started_at: SystemTime::now(),
            context: RecoveryContext::new(),
            permit: Permit::Normal,
            pending: Pending {
                strategy: None,
                target: site.meta().method,
                delay: Duration::ZERO,
                began: now,
            },
            last_failure: None,
            session: None,
            ending: None,
            has_value: false,
            probe_outstanding: false,
            rejected_by: RejectReason::CircuitOpen,
        }
    }

    fn config(&self) -> &'static StrategyConfig {
        &self.recovery.config
    }

    fn has_circuit(&self) -> bool {
        self.config()
            .strategies()
            .contains(Strategy::CircuitBreaker)
    }

    /// Asks the circuit for permission to run the body; plans around a refusal.
    fn admit(&mut self, strategy: Option<Strategy>, delay: Duration) -> Next {
        let now = self.clock.now();
        self.pending = Pending {
            strategy,
            target: self.site.meta().method,
            delay,
            began: now,
        };
        if strategy.is_some() {
            self.site.record_retry();
        }
        if !self.has_circuit() {
            return Next::Run(Op::Attempt);
        }
        let breaker = self.component.breaker(&self.config().circuit());
        let (permit, change) = breaker.acquire(now);
        if let Some(state) = change {
            self.component.circuit_changed(state);
        }
        self.permit = permit;
        self.probe_outstanding = permit == Permit::Probe;
        if permit != Permit::Rejected {
            return Next::Run(Op::Attempt);
        }
        self.rejected_by = RejectReason::CircuitOpen;
        self.site.record_rejected();
        self.component
            .env()
            .emit(|| ReliabilityEvent::CallRejected {
                component: self.site.meta().component.to_owned(),
                instance: self.component.instance_owned(),
                method: self.site.meta().method.to_owned(),
                reason: RejectReason::CircuitOpen,
            });
        let failure = self.last_failure.clone().unwrap_or(Failure {
            text: "circuit open: the call was not made".into(),
            // As `CircuitOpen` classifies itself: unavailable for now.
            category: ErrorCategory::ResourceExhausted,
            retry_after: None,
        });
        self.open_session(&failure);
        self.push_step(
            Strategy::CircuitBreaker,
            self.site.meta().method,
            StepOutcome::Rejected,
            None,
            now,
        );
        self.last_failure = Some(failure);
        self.plan()
    }

    /// The rate limit or the bulkhead refused the call before it ran: the
    /// fallback, if there is one, else the refusal as the caller's error.
    /// Never a retry: it would run the body without what refused it.
    pub(super) fn refused(&mut self, reason: RejectReason, text: String) -> Next {
        let now = self.clock.now();
        self.rejected_by = reason;
        self.site.record_rejected();
        self.component
            .count_limit(self.site.meta().method, |counts| match reason {
                RejectReason::RateLimited => counts.rejected_rate_limit += 1,
                _ => counts.rejected_bulkhead += 1,
            });
        let meta = self.site.meta();
        self.component
            .env()
            .emit(|| ReliabilityEvent::CallRejected {
                component: meta.component.to_owned(),
                instance: self.component.instance_owned(),
                method: meta.method.to_owned(),
                reason,
            });
        let failure = Failure {
            text,
            category: ErrorCategory::ResourceExhausted,
            retry_after: None,
        };
        self.open_session(&failure);
        self.push_step(
            Strategy::CircuitBreaker,
            meta.method,
            StepOutcome::Rejected,
            None,
            now,
        );
        self.last_failure = Some(failure);
        if self.config().strategies().contains(Strategy::Fallback) {
            self.announce(Strategy::Fallback, 0, Duration::ZERO);
            self.context.note_fallback();
            self.pending = Pending {
                strategy: Some(Strategy::Fallback),
                target: self.recovery.fallback.unwrap_or("fallback"),
                delay: Duration::ZERO,
                began: now,
            };
            return Next::Run(Op::Fallback);
        }
        self.ending = Some(RecoveryOutcome::Failed);
        self.pending.strategy = None;
        Next::Run(Op::Reject)
    }

    fn open_session(&mut self, failure: &Failure) {
        if self.session.is_none() {
            let meta = self.site.meta();
            self.component
                .env()
                .emit(|| ReliabilityEvent::RecoveryStarted {
                    component: meta.component.to_owned(),
                    instance: self.component.instance_owned(),
                    method: meta.method.to_owned(),
                    category: failure.category,
                });
            self.session = Some(RecoverySession {
                id: 0,
                component: meta.component.to_owned(),
                instance: self.component.instance_owned(),
                method: meta.method.to_owned(),
                category: failure.category,
                error: failure.text.clone(),
                steps: Vec::new(),
                outcome: RecoveryOutcome::Failed,
                recovered_by: None,
                started_at: self.started_at,
                duration: Duration::ZERO,
            });
        }
    }

    fn push_step(
        &mut self,
        strategy: Strategy,
        target: &str,
        outcome: StepOutcome,
        error: Option<&Failure>,
        began: Instant,
    ) {
        let now = self.clock.now();
        let attempt = self.context.attempts();
        let delay = self.pending.delay;
        if let Some(session) = &mut self.session {
            let rejected = outcome == StepOutcome::Rejected;
            session.steps.push(RecoveryStep {
                strategy,
                target: target.to_owned(),
                attempt: (!rejected).then_some(attempt),
                rejected_by: rejected.then_some(self.rejected_by),
                delay: if outcome == StepOutcome::Rejected {
                    Duration::ZERO
                } else {
                    delay
                },
                outcome,
                duration: now.saturating_duration_since(began),
                error: error.map(|f| f.text.clone()),
            });
        }
    }

    /// The value of the pending step arrived.
    pub(super) fn after_value(&mut self, op: Op, verdict: &Verdict) -> Next {
        let now = self.clock.now();
        let success = verdict.is_success();
        self.has_value = true;
        if op == Op::Attempt && self.has_circuit() {
            let breaker = self.component.breaker(&self.config().circuit());
            self.probe_outstanding = false;
            // A permanent error (a 403, a missing model) says nothing about
            // the component being down: it answered. It does not count
            // toward opening the circuit, and it passes a probe.
            let answered = verdict.0.as_ref().is_none_or(|f| f.category.is_permanent());
            if let Some(state) = breaker.record(self.permit, answered, now) {
                self.component.circuit_changed(state);
            }
        }
        if let Some(failure) = &verdict.0 {
            self.component.record().record_category(failure.category);
            self.open_session(failure);
        }
        if let Some(strategy) = self.pending.strategy {
            self.component.record_strategy(strategy, success);
            let target = self.pending.target;
            self.push_step(
                strategy,
                target,
                StepOutcome::of(success),
                verdict.0.as_ref(),
                self.pending.began,
            );
        }
        if let Some(ending) = self.ending {
            self.end(if success {
                RecoveryOutcome::Recovered
            } else {
                ending
            });
            return Next::Done;
        }
        match &verdict.0 {
            None => {
                self.end(RecoveryOutcome::Recovered);
                Next::Done
            }
            Some(failure) => {
                self.last_failure = Some(failure.clone());
                self.plan()
            }
        }
    }

    /// The backoff before a retry is over: the retry still has to pass the circuit.
    fn after_wait(&mut self, delay: Duration) -> Next {
        let strategy = self.pending.strategy;
        self.admit(strategy, delay)
    }

    /// The repair method returned.
    fn after_repair(&mut self, verdict: &Verdict) -> Next {
        let success = verdict.is_success();
        self.context.note_repaired();
        let target = self.pending.target;
        self.push_step(
            Strategy::Repair,
            target,
            StepOutcome::of(success),
            verdict.0.as_ref(),
            self.pending.began,
        );
        if !success {
            self.component.record_strategy(Strategy::Repair, false);
            return self.plan();
        }
        // The re-run's outcome is what the repair is judged by.
        self.context.note_attempt();
        self.admit(Some(Strategy::Repair), Duration::ZERO)
    }

    /// Decides what follows the last failure.
    fn plan(&mut self) -> Next {
        let Some(failure) = self.last_failure.clone() else {
            return Next::Done;
        };
        let now = self.clock.now();
        let policy = &self.component.env().policy;
        let health = self.component.quick_health(now);
        let circuit = if self.permit == Permit::Rejected {
            CircuitState::Open
        } else if self.has_circuit() {
            self.component.breaker(&self.config().circuit()).state()
        } else {
            CircuitState::Closed
        };
        let budget = self
            .recovery
            .budget
            .unwrap_or_else(|| policy.retry_budget());
        let budget_available = self.component.retry_budget_available(&budget, now);
        self.context.set_observation(
            now.saturating_duration_since(self.started),
            failure.retry_after,
            budget_available,
            circuit,
            self.component.failing_strategies(),
            policy.jitter_sample(),
        );
        let plan = select_strategy(failure.category, &health, &self.context, self.config());
        if !budget_available && !matches!(plan, RecoveryPlan::Retry { .. }) {
            // Would a retry have followed, had the budget allowed it?
            let unlimited = self.context.with_budget_available(true);
            let wanted = select_strategy(failure.category, &health, &unlimited, self.config());
            if matches!(wanted, RecoveryPlan::Retry { .. }) {
                self.component.record_budget_exhausted();
            }
        }
        match plan {
            RecoveryPlan::Retry { strategy, delay } => {
                self.component.withdraw_retry(&budget, now);
                self.announce(strategy, self.context.attempts() + 1, delay);
                self.context.note_attempt();
                self.pending = Pending {
                    strategy: Some(strategy),
                    target: self.site.meta().method,
                    delay,
                    began: now,
                };
                Next::Wait(delay)
            }
            RecoveryPlan::Repair => {
                let target = self.recovery.repair.unwrap_or("repair");
                self.run_step(Strategy::Repair, target, Op::Repair, now)
            }
            RecoveryPlan::Alternative { index } => {
                self.context.note_alternative();
                let target = self.recovery.alternatives.get(index as usize);
                let target = target.copied().unwrap_or("alternative");
                self.run_step(Strategy::Alternatives, target, Op::Alternative(index), now)
            }
            RecoveryPlan::Fallback => {
                self.context.note_fallback();
                let target = self.recovery.fallback.unwrap_or("fallback");
                self.run_step(Strategy::Fallback, target, Op::Fallback, now)
            }
            RecoveryPlan::Escalate | RecoveryPlan::GiveUp => {
                let escalate = self.config().strategies().contains(Strategy::Escalate);
                let outcome = if escalate {
                    RecoveryOutcome::Escalated
                } else {
                    RecoveryOutcome::Failed
                };
                if escalate {
                    self.push_step(
                        Strategy::Escalate,
                        self.site.meta().component,
                        StepOutcome::Failed,
                        Some(&failure),
                        now,
                    );
                }
                if !self.has_value {
                    // Nothing ran: the caller still needs an error value.
                    self.ending = Some(outcome);
                    self.pending.strategy = None;
                    return Next::Run(Op::Reject);
                }
                self.end(outcome);
                Next::Done
            }
        }
    }

    /// An async backoff found no timer to wait on: the pending retry is
    /// recorded as failed with the reason, and the recovery ends.
    fn no_timer(&mut self) -> Next {
        let failure = Failure {
            text: "no timer thread could be started: async recovery cannot back off".into(),
            category: ErrorCategory::System,
            retry_after: None,
        };
        if let Some(strategy) = self.pending.strategy {
            let (target, began) = (self.pending.target, self.pending.began);
            self.push_step(strategy, target, StepOutcome::Failed, Some(&failure), began);
        }
        self.end(RecoveryOutcome::Failed);
        Next::Done
    }

    /// The next step calls another method (the repair method, an
    /// alternative, the fallback): announced, then awaited as pending.
    fn run_step(&mut self, strategy: Strategy, target: &'static str, op: Op, now: Instant) -> Next {
        self.announce(strategy, self.context.attempts(), Duration::ZERO);
        self.pending = Pending {
            strategy: Some(strategy),
            target,
            delay: Duration::ZERO,
            began: now,
        };
        Next::Run(op)
    }

    fn announce(&self, strategy: Strategy, attempt: u32, delay: Duration) {
        let meta = self.site.meta();
        self.component
            .env()
            .emit(|| ReliabilityEvent::RecoveryAttempt {
                component: meta.component.to_owned(),
                instance: self.component.instance_owned(),
                method: meta.method.to_owned(),
                strategy,
                attempt,
                delay,
            });
    }

    fn end(&mut self, outcome: RecoveryOutcome) {
        let Some(mut session) = self.session.take() else {
            return;
        };
        session.outcome = outcome;
        session.recovered_by = match outcome {
            RecoveryOutcome::Recovered => self.pending.strategy,
            _ => None,
        };
        session.duration = self.clock.now().saturating_duration_since(self.started);
        self.component.finish_session(session);
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // A probe that never reported (the call panicked or was dropped)
        // counts as a failed probe, so the circuit does not stay half open.
        if self.probe_outstanding {
            let breaker = self.component.breaker(&self.config().circuit());
            breaker.record(Permit::Probe, false, self.clock.now());
        }
    }
}

/// One call's recovery, driven by a loop in the method's own body:
///
/// ```text
/// let call = start!(…);                          // the call site and the timed call
/// let mut recovery = Recovery::new(&call);
/// while recovery.running() {                     // `.running_async().await` in an async fn
///     let value = match recovery.op() {
///         Op::Attempt => /* the body */,
///         Op::Repair => { recovery.repaired(judge!(repair_value)); continue }
///         Op::Alternative(0) => /* an alternative */,
///         Op::Fallback => /* the fallback */,
///         _ => reject(component),                // an open circuit's error
///     };
///     recovery.report(judge!(value), value);
/// }
/// recovery.finish(call)
/// ```
///
/// The loop is in the method itself, not in a closure, so the body can use
/// `&mut self` on every attempt and an async method's future stays `Send`.
///
/// Recovery costs nothing until an attempt fails: the first attempt runs
/// like a method without recovery (with a circuit breaker, after one check
/// that it is closed). The driver, its clock readings and the recovery
/// session are made only when the first attempt fails, or when the circuit
/// is not closed.
#[doc(hidden)]
pub struct Recovery<R> {
    pub(super) site: &'static CallSite,
    pub(super) recovery: &'static RecoveryMeta,
    /// When the call started, in call-clock ticks: what the first attempt took
    /// counts toward `max_elapsed` once a driver is made.
    pub(super) call_start: u64,
    pub(super) driver: Option<Box<Driver>>,
    pub(super) next: Next,
    last: Option<(R, Verdict)>,
    /// The bulkhead place this call holds until it ends (dropped with the
    /// recovery: on return, panic or cancellation alike).
    pub(super) permit: Option<BulkheadPermit<'static>>,
    /// What refused the call, when the next operation is `Reject`.
    pub(super) refused: Refused,
    /// The value reported next is a timed-out attempt's.
    pub(super) timed_out: bool,
}

impl<R> std::fmt::Debug for Recovery<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recovery")
            .field("site", self.site)
            .field("driving", &self.driver.is_some())
            .finish_non_exhaustive()
    }
}

/// The recovery of a call site whose attribute configured none: no strategy.
static NO_RECOVERY: RecoveryMeta = RecoveryMeta {
    config: StrategyConfig::new(),
    repair: None,
    alternatives: &[],
    fallback: None,
    budget: None,
    limits: Limits::new(),
};

impl<R> Recovery<R> {
    /// Starts a call's recovery. Without a circuit breaker, or with a closed
    /// one (one load of its state), the first attempt runs on the plain
    /// path; an open or half-open circuit makes the driver at once, which
    /// grants a probe or refuses the call.
    #[inline]
    pub fn new(call: &Call) -> Self {
        let mut this = Recovery::unchecked(call);
        this.check_circuit();
        this
    }

    /// The recovery before any check of the circuit or the limits.
    #[inline]
    pub(super) fn unchecked(call: &Call) -> Self {
        let site = call.site();
        Recovery {
            site,
            recovery: site.meta().recovery.unwrap_or(&NO_RECOVERY),
            call_start: call.started(),
            driver: None,
            next: Next::Run(Op::Attempt),
            last: None,
            permit: None,
            refused: Refused::CircuitOpen,
            timed_out: false,
        }
    }

    /// An open or half-open circuit makes the driver, which grants a probe
    /// or refuses the call.
    #[inline]
    pub(super) fn check_circuit(&mut self) {
        if self.has_circuit() && !self.circuit_closed() {
            self.drive_from_the_start();
        }
    }

    fn has_circuit(&self) -> bool {
        self.recovery
            .config
            .strategies()
            .contains(Strategy::CircuitBreaker)
    }

    /// Runs a step of this call's recovery that calls another method of the
    /// component (the repair method, an alternative, the fallback): its
    /// failure is that method's, not another failure in a row of the
    /// component, which counts this call once, when it ends.
    #[inline]
    pub fn step<T>(&self, call: impl FnOnce() -> T) -> T {
        self.site.component().recovering(call)
    }

    /// [`step`](Self::step) for an async method's future.
    #[inline]
    pub fn step_async<F: std::future::Future>(&self, future: F) -> Recovering<F> {
        self.site.component().recovering_future(future)
    }

    #[inline]
    fn circuit_closed(&self) -> bool {
        self.breaker().state() == CircuitState::Closed
    }

    /// The component's breaker, through the site's slot: a load once it is set.
    #[inline]
    fn breaker(&self) -> &'static CircuitBreaker {
        match self.site.breaker_slot().get() {
            Some(breaker) => breaker,
            None => self.find_breaker(),
        }
    }

    #[cold]
    #[inline(never)]
    fn find_breaker(&self) -> &'static CircuitBreaker {
        let (site, config) = (self.site, self.recovery.config.circuit());
        site.breaker_slot()
            .get_or_init(|| runtime().state_of(site.component()).breaker(&config))
    }

    #[cold]
    #[inline(never)]
    fn drive_from_the_start(&mut self) {
        let mut driver = Box::new(Driver::new(self.site, self.recovery));
        self.next = driver.admit(None, Duration::ZERO);
        self.driver = Some(driver);
    }

    /// The first attempt failed: the driver takes over from here, as if it
    /// had admitted that attempt.
    #[cold]
    #[inline(never)]
    pub(super) fn drive_after_failure(&mut self, verdict: &Verdict) -> Next {
        let mut driver = Box::new(Driver::new(self.site, self.recovery));
        let took = Duration::from_nanos(crate::record::clock::nanos_since(self.call_start));
        driver.started = driver.started.checked_sub(took).unwrap_or(driver.started);
        let next = driver.after_value(Op::Attempt, verdict);
        self.driver = Some(driver);
        next
    }

    /// A first attempt that succeeded with the circuit closed: counted by
    /// the circuit without reading the clock (it is read only if this
    /// success still leaves the failure rate over the limit).
    fn circuit_success(&self) {
        let component = || runtime().state_of(self.site.component());
        let now = || component().env().policy.clock().now();
        if let Some(state) = self.breaker().record_normal_success(now) {
            component().circuit_changed(state);
        }
    }

    /// Whether an operation is to be performed, after sleeping out any backoff.
    pub fn running(&mut self) -> bool {
        loop {
            match (self.next, &mut self.driver) {
                (Next::Run(_), _) => return true,
                (Next::Wait(delay), Some(driver)) => {
                    driver.clock.sleep(delay);
                    self.next = driver.after_wait(delay);
                }
                _ => return false,
            }
        }
    }

    /// Whether an operation is to be performed, waiting out any backoff
    /// without blocking the thread.
    pub async fn running_async(&mut self) -> bool {
        loop {
            match (self.next, &mut self.driver) {
                (Next::Run(_), _) => return true,
                (Next::Wait(delay), Some(driver)) => {
                    let wait = driver.clock.delay(delay);
                    if wait.is_unavailable() {
                        // Retrying at once would hammer the component, and
                        // waiting would never end: the recovery fails.
                        self.next = driver.no_timer();
                        continue;
                    }
                    wait.await;
                    self.next = driver.after_wait(delay);
                }
                _ => return false,
            }
        }
    }

    /// The operation to perform, while [`running`](Self::running).
    #[inline]
    pub fn op(&self) -> Op {
        match self.next {
            Next::Run(op) => op,
            _ => Op::Reject,
        }
    }

    /// The value the operation produced, and how it went.
    #[inline]
    pub fn report(&mut self, mut verdict: Verdict, value: R) {
        if self.timed_out {
            self.timed_out = false;
            if let Some(failure) = &mut verdict.0 {
                failure.category = ErrorCategory::Timeout;
            }
        }
        let op = self.op();
        self.next = match &mut self.driver {
            Some(driver) => driver.after_value(op, &verdict),
            None if verdict.is_success() => {
                if self.has_circuit() {
                    self.circuit_success();
                }
                Next::Done
            }
            None => self.drive_after_failure(&verdict),
        };
        self.last = Some((value, verdict));
    }

    /// How the repair method went.
    pub fn repaired(&mut self, verdict: Verdict) {
        self.next = match &mut self.driver {
            Some(driver) => driver.after_repair(&verdict),
            None => Next::Done,
        };
    }

    /// The value for the caller, with the call reported as it ended.
    ///
    /// Takes `&mut self`, not `self`: moving the whole recovery into this
    /// call cost a `memmove` per call (measured: 30 % of a success with
    /// the full strategy list).
    #[inline]
    pub fn finish(&mut self, call: Call) -> R {
        match self.last.take() {
            Some((value, verdict)) => {
                call.finish(verdict.observed());
                value
            }
            // The driver ends only after a value: the first operation always
            // produces one (an attempt, the fallback, or the rejection).
            None => unreachable!("reliability: recovery ended without a value"),
        }
    }
}

/// A method argument that recovery passes again on each attempt.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` must be `Clone`: recovery passes this argument again on every retry, alternative and fallback",
    label = "not `Clone`",
    note = "add `#[reliable(no_recovery)]` to the method to keep the instrumentation without recovery"
)]
pub trait RerunArgument {
    /// A copy for the next attempt.
    fn again(&self) -> Self;
}

impl<T: Clone> RerunArgument for T {
    #[inline(always)]
    fn again(&self) -> Self {
        self.clone()
    }
}

/// The argument again, for another attempt.
#[doc(hidden)]
#[inline(always)]
pub fn rerun_arg<T: RerunArgument>(value: &T) -> T {
    value.again()
}

/// A `Result` whose error an open circuit can produce.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`circuit_breaker` without a `fallback` needs the error type to implement `From<reliability_core::CircuitOpen>`",
    label = "an open circuit returns an error built from `CircuitOpen`",
    note = "add a variant holding `CircuitOpen` with a `From` impl, or configure a `fallback`"
)]
pub trait Rejectable {
    /// The value an open circuit returns.
    fn rejected(component: &'static str) -> Self;
}

impl<T, E: From<crate::classify::refused::CircuitOpen>> Rejectable for Result<T, E> {
    fn rejected(component: &'static str) -> Self {
        Err(E::from(crate::classify::refused::CircuitOpen::new(
            component,
        )))
    }
}

/// The error an open circuit returns for `component`.
#[doc(hidden)]
pub fn reject<R: Rejectable>(component: &'static str) -> R {
    R::rejected(component)
}
