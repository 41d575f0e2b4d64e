//! Choosing the next recovery step: a pure function of the failure, the
//! component's health, what has been tried, and the configuration.

use std::time::Duration;

use crate::classify::ErrorCategory;
use crate::health::{ComponentHealth, HealthStatus};
use crate::recovery::circuit::CircuitState;
use crate::recovery::strategy::{Backoff, Strategy, StrategyConfig, StrategySet};

/// What has happened so far in one call's recovery.
///
/// # Default
///
/// One attempt made, nothing else tried, no time elapsed, budget available,
/// circuit closed, no strategy failing, a jitter sample of 1 (the full delay).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecoveryContext {
    attempts: u32,
    elapsed: Duration,
    repaired: bool,
    alternatives_tried: u32,
    fallback_tried: bool,
    retry_after: Option<Duration>,
    budget_available: bool,
    circuit: CircuitState,
    failing: StrategySet,
    jitter: f64,
}

impl RecoveryContext {
    /// The defaults listed above.
    pub const fn new() -> Self {
        RecoveryContext {
            attempts: 1,
            elapsed: Duration::ZERO,
            repaired: false,
            alternatives_tried: 0,
            fallback_tried: false,
            retry_after: None,
            budget_available: true,
            circuit: CircuitState::Closed,
            failing: StrategySet::EMPTY,
            jitter: 1.0,
        }
    }

    /// Attempts of the call itself made so far, the first included.
    #[must_use]
    pub const fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    /// Time since the call began.
    #[must_use]
    pub const fn with_elapsed(mut self, elapsed: Duration) -> Self {
        self.elapsed = elapsed;
        self
    }

    /// Whether the repair method already ran in this call.
    #[must_use]
    pub const fn with_repaired(mut self, repaired: bool) -> Self {
        self.repaired = repaired;
        self
    }

    /// How many alternatives were already tried.
    #[must_use]
    pub const fn with_alternatives_tried(mut self, tried: u32) -> Self {
        self.alternatives_tried = tried;
        self
    }

    /// Whether the fallback already ran.
    #[must_use]
    pub const fn with_fallback_tried(mut self, tried: bool) -> Self {
        self.fallback_tried = tried;
        self
    }

    /// How long the failing side asked us to wait.
    #[must_use]
    pub const fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Whether the component's retry budget allows another retry.
    #[must_use]
    pub const fn with_budget_available(mut self, available: bool) -> Self {
        self.budget_available = available;
        self
    }

    /// The component's circuit.
    #[must_use]
    pub const fn with_circuit(mut self, circuit: CircuitState) -> Self {
        self.circuit = circuit;
        self
    }

    /// Strategies that keep failing for this component, to be passed over.
    #[must_use]
    pub const fn with_failing(mut self, failing: StrategySet) -> Self {
        self.failing = failing;
        self
    }

    /// A uniform sample in `[0, 1)` that jitter scales the delay by.
    #[must_use]
    pub const fn with_jitter(mut self, sample: f64) -> Self {
        self.jitter = sample;
        self
    }

    /// Attempts of the call itself made so far.
    pub const fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Time since the call began.
    pub const fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// How many alternatives were already tried.
    pub const fn alternatives_tried(&self) -> u32 {
        self.alternatives_tried
    }

    pub(crate) fn note_attempt(&mut self) {
        self.attempts += 1;
    }
    pub(crate) fn note_repaired(&mut self) {
        self.repaired = true;
    }
    pub(crate) fn note_alternative(&mut self) {
        self.alternatives_tried += 1;
    }
    pub(crate) fn note_fallback(&mut self) {
        self.fallback_tried = true;
    }
    pub(crate) fn set_observation(
        &mut self,
        elapsed: Duration,
        retry_after: Option<Duration>,
        budget_available: bool,
        circuit: CircuitState,
        failing: StrategySet,
        jitter: f64,
    ) {
        self.elapsed = elapsed;
        self.retry_after = retry_after;
        self.budget_available = budget_available;
        self.circuit = circuit;
        self.failing = failing;
        self.jitter = jitter;
    }
}

impl Default for RecoveryContext {
    fn default() -> Self {
        Self::new()
    }
}

