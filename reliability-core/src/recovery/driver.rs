//! The recovery driver: runs the chain circuit check → attempt → repair →
//! retries → alternatives → fallback → escalate for one call.
//!
//! The driver is a state machine that never runs user code itself: it says
//! which operation comes next, and the loop the attribute writes into the
//! method (see [`Recovery`]) performs it (calls the body, the repair method,
//! an alternative or the fallback) and reports back. Sync and async calls
//! therefore share every decision.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::classify::ErrorCategory;
use crate::health::HealthStatus;
use crate::record::call::Call;
use crate::record::clock::Clock;
use crate::record::registry::Recovering;
use crate::record::site::CallSite;
use crate::recovery::bulkhead::BulkheadPermit;
use crate::recovery::circuit::{CircuitBreaker, CircuitState, Permit};
use crate::recovery::history::{RecoveryOutcome, RecoverySession, RecoveryStep, StepOutcome};
use crate::recovery::limits::{Limits, Refused, RejectReason};
use crate::recovery::plan::{select, RecoveryContext, RecoveryPlan};
use crate::recovery::strategy::{RecoveryMeta, Strategy, StrategyConfig, StrategySet};
use crate::runtime::component::ComponentState;
use crate::runtime::events::ReliabilityEvent;
use crate::runtime::registry::runtime;

