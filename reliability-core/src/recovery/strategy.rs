//! What recovery may do for a method: the strategies and their settings.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use super::circuit::CircuitConfig;

/// One recovery strategy, as named in `strategies = [...]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Strategy {
    /// Retry any error that is not permanent, with the configured backoff.
    Retry,
    /// Retry transient errors only, with exponential backoff and full jitter,
    /// waiting at least as long as the error's `retry_after`.
    Network,
    /// For validation errors: call the repair method, then run the call again.
    Repair,
    /// Try other methods with the same arguments, in order.
    Alternatives,
    /// Call the fallback method with the same arguments.
    Fallback,
    /// Stop calling a failing component for a while.
    CircuitBreaker,
    /// The last resort: flag the component for a person to look at.
    Escalate,
    /// The rate limit (`rate_limit(...)`, not a member of `strategies`):
    /// named by the session step of a call it refused.
    RateLimit,
    /// The bulkhead (`bulkhead(...)`, not a member of `strategies`): named
    /// by the session step of a call it refused.
    Bulkhead,
}

impl Strategy {
    /// Every strategy of `strategies = [...]`, in the order of the recovery
    /// chain (the limits that also name steps, `RateLimit` and `Bulkhead`,
    /// are not among them).
    pub const ALL: [Strategy; 7] = [
        Strategy::CircuitBreaker,
        Strategy::Repair,
        Strategy::Retry,
        Strategy::Network,
        Strategy::Alternatives,
        Strategy::Fallback,
        Strategy::Escalate,
    ];