/// The next step of a recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryPlan {
    /// Wait `delay`, then make the call again.
    Retry {
        /// `Retry` or `Network`.
        strategy: Strategy,
        /// How long to wait first.
        delay: Duration,
    },
    /// Run the repair method, then make the call again.
    Repair,
    /// Call the alternative at `index` (0-based) with the same arguments.
    Alternative {
        /// Which alternative.
        index: u32,
    },
    /// Call the fallback with the same arguments.
    Fallback,
    /// Give up and flag the component for a person to look at.
    Escalate,
    /// Give up: no configured strategy applies.
    GiveUp,
}

/// Picks the next step for a failure, following the chain
/// repair → retry → alternatives → fallback → escalate.
///
/// - An open circuit skips repair and retries, not the alternatives: they
///   are other sources, which this circuit does not guard.
/// - `repair` applies to `Validation` errors, once per call.
/// - `network` retries transient categories; `retry` anything not
///   permanent. No retry when the component is unhealthy, the circuit is not
///   closed, the retry budget is spent, `max_attempts` is reached, or the
///   delay would pass `max_elapsed`. The delay honours `retry_after`.
/// - A strategy in the context's failing set is passed over (the fallback never is).
pub(crate) fn select_strategy(
    category: ErrorCategory,
    health: &ComponentHealth,
    context: &RecoveryContext,
    config: &StrategyConfig,
) -> RecoveryPlan {
    select(
        category,
        &mut || health.status != HealthStatus::Unhealthy,
        context,
        config,
    )
}

/// [`select_strategy`] with the health asked for only when it decides:
/// when a retry applies and every other condition for it holds. The
/// recovery driver reads the health (every call site of the component)
/// through `healthy`, so a failure that cannot be retried never pays for it.
pub(crate) fn select(
    category: ErrorCategory,
    healthy: &mut dyn FnMut() -> bool,
    context: &RecoveryContext,
    config: &StrategyConfig,
) -> RecoveryPlan {
    let strategies = config.strategies();
    let usable = |s: Strategy| strategies.contains(s) && !context.failing.contains(s);
    if context.circuit != CircuitState::Open {
        if category == ErrorCategory::Validation && usable(Strategy::Repair) && !context.repaired {
            return RecoveryPlan::Repair;
        }
        let retry = if usable(Strategy::Network) && category.is_transient() {
            Some(Strategy::Network)
        } else if usable(Strategy::Retry) && !category.is_permanent() {
            Some(Strategy::Retry)
        } else {
            None
        };
        let may_retry = context.circuit == CircuitState::Closed
            && context.budget_available
            && context.attempts < config.max_attempts()
            && retry.is_some()
            && healthy();
        if let (Some(strategy), true) = (retry, may_retry) {
            let delay = retry_delay(
                strategy,
                config,
                context.attempts,
                context.jitter,
                context.retry_after,
            );
            if context.elapsed.saturating_add(delay) <= config.max_elapsed() {
                return RecoveryPlan::Retry { strategy, delay };
            }
        }
    }
    // Alternatives are other sources (a mirror, a replica): an open circuit
    // guards this one, not them, so they are tried whatever its state.
    if usable(Strategy::Alternatives) && context.alternatives_tried < config.alternatives() {
        return RecoveryPlan::Alternative {
            index: context.alternatives_tried,
        };
    }
    if strategies.contains(Strategy::Fallback) && !context.fallback_tried {
        return RecoveryPlan::Fallback;
    }
    if strategies.contains(Strategy::Escalate) {
        return RecoveryPlan::Escalate;
    }
    RecoveryPlan::GiveUp
}

/// The delay before the retry that follows attempt number `attempts`.
pub(crate) fn retry_delay(
    strategy: Strategy,
    config: &StrategyConfig,
    attempts: u32,
    jitter: f64,
    retry_after: Option<Duration>,
) -> Duration {
    let base = config.base_delay();
    let n = attempts.max(1);
    let exponential = strategy == Strategy::Network || config.backoff() == Backoff::Exponential;
    let raw = if exponential {
        base.saturating_mul(1u32.checked_shl(n - 1).unwrap_or(u32::MAX))
    } else if config.backoff() == Backoff::Linear {
        base.saturating_mul(n)
    } else {
        base
    };
    let capped = raw.min(config.max_delay());
    let jittered = if strategy == Strategy::Network || config.jitter() {
        capped.mul_f64(jitter.clamp(0.0, 1.0))
    } else {
        capped
    };
    match retry_after {
        Some(after) => jittered.max(after),
        None => jittered,
    }
}

