//! Events: what happened to a component, delivered to subscribers and to `tracing`.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
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
            ReliabilityEvent::RecoveryStarted {
                component,
                instance,
                method,
                category,
            } => {
                tracing::info!(target: T, component = component.as_str(), instance = instance.as_deref(), method = method.as_str(), category = category.as_str(), status = "recovering", "recovery started")
            }
            ReliabilityEvent::RecoveryAttempt {
                component,
                instance,
                method,
                strategy,
                attempt,
                delay,
            } => {
                tracing::info!(target: T, component = component.as_str(), instance = instance.as_deref(), method = method.as_str(), strategy = strategy.as_str(), attempt, delay_ms = delay.as_millis() as u64, status = "attempt", "recovery attempt")
            }
            ReliabilityEvent::Recovered {
                component,
                instance,
                method,
                strategy,
                attempts,
            } => {
                tracing::info!(target: T, component = component.as_str(), instance = instance.as_deref(), method = method.as_str(), strategy = strategy.map_or("", Strategy::as_str), attempt = attempts, status = "recovered", "call recovered")
            }
            ReliabilityEvent::Escalated {
                component,
                instance,
                method,
                category,
                error,
            } => {
                tracing::error!(target: T, component = component.as_str(), instance = instance.as_deref(), method = method.as_str(), category = category.as_str(), strategy = "escalate", status = "escalated", error = error.as_str(), "recovery escalated: the component needs attention")
            }
            ReliabilityEvent::RecoveryFailed {
                component,
                instance,
                method,
                category,
                error,
            } => {
                tracing::warn!(target: T, component = component.as_str(), instance = instance.as_deref(), method = method.as_str(), category = category.as_str(), status = "failed", error = error.as_str(), "recovery failed")
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
            ReliabilityEvent::CallRejected {
                component,
                instance,
                method,
                reason,
            } => {
                tracing::info!(target: T, component = component.as_str(), instance = instance.as_deref(), method = method.as_str(), reason = reason.as_str(), status = "rejected", "call rejected")
            }
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
        }
    }
}

type Listener = Arc<dyn Fn(&ReliabilityEvent) + Send + Sync>;

/// The subscribers, and a count of their panics.
#[derive(Default)]
pub(crate) struct Listeners {
    list: RwLock<Vec<(u64, Listener)>>,
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
        self.list.write().push((id, listener));
        id
    }

    pub(crate) fn remove(&self, id: u64) {
        self.list.write().retain(|(other, _)| *other != id);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.read().is_empty()
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

    /// Traces the event and hands it to every listener; a listener that
    /// panics is counted and logged, and the others still get the event.
    pub(crate) fn emit(&self, event: &ReliabilityEvent) {
        event.trace();
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