    /// The snake_case name used in the attribute and in reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            Strategy::Retry => "retry",
            Strategy::Network => "network",
            Strategy::Repair => "repair",
            Strategy::Alternatives => "alternatives",
            Strategy::Fallback => "fallback",
            Strategy::CircuitBreaker => "circuit_breaker",
            Strategy::Escalate => "escalate",
            Strategy::RateLimit => "rate_limit",
            Strategy::Bulkhead => "bulkhead",
        }
    }

    pub(crate) const fn bit(self) -> u16 {
        1 << self as u8
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the delay between retries grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Backoff {
    /// `base_delay` every time.
    Constant,
    /// `base_delay × n` before the n-th retry.
    Linear,
    /// `base_delay × 2^(n-1)` before the n-th retry.
    Exponential,
}

/// A set of strategies.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(into = "Vec<Strategy>", from = "Vec<Strategy>")]
pub struct StrategySet(u16);

impl StrategySet {
    /// No strategy.
    pub const EMPTY: StrategySet = StrategySet(0);

    /// The set with `strategy` added.
    #[must_use]
    pub const fn with(self, strategy: Strategy) -> Self {
        StrategySet(self.0 | strategy.bit())
    }

    /// The set without `strategy`.
    #[must_use]
    pub const fn without(self, strategy: Strategy) -> Self {
        StrategySet(self.0 & !strategy.bit())
    }

    /// Whether `strategy` is in the set.
    pub const fn contains(self, strategy: Strategy) -> bool {
        self.0 & strategy.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The strategies in the set, in chain order.
    pub fn iter(self) -> impl Iterator<Item = Strategy> {
        Strategy::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl fmt::Debug for StrategySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl From<StrategySet> for Vec<Strategy> {
    fn from(set: StrategySet) -> Self {
        set.iter().collect()
    }
}

impl From<Vec<Strategy>> for StrategySet {
    fn from(list: Vec<Strategy>) -> Self {
        list.into_iter().fold(StrategySet::EMPTY, StrategySet::with)
    }
}

impl FromIterator<Strategy> for StrategySet {
    fn from_iter<I: IntoIterator<Item = Strategy>>(iter: I) -> Self {
        iter.into_iter().fold(StrategySet::EMPTY, StrategySet::with)
    }
}

/// How one method recovers from a failure: which strategies, and their settings.
///
/// # Default
///
/// No strategy; `max_attempts = 3`, `backoff = exponential`,
/// `base_delay = 100 ms`, `max_delay = 5 s`, `jitter = true`,
/// `max_elapsed = 30 s`; no repair method, alternative or fallback; the
/// default [`CircuitConfig`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use reliability_core::{Strategy, StrategyConfig};
///
/// let config = StrategyConfig::new()
///     .with_strategy(Strategy::Network)
///     .with_strategy(Strategy::Escalate)
///     .with_max_attempts(4)
///     .with_base_delay(Duration::from_millis(50));
/// assert!(config.strategies().contains(Strategy::Network));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StrategyConfig {
    strategies: StrategySet,
    max_attempts: u32,
    backoff: Backoff,
    base_delay: Duration,
    max_delay: Duration,
    jitter: bool,
    max_elapsed: Duration,
    alternatives: u32,
    circuit: CircuitConfig,
}

impl StrategyConfig {
    /// The defaults listed above.
    pub const fn new() -> Self {
        StrategyConfig {
            strategies: StrategySet::EMPTY,
            max_attempts: 3,
            backoff: Backoff::Exponential,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            jitter: true,
            max_elapsed: Duration::from_secs(30),
            alternatives: 0,
            circuit: CircuitConfig::new(),
        }
    }

    /// Adds a strategy.
    #[must_use]
    pub const fn with_strategy(mut self, strategy: Strategy) -> Self {
        self.strategies = self.strategies.with(strategy);
        self
    }

    /// Total attempts of the call itself, the first included (at least 1).
    #[must_use]
    pub const fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// How `retry` spaces its attempts (`network` is always exponential).
    #[must_use]
    pub const fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The delay before the first retry.
    #[must_use]
    pub const fn with_base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// The longest delay between two attempts.
    #[must_use]
    pub const fn with_max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Whether `retry` draws each delay uniformly from zero to the backoff
    /// ("full jitter"; `network` always does).
    #[must_use]
    pub const fn with_jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// No retry starts once this long has passed since the call began.
    #[must_use]
    pub const fn with_max_elapsed(mut self, elapsed: Duration) -> Self {
        self.max_elapsed = elapsed;
        self
    }

    /// How many alternative methods there are.
    #[must_use]
    pub const fn with_alternatives(mut self, count: u32) -> Self {
        self.alternatives = count;
        self
    }

    /// The circuit breaker's settings.
    #[must_use]
    pub const fn with_circuit(mut self, circuit: CircuitConfig) -> Self {
        self.circuit = circuit;
        self
    }

    /// The strategies configured.
    pub const fn strategies(&self) -> StrategySet {
        self.strategies
    }

    /// Total attempts of the call itself.
    pub const fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// How `retry` spaces its attempts.
    pub const fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// The delay before the first retry.
    pub const fn base_delay(&self) -> Duration {
        self.base_delay
    }

    /// The longest delay between two attempts.
    pub const fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// Whether `retry` jitters its delays.
    pub const fn jitter(&self) -> bool {
        self.jitter
    }

    /// The time after which no retry starts.
    pub const fn max_elapsed(&self) -> Duration {
        self.max_elapsed
    }

    /// How many alternative methods there are.
    pub const fn alternatives(&self) -> u32 {
        self.alternatives
    }

    /// The circuit breaker's settings.
    pub const fn circuit(&self) -> CircuitConfig {
        self.circuit
    }
}

impl Default for StrategyConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// How many retries a component may make, so that recovery does not
/// multiply the load on something that is down.
///
/// Over the last `window`, retries may reach `ratio` times the calls made
/// plus `per_second` for each second of the window.
///
/// # Default
///
/// `ratio = 0.2`, `per_second = 10`, `window = 10 s`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetryBudget {
    ratio: f64,
    per_second: u32,
    window: Duration,
}

impl RetryBudget {
    /// The defaults listed above.
    pub const fn new() -> Self {
        RetryBudget {
            ratio: 0.2,
            per_second: 10,
            window: Duration::from_secs(10),
        }
    }

    /// Retries allowed per call made in the window.
    #[must_use]
    pub const fn with_ratio(mut self, ratio: f64) -> Self {
        self.ratio = ratio;
        self
    }

    /// Retries allowed per second of the window, whatever the traffic.
    #[must_use]
    pub const fn with_per_second(mut self, retries: u32) -> Self {
        self.per_second = retries;
        self
    }

    /// How far back the budget looks (at least one second).
    #[must_use]
    pub const fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Retries allowed per call made in the window.
    pub const fn ratio(&self) -> f64 {
        self.ratio
    }

    /// Retries allowed per second of the window.
    pub const fn per_second(&self) -> u32 {
        self.per_second
    }

    /// How far back the budget looks.
    pub const fn window(&self) -> Duration {
        self.window
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new()
    }
}

/// What the attribute configured for a method's recovery.
#[doc(hidden)]
#[derive(Debug)]
pub struct RecoveryMeta {
    /// Strategies and their settings.
    pub config: StrategyConfig,
    /// The repair method's name.
    pub repair: Option<&'static str>,
    /// The alternatives' names, in order.
    pub alternatives: &'static [&'static str],
    /// The fallback's name.
    pub fallback: Option<&'static str>,
    /// The component's retry budget, if the attribute set one.
    pub budget: Option<RetryBudget>,
    /// `timeout`, `bulkhead`, `rate_limit`, `hedge`.
    pub limits: crate::recovery::limits::Limits,
}