pub(super) use crate::recovery::verdict::Failure;
pub use crate::recovery::verdict::{judge, Verdict};

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
    /// Nothing more: the recovery ended without another value, and the
    /// last one is the caller's ([`Recovery::ended`]).
    End,
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
    /// A driver whose call started `took` before now; also returns now, on
    /// the component's clock (the one reading of the step that makes it).
    pub(super) fn new(
        site: &'static CallSite,
        recovery: &'static RecoveryMeta,
        took: Duration,
    ) -> (Self, Instant) {
        let component = runtime().state_of(site.component());
        let clock = component.env().policy.clock();
        let now = clock.now();
        let driver = Driver {
            site,
            component,
            recovery,
            clock,
            started: now.checked_sub(took).unwrap_or(now),
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
        };
        (driver, now)
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
    pub(super) fn admit(
        &mut self,
        strategy: Option<Strategy>,
        delay: Duration,
        now: Instant,
    ) -> Next {
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
        self.open_session(&failure, now);
        self.push_step(
            Strategy::CircuitBreaker,
            self.site.meta().method,
            StepOutcome::Rejected,
            None,
            now,
            now,
        );
        self.last_failure = Some(failure);
        self.plan(now)
    }

    /// The rate limit or the bulkhead refused the call before it ran: the
    /// fallback, if there is one, else the refusal as the caller's error.
    /// Never a retry: it would run the body without what refused it.
    pub(super) fn refused(&mut self, reason: RejectReason, text: String, now: Instant) -> Next {
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
        self.open_session(&failure, now);
        let refused_by = match reason {
            RejectReason::RateLimited => Strategy::RateLimit,
            RejectReason::BulkheadFull => Strategy::Bulkhead,
            _ => Strategy::CircuitBreaker,
        };
        self.push_step(
            refused_by,
            meta.method,
            StepOutcome::Rejected,
            None,
            now,
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

    /// The session starts with the first failure; its wall-clock start is
    /// read here, once, and set back to when the call began.
    fn open_session(&mut self, failure: &Failure, now: Instant) {
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
            let wall = SystemTime::now();
            let started_at = wall
                .checked_sub(now.saturating_duration_since(self.started))
                .unwrap_or(wall);
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
                started_at,
                duration: Duration::ZERO,
            });
        }
    }

    /// A step that began at `began` and ended at `now`.
    fn push_step(
        &mut self,
        strategy: Strategy,
        target: &str,
        outcome: StepOutcome,
        error: Option<&Failure>,
        began: Instant,
        now: Instant,
    ) {
        let attempt = self.context.attempts();
        let delay = self.pending.delay;
        if let Some(session) = &mut self.session {
            let rejected = outcome == StepOutcome::Rejected;
            session.steps.push(RecoveryStep {
                strategy,
                target: target.to_owned(),
                attempt: (!rejected).then_some(attempt),
                rejected_by: rejected.then_some(self.rejected_by),
                delay: if rejected { Duration::ZERO } else { delay },
                outcome,
                duration: now.saturating_duration_since(began),
                error: error.map(|f| f.text.clone()),
            });
        }
    }

    /// The value of the pending step arrived.
    pub(super) fn after_value(&mut self, op: Op, verdict: &Verdict) -> Next {
        let now = self.clock.now();
        self.after_value_at(op, verdict, now)
    }

    /// The value of the pending step arrived at `now`: the one clock reading
    /// of this step, shared by the circuit, the step, the plan and the end.
    pub(super) fn after_value_at(&mut self, op: Op, verdict: &Verdict, now: Instant) -> Next {
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
            self.open_session(failure, now);
        }
        if let Some(strategy) = self.pending.strategy {
            self.component.record_strategy(strategy, success);
            let target = self.pending.target;
            self.push_step(
                strategy,
                target,
                StepOutcome::of(success),
                verdict.0.as_deref(),
                self.pending.began,
                now,
            );
        }
        if let Some(ending) = self.ending {
            self.end(
                if success {
                    RecoveryOutcome::Recovered
                } else {
                    ending
                },
                now,
            );
            return Next::Done;
        }
        match &verdict.0 {
            None => {
                self.end(RecoveryOutcome::Recovered, now);
                Next::Done
            }
            Some(failure) => {
                // Kept (a copy of its text) only if the recovery goes on:
                // an escalation or a give-up needs it no further.
                let next = self.plan_for(failure, now);
                if !matches!(next, Next::Done) {
                    self.last_failure = Some(Failure::clone(failure));
                }
                next
            }
        }
    }

    /// The backoff before a retry is over: the retry still has to pass the circuit.
    pub(super) fn after_wait(&mut self, delay: Duration) -> Next {
        let strategy = self.pending.strategy;
        let now = self.clock.now();
        self.admit(strategy, delay, now)
    }

    /// The repair method returned.
    pub(super) fn after_repair(&mut self, verdict: &Verdict) -> Next {
        let now = self.clock.now();
        let success = verdict.is_success();
        self.context.note_repaired();
        let target = self.pending.target;
        self.push_step(
            Strategy::Repair,
            target,
            StepOutcome::of(success),
            verdict.0.as_deref(),
            self.pending.began,
            now,
        );
        if !success {
            self.component.record_strategy(Strategy::Repair, false);
            return self.plan(now);
        }
        // The re-run's outcome is what the repair is judged by.
        self.context.note_attempt();
        self.admit(Some(Strategy::Repair), Duration::ZERO, now)
    }

    /// Decides at `now` what follows the last failure.
    ///
    /// What only a retry reads (the component's health, the retry budget,
    /// a jitter sample) is read only when a retry can follow this failure:
    /// reading the health walks every call site of the component, and an
    /// escalation after a failure would pay for it for nothing.
    fn plan(&mut self, now: Instant) -> Next {
        // Taken and put back, not cloned: the failure's text is kept once.
        let Some(failure) = self.last_failure.take() else {
            return Next::Done;
        };
        let next = self.plan_for(&failure, now);
        self.last_failure = Some(failure);
        next
    }

    fn plan_for(&mut self, failure: &Failure, now: Instant) -> Next {
        let strategies = self.config().strategies();
        let circuit = if self.permit == Permit::Rejected {
            CircuitState::Open
        } else if self.has_circuit() {
            self.component.breaker(&self.config().circuit()).state()
        } else {
            CircuitState::Closed
        };
        let may_retry = circuit == CircuitState::Closed
            && ((strategies.contains(Strategy::Network) && failure.category.is_transient())
                || (strategies.contains(Strategy::Retry) && !failure.category.is_permanent()));
        let passes_over = [
            Strategy::Repair,
            Strategy::Retry,
            Strategy::Network,
            Strategy::Alternatives,
        ]
        .into_iter()
        .any(|strategy| strategies.contains(strategy));
        let policy = &self.component.env().policy;
        let budget = may_retry.then(|| {
            self.recovery
                .budget
                .unwrap_or_else(|| policy.retry_budget())
        });
        let budget_available =
            budget.is_none_or(|budget| self.component.retry_budget_available(&budget, now));
        let failing = if passes_over {
            self.component.failing_strategies()
        } else {
            StrategySet::EMPTY
        };
        let jitter = if may_retry {
            policy.jitter_sample()
        } else {
            1.0
        };
        self.context.set_observation(
            now.saturating_duration_since(self.started),
            failure.retry_after,
            budget_available,
            circuit,
            failing,
            jitter,
        );
        // Read at most once, and only if a retry is still on the table when
        // every cheaper condition has passed.
        let mut health: Option<bool> = None;
        let component = self.component;
        let mut healthy = || {
            *health.get_or_insert_with(|| {
                component.quick_health(now).status != HealthStatus::Unhealthy
            })
        };
        let config = self.config();
        let plan = select(failure.category, &mut healthy, &self.context, config);
        if !budget_available && !matches!(plan, RecoveryPlan::Retry { .. }) {
            // Would a retry have followed, had the budget allowed it?
            let unlimited = self.context.with_budget_available(true);
            let wanted = select(failure.category, &mut healthy, &unlimited, config);
            if matches!(wanted, RecoveryPlan::Retry { .. }) {
                self.component.record_budget_exhausted();
            }
        }
        match plan {
            RecoveryPlan::Retry { strategy, delay } => {
                if let Some(budget) = &budget {
                    self.component.withdraw_retry(budget, now);
                }
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
                        Some(failure),
                        now,
                        now,
                    );
                }
                if !self.has_value {
                    // Nothing ran: the caller still needs an error value.
                    self.ending = Some(outcome);
                    self.pending.strategy = None;
                    return Next::Run(Op::Reject);
                }
                self.end(outcome, now);
                Next::Done
            }
        }
    }

    /// An async backoff found no timer to wait on: the pending retry is
    /// recorded as failed with the reason, and the recovery ends.
    pub(super) fn no_timer(&mut self) -> Next {
        let now = self.clock.now();
        let failure = Failure {
            text: "no timer thread could be started: async recovery cannot back off".into(),
            category: ErrorCategory::System,
            retry_after: None,
        };
        if let Some(strategy) = self.pending.strategy {
            let (target, began) = (self.pending.target, self.pending.began);
            self.push_step(
                strategy,
                target,
                StepOutcome::Failed,
                Some(&failure),
                began,
                now,
            );
        }
        self.end(RecoveryOutcome::Failed, now);
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

    fn end(&mut self, outcome: RecoveryOutcome, now: Instant) {
        let Some(mut session) = self.session.take() else {
            return;
        };
        session.outcome = outcome;
        session.recovered_by = match outcome {
            RecoveryOutcome::Recovered => self.pending.strategy,
            _ => None,
        };
        session.duration = now.saturating_duration_since(self.started);
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
/// let mut recovery = Recovery::new(&call);       // with a circuit breaker: one load of its state
/// let ended = loop {
///     if recovery.waiting() {                    // only after a failure: sit out the backoff
///         if let Some(ended) = recovery.sleep() { break ended }   // `.delay().await` when async
///     }
///     let value = match recovery.op() {
///         Op::Attempt => /* the body */,
///         Op::Repair => {
///             let repair = /* the repair method */;
///             if let Some(ended) = recovery.repaired(judge!(repair)) { break ended }
///             continue
///         }
///         Op::Alternative(0) => /* an alternative */,
///         Op::Fallback => /* the fallback */,
///         _ => reject(component),                // an open circuit's error
///     };
///     if let Some(ended) = recovery.report(judge!(value), value) { break ended }
/// };
/// recovery.finish(call, ended)
/// ```
///
/// The loop is in the method itself, not in a closure, so the body can use
/// `&mut self` on every attempt and an async method's future stays `Send`.
///
/// Recovery costs nothing until an attempt fails: the first attempt runs
/// like a method without recovery (with a circuit breaker, after one check
/// that it is closed), its value stays in the method's own locals, and
/// `report` of a success is a test and a `break`. The driver, its clock
/// readings and the recovery session are made only when the first attempt
/// fails, or when the circuit is not closed.
#[doc(hidden)]
pub struct Recovery<R> {
    pub(super) site: &'static CallSite,
    /// The component's breaker, when the method has one and it was closed
    /// at the start: the first attempt's success is counted there.
    breaker: Option<&'static CircuitBreaker>,
    /// When the call started, in call-clock ticks: what the first attempt took
    /// counts toward `max_elapsed` once a driver is made.
    call_start: u64,
    /// Everything recovery needs once it runs; `None` on the success path.
    /// (Both slots are dropped by hand, see `Drop`.)
    pub(super) driving: ManuallyDrop<Option<Box<Driving<R>>>>,
    /// The bulkhead place this call holds until it ends (dropped with the
    /// recovery: on return, panic or cancellation alike).
    pub(super) permit: ManuallyDrop<Option<BulkheadPermit<'static>>>,
}

impl<R> Drop for Recovery<R> {
    /// Two tests when both slots are empty, inlined: the drop glue of the
    /// boxed driving state (the driver, the session, the last value) is
    /// not, and a call to it on every success showed in profiles.
    #[inline(always)]
    fn drop(&mut self) {
        if self.driving.is_some() || self.permit.is_some() {
            self.drop_slots();
        }
    }
}

/// A call's recovery once it runs: the driver, what it asked for, and the
/// last value an operation produced (the caller's, if the recovery ends
/// without another).
pub(super) struct Driving<R> {
    pub(super) driver: Driver,
    pub(super) next: Next,
    last: Option<Ended<R>>,
    /// What refused the call, when the next operation is `Reject`.
    pub(super) refused: Refused,
    /// The value reported next is a timed-out attempt's.
    pub(super) timed_out: bool,
}

impl<R> Driving<R> {
    pub(super) fn new(driver: Driver, next: Next) -> Box<Self> {
        Box::new(Driving {
            driver,
            next,
            last: None,
            refused: Refused::CircuitOpen,
            timed_out: false,
        })
    }

    /// The operation asked for (the one whose value is reported next).
    fn current(&self) -> Op {
        match self.next {
            Next::Run(op) => op,
            Next::Done => Op::End,
            Next::Wait(_) => Op::Reject,
        }
    }

    /// The next operation, after sleeping out a backoff (an async call has
    /// awaited [`Recovery::delay`] first, so it never sleeps here).
    #[inline(never)]
    fn next_op(&mut self) -> Op {
        while let Next::Wait(delay) = self.next {
            self.driver.clock.sleep(delay);
            self.next = self.driver.after_wait(delay);
        }
        self.current()
    }
}

/// The value a call ends with, and how it went.
#[doc(hidden)]
pub struct Ended<R> {
    value: R,
    verdict: Verdict,
}

impl<R> std::fmt::Debug for Ended<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ended")
            .field("success", &self.verdict.is_success())
            .finish_non_exhaustive()
    }
}

