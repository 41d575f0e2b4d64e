//! Events: what happened to a component, delivered to subscribers and to `tracing`.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::classify::ErrorCategory;
use crate::health::HealthStatus;
use crate::recovery::circuit::CircuitState;
use crate::recovery::strategy::Strategy;

/// Something that happened to a component.
///
/// Every event is also emitted as a `tracing` event with target
/// `reliability` and structured fields (`component`, `method`, `category`,
/// `strategy`, `attempt`, `status`): at `warn` for degradation, staleness,
/// an opened circuit and failed recoveries, at `error` for an unhealthy
/// component and an escalation, at `info` otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReliabilityEvent {
    /// The background monitor saw a component's status change.
    HealthChanged {
        /// The component.
        component: String,
        /// The instance, when the event is about one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
        /// Its status before.
        from: HealthStatus,
        /// Its status now.
        to: HealthStatus,
        /// Why, when it is not healthy.
        reason: Option<String>,
    },
    /// A component saw no call for the configured number of monitor intervals.
    ComponentStale {
        /// The component.
        component: String,
        /// The instance, when the event is about one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
        /// How long it has been idle, at least.
        idle: Duration,
    },
    /// A call failed and recovery began.
    RecoveryStarted {
        /// The component.
        component: String,
        /// The instance, when the event is about one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
        /// The method.
        method: String,
        /// The failure's category.
        category: ErrorCategory,
    },
    /// Recovery is about to try a strategy.
    RecoveryAttempt {
        /// The component.
        component: String,
        /// The instance, when the event is about one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
        /// The method.
        method: String,
        /// The strategy.
        strategy: Strategy,
        /// The call's attempt number for the step (the first attempt is 1).
        attempt: u32,
        /// The wait before it.
        delay: Duration,
    },
    /// A strategy produced a success.
    Recovered {
        /// The component.
        component: String,
        /// The instance, when the event is about one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
        /// The method.
        method: String,
        /// The strategy that succeeded.
        strategy: Option<Strategy>,
        /// Attempts of the call, the first included.
        attempts: u32,
    },
    /// Recovery gave up and flagged the component.
    Escalated {
        /// The component.
        component: String,
        /// The instance, when the event is about one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
        /// The method.
        method: String,
        /// The failure's category.
        category: ErrorCategory,
        /// The failure's text.
        error: String,
    },
    /// Recovery gave up, with no escalation configured.
    RecoveryFailed {
        /// The component.
        component: String,
        /// The instance, when the event is about one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
        /// The method.
        method: String,
        /// The failure's category.
        category: ErrorCategory,
        /// The failure's text.
        error: String,
    },
    /// A component's circuit changed state.
    CircuitChanged {
        /// The component.
        component: String,
        /// The instance, when the event is about one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
        /// The new state.
        state: CircuitState,
    },
    /// A call was refused before its body ran: by an open circuit, a full
    /// bulkhead or the rate limit.
    CallRejected {
        /// The component.
        component: String,
        /// The instance, when the event is about one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
        /// The method.
        method: String,
        /// What refused it.
        reason: crate::recovery::limits::RejectReason,
    },
    /// An attempt ran past its `timeout` and was dropped.
    TimedOut {
        /// The component.
        component: String,
        /// The instance, when the event is about one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
        /// The method.
        method: String,
        /// The timeout.
        after: Duration,
    },
    /// A slow attempt was hedged: alternatives started beside it.
    Hedged {
        /// The component.
        component: String,
        /// The instance, when the event is about one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
        /// The method.
        method: String,
        /// Alternatives started beside the attempt.
        hedged: u32,
        /// Whether one of them won (else the attempt won, or all failed).
        won_by_hedge: bool,
    },
    /// A component reached its instance limit: calls of further instances
    /// count under [`Instance::OVERFLOW_ID`](crate::Instance::OVERFLOW_ID).
    /// Emitted once per component.
    InstanceLimitReached {
        /// The component.
        component: String,
        /// Its instance limit.
        limit: usize,
    },
}

impl ReliabilityEvent {
    /// The component the event is about.
    pub fn component(&self) -> &str {
        match self {
            ReliabilityEvent::HealthChanged { component, .. }
            | ReliabilityEvent::ComponentStale { component, .. }
            | ReliabilityEvent::RecoveryStarted { component, .. }
            | ReliabilityEvent::RecoveryAttempt { component, .. }
            | ReliabilityEvent::Recovered { component, .. }
            | ReliabilityEvent::Escalated { component, .. }
            | ReliabilityEvent::RecoveryFailed { component, .. }
            | ReliabilityEvent::CircuitChanged { component, .. }
            | ReliabilityEvent::CallRejected { component, .. }
            | ReliabilityEvent::TimedOut { component, .. }
            | ReliabilityEvent::Hedged { component, .. }
            | ReliabilityEvent::InstanceLimitReached { component, .. } => component,
        }
    }

