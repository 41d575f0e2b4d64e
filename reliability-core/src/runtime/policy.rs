//! The settings every component shares unless it sets its own: thresholds,
//! the clock recovery waits on, the retry budget, the strategies
//! `handle_failure` plans with, and the jitter source.

use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::{Mutex, RwLock};

use crate::health::Thresholds;
use crate::record::clock::Clock;
use crate::record::clock_cell::ClockCell;
use crate::recovery::strategy::{RetryBudget, Strategy, StrategyConfig};

/// What `handle_failure` plans with until `set_default_strategies` says otherwise.
const DEFAULT_STRATEGIES: StrategyConfig = StrategyConfig::new()
    .with_strategy(Strategy::Retry)
    .with_strategy(Strategy::Network)
    .with_strategy(Strategy::Escalate);

pub(crate) struct Policy {
    thresholds: RwLock<Thresholds>,
    clock: ClockCell,
    retry_budget: RwLock<RetryBudget>,
    default_strategies: RwLock<StrategyConfig>,
    /// xorshift64* state for jitter.
    jitter: Mutex<u64>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("thresholds", &*self.thresholds.read())
            .field("retry_budget", &*self.retry_budget.read())
            .finish_non_exhaustive()
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            thresholds: RwLock::new(Thresholds::new()),
            clock: ClockCell::default(),
            retry_budget: RwLock::new(RetryBudget::new()),
            default_strategies: RwLock::new(DEFAULT_STRATEGIES),
            jitter: Mutex::new(seed_from_time()),
        }
    }
}

fn seed_from_time() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos | 1
}

impl Policy {
    pub(crate) fn thresholds(&self) -> Thresholds {
        *self.thresholds.read()
    }

    pub(crate) fn set_thresholds(&self, thresholds: Thresholds) {
        *self.thresholds.write() = thresholds;
    }

    /// The clock recovery waits on, as an `Arc` to keep (the recovery
    /// driver keeps one; a reference count is changed).
    pub(crate) fn clock(&self) -> Arc<dyn Clock> {
        self.clock.shared()
    }

    /// The clock recovery waits on, borrowed: one load, no lock, no
    /// reference count.
    #[inline]
    pub(crate) fn current_clock(&self) -> &dyn Clock {
        self.clock.current_clock()
    }

    /// Where the clock is kept: what a call site's limits read it from.
    pub(crate) fn clock_cell(&self) -> &ClockCell {
        &self.clock
    }

    pub(crate) fn set_clock(&self, clock: Arc<dyn Clock>) {
        self.clock.install(clock);
    }

    pub(crate) fn retry_budget(&self) -> RetryBudget {
        *self.retry_budget.read()
    }

    pub(crate) fn set_retry_budget(&self, budget: RetryBudget) {
        *self.retry_budget.write() = budget;
    }

    pub(crate) fn default_strategies(&self) -> StrategyConfig {
        *self.default_strategies.read()
    }

    pub(crate) fn set_default_strategies(&self, config: StrategyConfig) {
        *self.default_strategies.write() = config;
    }

    pub(crate) fn set_jitter_seed(&self, seed: u64) {
        *self.jitter.lock() = seed | 1;
    }

    /// A uniform sample in `[0, 1)` for jitter (xorshift64*).
    pub(crate) fn jitter_sample(&self) -> f64 {
        let mut state = self.jitter.lock();
        let mut x = *state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *state = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::record::clock::ManualClock;

    #[test]
    fn the_next_read_after_set_clock_sees_the_new_clock() {
        let policy = Policy::default();
        assert!(
            policy.clock_cell().installed_clock().is_none(),
            "the system clock"
        );
        let first = Arc::new(ManualClock::new());
        policy.set_clock(first.clone());
        first.advance(Duration::from_secs(5));
        assert_eq!(policy.current_clock().now(), first.now());
        let installed: Arc<dyn Clock> = first.clone();
        assert!(Arc::ptr_eq(&policy.clock(), &installed));

        // A reader still holding the first clock keeps a live one.
        let held = policy.current_clock();
        let second = Arc::new(ManualClock::new());
        policy.set_clock(second.clone());
        second.advance(Duration::from_secs(60));
        assert_eq!(held.now(), first.now());
        assert_eq!(policy.current_clock().now(), second.now());
        assert_ne!(policy.current_clock().now(), first.now());
    }

    #[test]
    fn a_clock_installed_and_dropped_with_its_policy_is_freed() {
        let clock = Arc::new(ManualClock::new());
        let policy = Policy::default();
        policy.set_clock(clock.clone());
        policy.set_clock(clock.clone());
        assert_eq!(Arc::strong_count(&clock), 3);
        drop(policy);
        assert_eq!(Arc::strong_count(&clock), 1);
    }

    #[test]
    fn a_seeded_jitter_repeats_and_stays_in_range() {
        let (a, b) = (Policy::default(), Policy::default());
        a.set_jitter_seed(42);
        b.set_jitter_seed(42);
        let first: Vec<f64> = (0..100).map(|_| a.jitter_sample()).collect();
        let second: Vec<f64> = (0..100).map(|_| b.jitter_sample()).collect();
        assert_eq!(first, second);
        assert!(first.iter().all(|x| (0.0..1.0).contains(x)));
        assert!(first.windows(2).any(|w| w[0] != w[1]));
    }
}