impl<R> std::fmt::Debug for Recovery<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recovery")
            .field("site", self.site)
            .field("driving", &self.driving.is_some())
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

/// What the attribute of `site` configured.
#[inline(always)]
fn meta_of(site: &'static CallSite) -> &'static RecoveryMeta {
    site.meta().recovery.unwrap_or(&NO_RECOVERY)
}

/// The component's breaker, through the site's slot: a load once it is set.
#[inline(always)]
fn breaker_of(site: &'static CallSite) -> &'static CircuitBreaker {
    match site.breaker_slot().get() {
        Some(breaker) => breaker,
        None => find_breaker(site),
    }
}

#[cold]
#[inline(never)]
fn find_breaker(site: &'static CallSite) -> &'static CircuitBreaker {
    let config = meta_of(site).config.circuit();
    site.breaker_slot()
        .get_or_init(|| runtime().state_of(site.component()).breaker(&config))
}

impl<R> Recovery<R> {
    /// Starts a call's recovery. Without a circuit breaker, or with a closed
    /// one (one load of its state), the first attempt runs on the plain
    /// path; an open or half-open circuit makes the driver at once, which
    /// grants a probe or refuses the call.
    ///
    /// Built in one expression, in place: filling it in field by field and
    /// then moving it cost a store-forwarding stall on every call (15 % of
    /// the samples of the success path with the full strategy list).
    #[inline(always)]
    pub fn new(call: &Call) -> Self {
        let site = call.site();
        let breaker = if meta_of(site)
            .config
            .strategies()
            .contains(Strategy::CircuitBreaker)
        {
            Some(breaker_of(site))
        } else {
            None
        };
        match breaker {
            Some(breaker) if breaker.state() != CircuitState::Closed => {
                Recovery::from_the_start(call)
            }
            _ => Recovery {
                site,
                breaker,
                call_start: call.started(),
                driving: ManuallyDrop::new(None),
                permit: ManuallyDrop::new(None),
            },
        }
    }

    /// The recovery of a call whose circuit is not closed: the driver is
    /// made at once and grants a probe or refuses the call.
    #[cold]
    #[inline(never)]
    fn from_the_start(call: &Call) -> Self {
        let mut this = Recovery::unchecked(call);
        this.drive_from_the_start();
        this
    }

    /// The recovery before any check of the circuit or the limits.
    #[inline(always)]
    pub(super) fn unchecked(call: &Call) -> Self {
        Recovery {
            site: call.site(),
            breaker: None,
            call_start: call.started(),
            driving: ManuallyDrop::new(None),
            permit: ManuallyDrop::new(None),
        }
    }

    /// What the attribute configured.
    #[inline(always)]
    pub(super) fn meta(&self) -> &'static RecoveryMeta {
        meta_of(self.site)
    }

    /// An open or half-open circuit makes the driver, which grants a probe
    /// or refuses the call.
    pub(super) fn check_circuit(&mut self) {
        let strategies = self.meta().config.strategies();
        if strategies.contains(Strategy::CircuitBreaker) {
            let breaker = breaker_of(self.site);
            if breaker.state() == CircuitState::Closed {
                self.breaker = Some(breaker);
            } else {
                self.drive_from_the_start();
            }
        }
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

    /// How long the call has run so far.
    fn took(&self) -> Duration {
        Duration::from_nanos(crate::record::clock::nanos_since(self.call_start))
    }

    #[cold]
    #[inline(never)]
    fn drive_from_the_start(&mut self) {
        let (mut driver, now) = Driver::new(self.site, self.meta(), Duration::ZERO);
        let next = driver.admit(None, Duration::ZERO, now);
        *self.driving = Some(Driving::new(driver, next));
    }

    /// The recovery's driving state, made now if the first attempt is
    /// still under way (as if the driver had admitted it).
    pub(super) fn driving_or_start(&mut self) -> &mut Driving<R> {
        let (site, meta) = (self.site, self.meta());
        let took = self.took();
        self.driving.get_or_insert_with(|| {
            let (driver, _) = Driver::new(site, meta, took);
            Driving::new(driver, Next::Run(Op::Attempt))
        })
    }

    /// A first attempt that succeeded with the circuit closed: counted by
    /// the circuit without reading the clock (it is read only if this
    /// success still leaves the failure rate over the limit).
    #[inline(always)]
    fn circuit_success(&self, breaker: &'static CircuitBreaker) {
        let site = self.site;
        let now = || {
            runtime()
                .state_of(site.component())
                .env()
                .policy
                .clock()
                .now()
        };
        if let Some(state) = breaker.record_normal_success(now) {
            runtime().state_of(site.component()).circuit_changed(state);
        }
    }

    /// Whether a backoff is to be waited out before the next operation:
    /// never before the first attempt fails.
    #[inline(always)]
    pub fn waiting(&self) -> bool {
        matches!(&*self.driving, Some(driving) if matches!(driving.next, Next::Wait(_)))
    }

    /// Waits out the backoff of an async call without blocking the thread:
    /// a delay of the clock, awaited.
    ///
    /// Boxed, and made only while a backoff is pending: the method's own
    /// future then keeps a pointer for it rather than the wait's state,
    /// which every call of the method would carry and move.
    pub fn delay(&mut self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let waiting = self.driving.as_mut().map(|driving| {
            let Driving { driver, next, .. } = &mut **driving;
            (driver, next)
        });
        Box::pin(async move {
            let Some((driver, next)) = waiting else {
                return;
            };
            while let Next::Wait(delay) = *next {
                let wait = driver.clock.delay(delay);
                if wait.is_unavailable() {
                    // Retrying at once would hammer the component, and
                    // waiting would never end: the recovery fails.
                    *next = driver.no_timer();
                    break;
                }
                wait.await;
                *next = driver.after_wait(delay);
            }
        })
    }

    /// The operation to perform: the attempt until recovery runs. A sync
    /// call sleeps out a backoff here.
    #[inline(always)]
    pub fn op(&mut self) -> Op {
        match &mut *self.driving {
            None => Op::Attempt,
            Some(driving) => driving.next_op(),
        }
    }

    /// The last value, for the caller: the recovery ended without another
    /// ([`Op::End`]).
    #[cold]
    pub fn ended(&mut self) -> Ended<R> {
        match self
            .driving
            .as_mut()
            .and_then(|driving| driving.last.take())
        {
            Some(ended) => ended,
            // The driver ends only after a value: the first operation always
            // produces one (an attempt, the fallback, or the rejection).
            None => unreachable!("reliability: recovery ended without a value"),
        }
    }

    /// The value the operation produced, and how it went: the call's end
    /// when nothing follows it.
    #[inline(always)]
    pub fn report(&mut self, verdict: Verdict, value: R) -> Option<Ended<R>> {
        if self.driving.is_none() && verdict.is_success() {
            if let Some(breaker) = self.breaker {
                self.circuit_success(breaker);
            }
            return Some(Ended { value, verdict });
        }
        self.report_to_driver(verdict, value)
    }

    /// The value of the one operation of a call that cannot run again
    /// (no retry, repair, alternative or fallback is configured): the
    /// call's end, whatever it was.
    #[inline]
    pub fn report_once(&mut self, verdict: Verdict, value: R) -> Ended<R> {
        match self.report(verdict, value) {
            Some(ended) => ended,
            // Without anything to run again, the driver ends after the
            // first value: the attempt's, or the refusal's.
            None => unreachable!("reliability: a recovery without re-runs asked for another run"),
        }
    }

    /// A failure, or a value while recovery runs: the driver decides.
    #[cold]
    #[inline(never)]
    fn report_to_driver(&mut self, mut verdict: Verdict, value: R) -> Option<Ended<R>> {
        if let Some(driving) = self.driving.as_mut().filter(|driving| driving.timed_out) {
            driving.timed_out = false;
            if let Some(failure) = &mut verdict.0 {
                failure.category = ErrorCategory::Timeout;
            }
        }
        let next = self.drive(&verdict);
        let ended = Ended { value, verdict };
        match (&mut *self.driving, next) {
            (Some(driving), Next::Run(_) | Next::Wait(_)) => {
                driving.next = next;
                driving.last = Some(ended);
                None
            }
            _ => Some(ended),
        }
    }

    /// Hands the value of the pending operation to the driver, made now if
    /// this is the first attempt's failure (one clock reading for both).
    pub(super) fn drive(&mut self, verdict: &Verdict) -> Next {
        match &mut *self.driving {
            Some(driving) => {
                let op = driving.current();
                driving.driver.after_value(op, verdict)
            }
            None => {
                let (mut driver, now) = Driver::new(self.site, self.meta(), self.took());
                let next = driver.after_value_at(Op::Attempt, verdict, now);
                *self.driving = Some(Driving::new(driver, next));
                next
            }
        }
    }

    /// How the repair method went.
    pub fn repaired(&mut self, verdict: Verdict) {
        if let Some(driving) = self.driving.as_mut() {
            driving.next = driving.driver.after_repair(&verdict);
        }
    }

    /// Drops what the slots hold: the driving state (a probe still
    /// outstanding counts as failed), then the bulkhead place.
    #[cold]
    #[inline(never)]
    fn drop_slots(&mut self) {
        // SAFETY: called once, from `drop`; neither slot is used after.
        unsafe {
            ManuallyDrop::drop(&mut self.driving);
            ManuallyDrop::drop(&mut self.permit);
        }
    }

    /// The value for the caller, with the call reported as it ended.
    #[inline(always)]
    pub fn finish(&self, call: Call, ended: Ended<R>) -> R {
        call.finish(ended.verdict.observed());
        ended.value
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