    /// The instance the event is about, if it is about one.
    pub fn instance(&self) -> Option<&str> {
        match self {
            ReliabilityEvent::HealthChanged { instance, .. }
            | ReliabilityEvent::ComponentStale { instance, .. }
            | ReliabilityEvent::RecoveryStarted { instance, .. }
            | ReliabilityEvent::RecoveryAttempt { instance, .. }
            | ReliabilityEvent::Recovered { instance, .. }
            | ReliabilityEvent::Escalated { instance, .. }
            | ReliabilityEvent::RecoveryFailed { instance, .. }
            | ReliabilityEvent::CircuitChanged { instance, .. }
            | ReliabilityEvent::CallRejected { instance, .. }
            | ReliabilityEvent::TimedOut { instance, .. }
            | ReliabilityEvent::Hedged { instance, .. } => instance.as_deref(),
            ReliabilityEvent::InstanceLimitReached { .. } => None,
        }
    }

    /// Writes the event as a `tracing` event.
    fn trace(&self) {
        const T: &str = "reliability";
        if let Some(borrowed) = self.borrowed() {
            return borrowed.trace();
        }
        match self {
            ReliabilityEvent::HealthChanged {
                component,
                instance,
                from,
                to,
                reason,
            } => {
                let reason = reason.as_deref().unwrap_or("");
                match to {
                    HealthStatus::Unhealthy => {
                        tracing::error!(target: T, component = component.as_str(), instance = instance.as_deref(), status = to.as_str(), from = from.as_str(), reason, "component unhealthy")
                    }
                    HealthStatus::Degraded => {
                        tracing::warn!(target: T, component = component.as_str(), instance = instance.as_deref(), status = to.as_str(), from = from.as_str(), reason, "component degraded")
                    }
                    HealthStatus::Healthy => {
                        tracing::info!(target: T, component = component.as_str(), instance = instance.as_deref(), status = to.as_str(), from = from.as_str(), "component healthy")
                    }
                }
            }
            ReliabilityEvent::ComponentStale {
                component,
                instance,
                idle,
            } => {
                tracing::warn!(target: T, component = component.as_str(), instance = instance.as_deref(), status = "stale", idle_ms = idle.as_millis() as u64, "component stale")
            }
            ReliabilityEvent::CircuitChanged {
                component,
                instance,
                state,
            } => match state {
                CircuitState::Open => {
                    tracing::warn!(target: T, component = component.as_str(), instance = instance.as_deref(), strategy = "circuit_breaker", status = state.as_str(), "circuit opened")
                }
                _ => {
                    tracing::info!(target: T, component = component.as_str(), instance = instance.as_deref(), strategy = "circuit_breaker", status = state.as_str(), "circuit changed")
                }
            },
            ReliabilityEvent::TimedOut {
                component,
                instance,
                method,
                after,
            } => {
                tracing::warn!(target: T, component = component.as_str(), instance = instance.as_deref(), method = method.as_str(), timeout_ms = after.as_millis() as u64, status = "timed_out", "attempt timed out")
            }
            ReliabilityEvent::Hedged {
                component,
                instance,
                method,
                hedged,
                won_by_hedge,
            } => {
                tracing::info!(target: T, component = component.as_str(), instance = instance.as_deref(), method = method.as_str(), hedged = *hedged, won_by_hedge = *won_by_hedge, "attempt hedged")
            }
            ReliabilityEvent::InstanceLimitReached { component, limit } => {
                tracing::warn!(target: T, component = component.as_str(), limit = *limit, "instance limit reached: further instances count under `{}`", crate::Instance::OVERFLOW_ID)
            }
            // Traced as their borrowed form, above.
            ReliabilityEvent::RecoveryStarted { .. }
            | ReliabilityEvent::RecoveryAttempt { .. }
            | ReliabilityEvent::Recovered { .. }
            | ReliabilityEvent::Escalated { .. }
            | ReliabilityEvent::RecoveryFailed { .. }
            | ReliabilityEvent::CallRejected { .. } => {}
        }
    }