/// What [`ReliabilityManager::handle_failure`](crate::ReliabilityManager::handle_failure) advises.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RecoveryAction {
    /// The error's category.
    pub category: ErrorCategory,
    /// How long the error asked to wait, if it did.
    pub retry_after: Option<Duration>,
    /// The step to take next.
    pub plan: RecoveryPlan,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(status: HealthStatus) -> ComponentHealth {
        let mut health = ComponentHealth::empty("plan_tests");
        health.status = status;
        health
    }

    const ALL: StrategyConfig = StrategyConfig::new()
        .with_strategy(Strategy::Retry)
        .with_strategy(Strategy::Network)
        .with_strategy(Strategy::Repair)
        .with_strategy(Strategy::Alternatives)
        .with_strategy(Strategy::Fallback)
        .with_strategy(Strategy::Escalate)
        .with_alternatives(2)
        .with_jitter(false);

    /// What a case expects: an exact plan, or a retry by one strategy with any delay.
    enum Want {
        Plan(RecoveryPlan),
        Retry(Strategy),
    }

    #[test]
    fn chain_table() {
        use ErrorCategory::*;
        use Want::*;
        let ok = health(HealthStatus::Healthy);
        let sick = health(HealthStatus::Unhealthy);
        let fresh = RecoveryContext::new();
        let spent = fresh.with_attempts(3);
        let failing = |list: &[Strategy]| list.iter().copied().collect::<StrategySet>();
        let only_retry = StrategyConfig::new().with_strategy(Strategy::Retry);
        let fallback_only = StrategyConfig::new().with_strategy(Strategy::Fallback);
        let cases = [
            (
                "transient → network",
                Network,
                &ok,
                fresh,
                ALL,
                Retry(Strategy::Network),
            ),
            (
                "unknown → retry",
                Unknown,
                &ok,
                fresh,
                ALL,
                Retry(Strategy::Retry),
            ),
            (
                "validation → repair",
                Validation,
                &ok,
                fresh,
                ALL,
                Plan(RecoveryPlan::Repair),
            ),
            (
                "validation after repair → alternative",
                Validation,
                &ok,
                fresh.with_repaired(true),
                ALL,
                Plan(RecoveryPlan::Alternative { index: 0 }),
            ),
            (
                "permission skips retries",
                Permission,
                &ok,
                fresh,
                ALL,
                Plan(RecoveryPlan::Alternative { index: 0 }),
            ),
            (
                "attempts spent → alternative",
                Timeout,
                &ok,
                spent,
                ALL,
                Plan(RecoveryPlan::Alternative { index: 0 }),
            ),
            (
                "second alternative",
                Timeout,
                &ok,
                spent.with_alternatives_tried(1),
                ALL,
                Plan(RecoveryPlan::Alternative { index: 1 }),
            ),
            (
                "alternatives spent → fallback",
                Timeout,
                &ok,
                spent.with_alternatives_tried(2),
                ALL,
                Plan(RecoveryPlan::Fallback),
            ),
            (
                "fallback spent → escalate",
                Timeout,
                &ok,
                spent.with_alternatives_tried(2).with_fallback_tried(true),
                ALL,
                Plan(RecoveryPlan::Escalate),
            ),
            (
                "unhealthy → no retry",
                Network,
                &sick,
                fresh,
                ALL,
                Plan(RecoveryPlan::Alternative { index: 0 }),
            ),
            (
                "open circuit → no retry, no repair: the alternatives",
                Network,
                &ok,
                fresh.with_circuit(CircuitState::Open),
                ALL,
                Plan(RecoveryPlan::Alternative { index: 0 }),
            ),
            (
                "open circuit, alternatives spent → fallback",
                Validation,
                &ok,
                fresh
                    .with_circuit(CircuitState::Open)
                    .with_alternatives_tried(2),
                ALL,
                Plan(RecoveryPlan::Fallback),
            ),
            (
                "half-open → no retry",
                Network,
                &ok,
                fresh.with_circuit(CircuitState::HalfOpen),
                ALL,
                Plan(RecoveryPlan::Alternative { index: 0 }),
            ),
            (
                "budget spent → no retry",
                Network,
                &ok,
                fresh.with_budget_available(false),
                ALL,
                Plan(RecoveryPlan::Alternative { index: 0 }),
            ),
            (
                "past max_elapsed → no retry",
                Network,
                &ok,
                fresh.with_elapsed(Duration::from_secs(30)),
                ALL,
                Plan(RecoveryPlan::Alternative { index: 0 }),
            ),
            (
                "failing network → retry",
                Network,
                &ok,
                fresh.with_failing(failing(&[Strategy::Network])),
                ALL,
                Retry(Strategy::Retry),
            ),
            (
                "failing retries → alternative",
                Network,
                &ok,
                fresh.with_failing(failing(&[Strategy::Network, Strategy::Retry])),
                ALL,
                Plan(RecoveryPlan::Alternative { index: 0 }),
            ),
            (
                "fallback is never passed over",
                Permission,
                &ok,
                fresh.with_failing(failing(&[Strategy::Fallback])),
                fallback_only,
                Plan(RecoveryPlan::Fallback),
            ),
            (
                "retry: permanent is not retried",
                NotFound,
                &ok,
                fresh,
                only_retry,
                Plan(RecoveryPlan::GiveUp),
            ),
            (
                "retry: transient is retried",
                Network,
                &ok,
                fresh,
                only_retry,
                Retry(Strategy::Retry),
            ),
            (
                "nothing configured",
                Network,
                &ok,
                fresh,
                StrategyConfig::new(),
                Plan(RecoveryPlan::GiveUp),
            ),
        ];
        for (name, category, health, context, config, want) in cases {
            let plan = select_strategy(category, health, &context, &config);
            let good = match want {
                Plan(expected) => plan == expected,
                Retry(expected) => {
                    matches!(plan, RecoveryPlan::Retry { strategy, .. } if strategy == expected)
                }
            };
            assert!(good, "{name}: got {plan:?}");
        }
    }

    #[test]
    fn backoff_shapes_and_caps() {
        let config = StrategyConfig::new()
            .with_base_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_millis(1000))
            .with_jitter(false);
        let delays = |config: StrategyConfig, strategy| {
            (1..=5)
                .map(|n| retry_delay(strategy, &config, n, 0.5, None).as_millis())
                .collect::<Vec<_>>()
        };
        assert_eq!(delays(config, Strategy::Retry), [100, 200, 400, 800, 1000]);
        assert_eq!(
            delays(config.with_backoff(Backoff::Linear), Strategy::Retry),
            [100, 200, 300, 400, 500]
        );
        assert_eq!(
            delays(config.with_backoff(Backoff::Constant), Strategy::Retry),
            [100; 5]
        );
        // `network` is always exponential with full jitter.
        assert_eq!(
            delays(config.with_backoff(Backoff::Constant), Strategy::Network),
            [50, 100, 200, 400, 500]
        );
        assert_eq!(
            delays(config.with_jitter(true), Strategy::Retry),
            [50, 100, 200, 400, 500]
        );
        // A huge attempt number saturates instead of overflowing.
        assert_eq!(
            retry_delay(Strategy::Retry, &config, 200, 1.0, None),
            Duration::from_millis(1000)
        );
    }

    #[test]
    fn retry_after_is_honoured() {
        let config = StrategyConfig::new().with_strategy(Strategy::Network);
        let wait = Duration::from_secs(2);
        assert_eq!(
            retry_delay(Strategy::Network, &config, 1, 0.1, Some(wait)),
            wait
        );
        let context = RecoveryContext::new().with_retry_after(Some(wait));
        let plan = select_strategy(
            ErrorCategory::ResourceExhausted,
            &health(HealthStatus::Healthy),
            &context,
            &config,
        );
        assert_eq!(
            plan,
            RecoveryPlan::Retry {
                strategy: Strategy::Network,
                delay: wait
            }
        );
        // A wait that would pass max_elapsed is not made.
        let late = context.with_elapsed(Duration::from_secs(29));
        let plan = select_strategy(
            ErrorCategory::ResourceExhausted,
            &health(HealthStatus::Healthy),
            &late,
            &config,
        );
        assert_eq!(plan, RecoveryPlan::GiveUp);
    }
}
