//! The recovery driver: runs the chain circuit check → attempt → repair →
//! retries → alternatives → fallback → escalate for one call.
//!
//! The driver is a state machine that never runs user code itself: it says
//! which operation comes next, and the loop the attribute writes into the
//! method (see [`Recovery`]) performs it (calls the body, the repair method,
//! an alternative or the fallback) and reports back. Sync and async calls
//! therefore share every decision.
//!
//! The loop's side, [`Recovery`], is in `call_loop.rs`; the verdict on a
//! value, [`judge`], in `verdict.rs`.

use std::time::{Duration, Instant, SystemTime};

use crate::classify::ErrorCategory;
use crate::health::HealthStatus;
use crate::record::clock::Clock;
use crate::record::site::CallSite;
use crate::recovery::circuit::CircuitState;
use crate::recovery::history::{RecoveryOutcome, SessionRecord, StepOutcome, StepRecord, Steps};
use crate::recovery::limit::{CircuitPermit, Gates};
use crate::recovery::limits::{Refused, RejectReason};
use crate::recovery::plan::{select, RecoveryContext, RecoveryPlan};
use crate::recovery::strategy::{RecoveryMeta, Strategy, StrategyConfig, StrategySet};
use crate::runtime::component::ComponentState;
use crate::runtime::events::BorrowedEvent;
use crate::runtime::registry::runtime;

use crate::recovery::verdict::{Failure, Verdict};

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
    /// Build the error the call was refused with (a limit or the circuit
    /// refused it before any value).
    Refused(Refused),
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
    /// Borrowed from the policy, which keeps every clock it was given for
    /// as long as it lives (it is `'static`): no reference count to change
    /// on each failure.
    pub(crate) clock: &'static dyn Clock,
    pub(super) started: Instant,
    pub(crate) context: RecoveryContext,
    /// The circuit's leave for the pending attempt, reported with its
    /// value; dropped unreported, a probe counts as failed.
    pub(crate) circuit: Option<CircuitPermit>,
    /// The circuit refused the last attempt.
    rejected: bool,
    pending: Pending,
    last_failure: Option<Failure>,
    session: Option<SessionRecord>,
    /// Set when the next value is the last: how the session ends.
    ending: Option<RecoveryOutcome>,
    /// Whether an operation has produced a value for the caller yet.
    has_value: bool,
    /// What refused the call, for a `Rejected` step and the caller's error.
    refused: Refused,
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
        let clock = component.env().policy.current_clock();
        let now = clock.now();
        let driver = Driver {
            site,
            component,
            recovery,
            clock,
            started: now.checked_sub(took).unwrap_or(now),
            context: RecoveryContext::new(),
            circuit: None,
            rejected: false,
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
            refused: Refused::CircuitOpen,
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
        let Some(circuit) = Gates::of(self.site, self.recovery).circuit else {
            return Next::Run(Op::Attempt);
        };
        match circuit.acquire_at(self.site, now) {
            Ok(permit) => {
                self.circuit = Some(permit);
                self.rejected = false;
                Next::Run(Op::Attempt)
            }
            Err(_) => self.circuit_rejected(now),
        }
    }

    /// The circuit refused an attempt at `now`: planned around, as a
    /// failure the body did not run for.
    fn circuit_rejected(&mut self, now: Instant) -> Next {
        self.rejected = true;
        self.refused = Refused::CircuitOpen;
        self.site.record_rejected();
        self.emit(BorrowedEvent::CallRejected {
            component: self.site.meta().component,
            instance: self.component.instance(),
            method: self.site.meta().method,
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

    /// A limit refused the call before it ran. The circuit's refusal is
    /// planned around as any; the rate limit's or the bulkhead's goes to
    /// the fallback, if there is one, else is the caller's error. Never a
    /// retry: it would run the body without what refused it.
    pub(crate) fn refused(&mut self, refused: Refused, now: Instant) -> Next {
        let (reason, text) = match refused {
            Refused::RateLimited(e) => (RejectReason::RateLimited, e.to_string()),
            Refused::BulkheadFull(e) => (RejectReason::BulkheadFull, e.to_string()),
            Refused::CircuitOpen => return self.circuit_rejected(now),
        };
        self.refused = refused;
        self.site.record_rejected();
        self.component
            .count_limit(self.site.meta().method, |counts| match reason {
                RejectReason::RateLimited => counts.rejected_rate_limit += 1,
                _ => counts.rejected_bulkhead += 1,
            });
        let meta = self.site.meta();
        self.emit(BorrowedEvent::CallRejected {
            component: meta.component,
            instance: self.component.instance(),
            method: meta.method,
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
        Next::Run(Op::Refused(refused))
    }

    /// The session starts with the first failure; its wall-clock start is
    /// read here, once, and set back to when the call began.
    fn open_session(&mut self, failure: &Failure, now: Instant) {
        if self.session.is_none() {
            let meta = self.site.meta();
            self.emit(BorrowedEvent::RecoveryStarted {
                component: meta.component,
                instance: self.component.instance(),
                method: meta.method,
                category: failure.category,
            });
            let wall = SystemTime::now();
            let started_at = wall
                .checked_sub(now.saturating_duration_since(self.started))
                .unwrap_or(wall);
            self.session = Some(SessionRecord {
                component: meta.component,
                instance: self.component.instance(),
                method: meta.method,
                category: failure.category,
                error: failure.text.as_str().into(),
                steps: Steps::default(),
                outcome: RecoveryOutcome::Failed,
                recovered_by: None,
                started_at,
                duration: Duration::ZERO.into(),
                id: 0,
            });
        }
    }

    /// A step that began at `began` and ended at `now`.
    fn push_step(
        &mut self,
        strategy: Strategy,
        target: &'static str,
        outcome: StepOutcome,
        error: Option<&Failure>,
        began: Instant,
        now: Instant,
    ) {
        let attempt = self.context.attempts();
        let delay = self.pending.delay;
        if let Some(session) = &mut self.session {
            let rejected = outcome == StepOutcome::Rejected;
            let error = error.map(|f| session.share_error(&f.text));
            session.steps.push(StepRecord {
                strategy,
                target,
                attempt: (!rejected).then_some(attempt),
                rejected_by: rejected.then_some(self.refused.reason()),
                delay: if rejected { Duration::ZERO } else { delay }.into(),
                outcome,
                duration: now.saturating_duration_since(began).into(),
                error,
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
        if op == Op::Attempt {
            if let Some(permit) = self.circuit.take() {
                // A permanent error (a 403, a missing model) says nothing
                // about the component being down: it answered. It does not
                // count toward opening the circuit, and it passes a probe.
                let answered = verdict.0.as_ref().is_none_or(|f| f.category.is_permanent());
                permit.record(answered, Some(now));
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
        let circuit = if self.rejected {
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
                    return Next::Run(Op::Refused(self.refused));
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
        self.emit(BorrowedEvent::RecoveryAttempt {
            component: meta.component,
            instance: self.component.instance(),
            method: meta.method,
            strategy,
            attempt,
            delay,
        });
    }

    fn emit(&self, event: BorrowedEvent<'_>) {
        self.component.env().listeners.emit_borrowed(event);
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
        session.duration = now.saturating_duration_since(self.started).into();
        self.component.finish_session(session);
    }
}