    /// The event's borrowed form, for the events of a call's recovery.
    fn borrowed(&self) -> Option<BorrowedEvent<'_>> {
        Some(match self {
            ReliabilityEvent::RecoveryStarted {
                component,
                instance,
                method,
                category,
            } => BorrowedEvent::RecoveryStarted {
                component,
                instance: instance.as_deref(),
                method,
                category: *category,
            },
            ReliabilityEvent::RecoveryAttempt {
                component,
                instance,
                method,
                strategy,
                attempt,
                delay,
            } => BorrowedEvent::RecoveryAttempt {
                component,
                instance: instance.as_deref(),
                method,
                strategy: *strategy,
                attempt: *attempt,
                delay: *delay,
            },
            ReliabilityEvent::Recovered {
                component,
                instance,
                method,
                strategy,
                attempts,
            } => BorrowedEvent::Recovered {
                component,
                instance: instance.as_deref(),
                method,
                strategy: *strategy,
                attempts: *attempts,
            },
            ReliabilityEvent::Escalated {
                component,
                instance,
                method,
                category,
                error,
            } => BorrowedEvent::Escalated {
                component,
                instance: instance.as_deref(),
                method,
                category: *category,
                error,
            },
            ReliabilityEvent::RecoveryFailed {
                component,
                instance,
                method,
                category,
                error,
            } => BorrowedEvent::RecoveryFailed {
                component,
                instance: instance.as_deref(),
                method,
                category: *category,
                error,
            },
            ReliabilityEvent::CallRejected {
                component,
                instance,
                method,
                reason,
            } => BorrowedEvent::CallRejected {
                component,
                instance: instance.as_deref(),
                method,
                reason: *reason,
            },
            _ => return None,
        })
    }
}

/// An event of a call's recovery with its fields borrowed: traced as it
/// is, and made a [`ReliabilityEvent`] (owned strings) only when a
/// listener is subscribed.
///
/// Every failure emits two of these (the start and the end of its
/// recovery); building them owned for the `tracing` subscriber alone was
/// five allocations and frees per failure, and with the tracing itself
/// about 11 % of the `failure/reliable_escalate` bench in a `perf` profile.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BorrowedEvent<'a> {
    RecoveryStarted {
        component: &'a str,
        instance: Option<&'a str>,
        method: &'a str,
        category: ErrorCategory,
    },
    RecoveryAttempt {
        component: &'a str,
        instance: Option<&'a str>,
        method: &'a str,
        strategy: Strategy,
        attempt: u32,
        delay: Duration,
    },
    Recovered {
        component: &'a str,
        instance: Option<&'a str>,
        method: &'a str,
        strategy: Option<Strategy>,
        attempts: u32,
    },
    Escalated {
        component: &'a str,
        instance: Option<&'a str>,
        method: &'a str,
        category: ErrorCategory,
        error: &'a str,
    },
    RecoveryFailed {
        component: &'a str,
        instance: Option<&'a str>,
        method: &'a str,
        category: ErrorCategory,
        error: &'a str,
    },
    CallRejected {
        component: &'a str,
        instance: Option<&'a str>,
        method: &'a str,
        reason: crate::recovery::limits::RejectReason,
    },
}

impl BorrowedEvent<'_> {
    fn trace(&self) {
        const T: &str = "reliability";
        match *self {
            BorrowedEvent::RecoveryStarted {
                component,
                instance,
                method,
                category,
            } => {
                tracing::info!(target: T, component, instance, method, category = category.as_str(), status = "recovering", "recovery started")
            }
            BorrowedEvent::RecoveryAttempt {
                component,
                instance,
                method,
                strategy,
                attempt,
                delay,
            } => {
                tracing::info!(target: T, component, instance, method, strategy = strategy.as_str(), attempt, delay_ms = delay.as_millis() as u64, status = "attempt", "recovery attempt")
            }
            BorrowedEvent::Recovered {
                component,
                instance,
                method,
                strategy,
                attempts,
            } => {
                tracing::info!(target: T, component, instance, method, strategy = strategy.map_or("", Strategy::as_str), attempt = attempts, status = "recovered", "call recovered")
            }
            BorrowedEvent::Escalated {
                component,
                instance,
                method,
                category,
                error,
            } => {
                tracing::error!(target: T, component, instance, method, category = category.as_str(), strategy = "escalate", status = "escalated", error, "recovery escalated: the component needs attention")
            }
            BorrowedEvent::RecoveryFailed {
                component,
                instance,
                method,
                category,
                error,
            } => {
                tracing::warn!(target: T, component, instance, method, category = category.as_str(), status = "failed", error, "recovery failed")
            }
            BorrowedEvent::CallRejected {
                component,
                instance,
                method,
                reason,
            } => {
                tracing::info!(target: T, component, instance, method, reason = reason.as_str(), status = "rejected", "call rejected")
            }
        }
    }

    /// The owned event, for listeners.
    fn to_event(self) -> ReliabilityEvent {
        let owned = |s: &str| s.to_owned();
        match self {
            BorrowedEvent::RecoveryStarted {
                component,
                instance,
                method,
                category,
            } => ReliabilityEvent::RecoveryStarted {
                component: owned(component),
                instance: instance.map(owned),
                method: owned(method),
                category,
            },
            BorrowedEvent::RecoveryAttempt {
                component,
                instance,
                method,
                strategy,
                attempt,
                delay,
            } => ReliabilityEvent::RecoveryAttempt {
                component: owned(component),
                instance: instance.map(owned),
                method: owned(method),
                strategy,
                attempt,
                delay,
            },
            BorrowedEvent::Recovered {
                component,
                instance,
                method,
                strategy,
                attempts,
            } => ReliabilityEvent::Recovered {
                component: owned(component),
                instance: instance.map(owned),
                method: owned(method),
                strategy,
                attempts,
            },
            BorrowedEvent::Escalated {
                component,
                instance,
                method,
                category,
                error,
            } => ReliabilityEvent::Escalated {
                component: owned(component),
                instance: instance.map(owned),
                method: owned(method),
                category,
                error: owned(error),
            },
            BorrowedEvent::RecoveryFailed {
                component,
                instance,
                method,
                category,
                error,
            } => ReliabilityEvent::RecoveryFailed {
                component: owned(component),
                instance: instance.map(owned),
                method: owned(method),
                category,
                error: owned(error),
            },
            BorrowedEvent::CallRejected {
                component,
                instance,
                method,
                reason,
            } => ReliabilityEvent::CallRejected {
                component: owned(component),
                instance: instance.map(owned),
                method: owned(method),
                reason,
            },
        }
    }
}

type Listener = Arc<dyn Fn(&ReliabilityEvent) + Send + Sync>;

/// The subscribers, and a count of their panics.
#[derive(Default)]
pub(crate) struct Listeners {
    list: RwLock<Vec<(u64, Listener)>>,
    /// `list`'s length, written under its write lock: whether anybody
    /// listens is one load, not a lock taken and given back.
    count: AtomicUsize,
    next_id: AtomicU64,
    panics: AtomicU64,
}

impl fmt::Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listeners")
            .field("count", &self.list.read().len())
            .field("panics", &self.panics.load(Relaxed))
            .finish()
    }
}

impl Listeners {
    pub(crate) fn add(&self, listener: Listener) -> u64 {
        let id = self.next_id.fetch_add(1, Relaxed);
        let mut list = self.list.write();
        list.push((id, listener));
        self.count.store(list.len(), Relaxed);
        id
    }

    pub(crate) fn remove(&self, id: u64) {
        let mut list = self.list.write();
        list.retain(|(other, _)| *other != id);
        self.count.store(list.len(), Relaxed);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.count.load(Relaxed) == 0
    }

    pub(crate) fn panics(&self) -> u64 {
        self.panics.load(Relaxed)
    }

    /// Builds and emits an event, unless nobody would see it: no listener,
    /// and no `tracing` subscriber that takes errors. (Events are built on
    /// failure paths only; skipping them keeps those paths short too.)
    pub(crate) fn emit_with(&self, event: impl FnOnce() -> ReliabilityEvent) {
        if self.is_empty() && !tracing::level_enabled!(tracing::Level::ERROR) {
            return;
        }
        self.emit(&event());
    }

    /// Traces a recovery's event from its borrowed fields, and builds the
    /// owned event only if a listener is subscribed.
    pub(crate) fn emit_borrowed(&self, event: BorrowedEvent<'_>) {
        event.trace();
        if !self.is_empty() {
            self.deliver(&event.to_event());
        }
    }

    /// Traces the event and hands it to every listener; a listener that
    /// panics is counted and logged, and the others still get the event.
    pub(crate) fn emit(&self, event: &ReliabilityEvent) {
        event.trace();
        self.deliver(event);
    }

    fn deliver(&self, event: &ReliabilityEvent) {
        // Cloned out of the lock, so a listener may subscribe or unsubscribe.
        let listeners: Vec<Listener> = self
            .list
            .read()
            .iter()
            .map(|(_, l)| Arc::clone(l))
            .collect();
        for listener in listeners {
            if catch_unwind(AssertUnwindSafe(|| listener(event))).is_err() {
                self.panics.fetch_add(1, Relaxed);
                tracing::error!(target: "reliability", component = event.component(), "an event listener panicked; it was skipped");
            }
        }
    }
}

/// Keeps a listener subscribed; dropping it unsubscribes.
#[must_use = "dropping the subscription unsubscribes the listener"]
pub struct Subscription {
    listeners: &'static Listeners,
    id: u64,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .finish()
    }
}

impl Subscription {
    pub(crate) fn new(listeners: &'static Listeners, id: u64) -> Self {
        Subscription { listeners, id }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.listeners.remove(self.id);
    }
}
