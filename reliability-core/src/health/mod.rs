//! Health thresholds, the status they decide, and the recent window it is decided over.

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::recovery::circuit::CircuitState;

/// Where a component's health turns from healthy to degraded to unhealthy.
///
/// A component is **unhealthy** when its consecutive failures reach
/// `max_consecutive_failures`, or when at least `min_calls` calls completed
/// in the recent window and fewer than `min_success_rate` of them succeeded.
/// It is **degraded** when that windowed success rate is below
/// `degraded_success_rate`, or when the mean latency over the window exceeds
/// `slow_call`. Otherwise it is **healthy**.
///
/// The window is time based: the rate covers the calls completed since the
/// newest evaluation that is at least `window` old (every snapshot and health
/// query is an evaluation; the background monitor makes one per tick). So it
/// spans at least `window`, and at most `window` plus the gap between two
/// evaluations.
///
/// # Default
///
/// | setting | value |
/// |---|---|
/// | `max_consecutive_failures` | 3 |
/// | `min_success_rate` | 0.5 |
/// | `degraded_success_rate` | 0.9 |
/// | `slow_call` | 5 s |
/// | `window` | 60 s |
/// | `min_calls` | 5 |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use reliability_core::Thresholds;
///
/// let strict = Thresholds::new()
///     .with_max_consecutive_failures(5)
///     .with_min_success_rate(0.8)
///     .with_slow_call(Some(Duration::from_millis(250)));
/// assert!(strict.validate().is_ok());
/// reliability_core::manager().set_thresholds(strict).unwrap();
/// # reliability_core::manager().set_thresholds(Thresholds::new()).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    max_consecutive_failures: u32,
    min_success_rate: f64,
    degraded_success_rate: f64,
    slow_call: Option<Duration>,
    window: Duration,
    min_calls: u32,
}

impl Thresholds {
    /// The defaults listed above.
    pub const fn new() -> Self {
        Thresholds {
            max_consecutive_failures: 3,
            min_success_rate: 0.5,
            degraded_success_rate: 0.9,
            slow_call: Some(Duration::from_secs(5)),
            window: Duration::from_secs(60),
            min_calls: 5,
        }
    }

    /// Consecutive failures that make a component unhealthy (at least 1).
    #[must_use]
    pub const fn with_max_consecutive_failures(mut self, failures: u32) -> Self {
        self.max_consecutive_failures = failures;
        self
    }

    /// Windowed success rate below which a component is unhealthy (0 to 1).
    #[must_use]
    pub const fn with_min_success_rate(mut self, rate: f64) -> Self {
        self.min_success_rate = rate;
        self
    }

    /// Windowed success rate below which a component is degraded (0 to 1,
    /// at least `min_success_rate`).
    #[must_use]
    pub const fn with_degraded_success_rate(mut self, rate: f64) -> Self {
        self.degraded_success_rate = rate;
        self
    }

    /// Windowed mean latency above which a component is degraded; `None` turns the check off.
    #[must_use]
    pub const fn with_slow_call(mut self, latency: Option<Duration>) -> Self {
        self.slow_call = latency;
        self
    }

    /// How far back the success rate and mean latency look (more than zero).
    #[must_use]
    pub const fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Completed calls in the window below which the rate checks do not apply.
    #[must_use]
    pub const fn with_min_calls(mut self, calls: u32) -> Self {
        self.min_calls = calls;
        self
    }

    /// Consecutive failures that make a component unhealthy.
    pub const fn max_consecutive_failures(&self) -> u32 {
        self.max_consecutive_failures
    }

    /// Windowed success rate below which a component is unhealthy.
    pub const fn min_success_rate(&self) -> f64 {
        self.min_success_rate
    }

    /// Windowed success rate below which a component is degraded.
    pub const fn degraded_success_rate(&self) -> f64 {
        self.degraded_success_rate
    }

    /// Windowed mean latency above which a component is degraded.
    pub const fn slow_call(&self) -> Option<Duration> {
        self.slow_call
    }

    /// How far back the windowed figures look.
    pub const fn window(&self) -> Duration {
        self.window
    }

    /// Completed calls in the window below which the rate checks do not apply.
    pub const fn min_calls(&self) -> u32 {
        self.min_calls
    }

    /// Checks that every setting is in range.
    pub fn validate(&self) -> Result<(), ThresholdError> {
        if self.max_consecutive_failures == 0 {
            return Err(ThresholdError::ZeroConsecutiveFailures);
        }
        for (setting, value) in [
            ("min_success_rate", self.min_success_rate),
            ("degraded_success_rate", self.degraded_success_rate),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(ThresholdError::RateOutOfRange { setting, value });
            }
        }
        if self.degraded_success_rate < self.min_success_rate {
            return Err(ThresholdError::DegradedBelowUnhealthy {
                degraded: self.degraded_success_rate,
                unhealthy: self.min_success_rate,
            });
        }
        if self.window.is_zero() {
            return Err(ThresholdError::ZeroWindow);
        }
        Ok(())
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a [`Thresholds`] value was refused.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ThresholdError {
    /// `max_consecutive_failures` was 0: every component would be unhealthy.
    ZeroConsecutiveFailures,
    /// A success rate was outside 0 to 1.
    RateOutOfRange {
        /// The setting's name.
        setting: &'static str,
        /// The value given.
        value: f64,
    },
    /// `degraded_success_rate` was below `min_success_rate`.
    DegradedBelowUnhealthy {
        /// The degraded threshold given.
        degraded: f64,
        /// The unhealthy threshold given.
        unhealthy: f64,
    },
    /// The window was zero.
    ZeroWindow,
}

impl fmt::Display for ThresholdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThresholdError::ZeroConsecutiveFailures => {
                f.write_str("max_consecutive_failures must be at least 1")
            }
            ThresholdError::RateOutOfRange { setting, value } => {
                write!(f, "{setting} must be between 0 and 1, got {value}")
            }
            ThresholdError::DegradedBelowUnhealthy {
                degraded,
                unhealthy,
            } => write!(
                f,
                "degraded_success_rate ({degraded}) must not be below min_success_rate ({unhealthy})"
            ),
            ThresholdError::ZeroWindow => f.write_str("window must be longer than zero"),
        }
    }
}

impl std::error::Error for ThresholdError {}

/// A component's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Within every threshold.
    Healthy,
    /// Slow, or failing more often than it should, but mostly working.
    Degraded,
    /// Failing: consecutive failures or the windowed success rate crossed their limit.
    Unhealthy,
}

impl HealthStatus {
    /// The lowercase name used in reports and exports.
    pub const fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One component's health, as of the moment it was asked for.
///
/// Totals (`calls`, `successes`, `failures`) count since the start (or the
/// last [`reset`](crate::ReliabilityManager::reset)); `success_rate` and
/// `mean_latency` cover the recent window described on [`Thresholds`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ComponentHealth {
    /// The component's name.
    pub component: String,
    /// The instance's id, for an instance's health (see
    /// [`Instance`](crate::Instance)); `None` for a component's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The status the thresholds give.
    pub status: HealthStatus,
    /// Why the status is not healthy; `None` when it is.
    pub reason: Option<String>,
    /// Calls started, completed or not.
    pub calls: u64,
    /// Calls that returned success.
    pub successes: u64,
    /// Calls that returned an error or panicked.
    pub failures: u64,
    /// Successes over completed calls in the window; 1 when none completed.
    pub success_rate: f64,
    /// Completed calls in the window.
    pub window_calls: u64,
    /// Failures since the last success.
    pub consecutive_failures: u64,
    /// Mean latency of the calls completed in the window.
    pub mean_latency: Duration,
    /// The last error's text, truncated to 256 bytes.
    pub last_error: Option<String>,
    /// When the last failure happened.
    pub last_failure_at: Option<SystemTime>,
    /// Set when a recovery escalated; cleared by
    /// [`acknowledge`](crate::ReliabilityManager::acknowledge).
    pub needs_attention: bool,
    /// Recovery steps tried for this component (retries, repairs,
    /// alternatives, fallbacks, escalations).
    pub recovery_attempts: u64,
    /// The circuit's state, when the component has a circuit breaker.
    pub circuit: Option<CircuitState>,
}

impl ComponentHealth {
    /// The health of a component that has seen no call.
    pub(crate) fn empty(component: &str) -> Self {
        ComponentHealth {
            component: component.to_owned(),
            instance: None,
            status: HealthStatus::Healthy,
            reason: None,
            calls: 0,
            successes: 0,
            failures: 0,
            success_rate: 1.0,
            window_calls: 0,
            consecutive_failures: 0,
            mean_latency: Duration::ZERO,
            last_error: None,
            last_failure_at: None,
            needs_attention: false,
            recovery_attempts: 0,
            circuit: None,
        }
    }
}

/// Cumulative counters of a component at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub completed: u64,
    pub successes: u64,
    pub nanos: u64,
}

impl Totals {
    fn since(self, earlier: Totals) -> Totals {
        Totals {
            completed: self.completed.saturating_sub(earlier.completed),
            successes: self.successes.saturating_sub(earlier.successes),
            nanos: self.nanos.saturating_sub(earlier.nanos),
        }
    }
}

const CHECKPOINTS: usize = 16;
/// Checkpoints per window: the ring then spans about two windows.
const CHECKPOINTS_PER_WINDOW: u32 = 8;

/// A ring of cumulative-counter checkpoints from which windowed rates are
/// derived, so the call path never touches a window.
#[derive(Debug)]
pub(crate) struct Window {
    ring: [Option<(Instant, Totals)>; CHECKPOINTS],
    newest: usize,
}

impl Window {
    pub(crate) fn new(at: Instant) -> Self {
        let mut ring = [None; CHECKPOINTS];
        ring[0] = Some((at, Totals::default()));
        Window { ring, newest: 0 }
    }

    /// Records `now`'s totals (at most one checkpoint per slot of the window)
    /// and returns the activity over the window that ends now.
    pub(crate) fn advance(&mut self, now: Instant, totals: Totals, window: Duration) -> Totals {
        let slot = window / CHECKPOINTS_PER_WINDOW;
        let base = self.base(now, window);
        let newest_at = self.ring[self.newest].map(|(at, _)| at);
        if newest_at.is_none_or(|at| now.saturating_duration_since(at) >= slot) {
            self.newest = (self.newest + 1) % CHECKPOINTS;
            self.ring[self.newest] = Some((now, totals));
        }
        totals.since(base)
    }

    /// The newest checkpoint at least `window` before `now`, else the oldest one.
    fn base(&self, now: Instant, window: Duration) -> Totals {
        let cutoff = now.checked_sub(window);
        let mut best: Option<(Instant, Totals)> = None;
        let mut oldest: Option<(Instant, Totals)> = None;
        for (at, totals) in self.ring.iter().flatten().copied() {
            if oldest.is_none_or(|(o, _)| at < o) {
                oldest = Some((at, totals));
            }
            if cutoff.is_some_and(|c| at <= c) && best.is_none_or(|(b, _)| at > b) {
                best = Some((at, totals));
            }
        }
        best.or(oldest).map(|(_, t)| t).unwrap_or_default()
    }
}

/// `part / whole`, or 1 when nothing was counted.
pub(crate) fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

/// The mean of `count` durations that add up to `nanos`.
pub(crate) fn mean(nanos: u64, count: u64) -> Duration {
    Duration::from_nanos(nanos.checked_div(count).unwrap_or(0))
}

/// Applies the thresholds; returns the status and, when not healthy, why.
pub(crate) fn evaluate(
    thresholds: &Thresholds,
    consecutive_failures: u64,
    window: Totals,
) -> (HealthStatus, Option<String>) {
    let limit = u64::from(thresholds.max_consecutive_failures);
    if consecutive_failures >= limit {
        return (
            HealthStatus::Unhealthy,
            Some(format!(
                "{consecutive_failures} consecutive failures (limit {limit})"
            )),
        );
    }
    if window.completed >= u64::from(thresholds.min_calls) && window.completed > 0 {
        let rate = window.successes as f64 / window.completed as f64;
        if rate < thresholds.min_success_rate {
            return (
                HealthStatus::Unhealthy,
                Some(format!(
                    "success rate {rate:.2} below {} over {} calls",
                    thresholds.min_success_rate, window.completed
                )),
            );
        }
        if rate < thresholds.degraded_success_rate {
            return (
                HealthStatus::Degraded,
                Some(format!(
                    "success rate {rate:.2} below {} over {} calls",
                    thresholds.degraded_success_rate, window.completed
                )),
            );
        }
    }
    if let (Some(slow), true) = (thresholds.slow_call, window.completed > 0) {
        let mean = Duration::from_nanos(window.nanos / window.completed);
        if mean > slow {
            return (
                HealthStatus::Degraded,
                Some(format!("mean latency {mean:?} above {slow:?}")),
            );
        }
    }
    (HealthStatus::Healthy, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(completed: u64, successes: u64) -> Totals {
        Totals {
            completed,
            successes,
            nanos: completed * 1_000,
        }
    }

    #[test]
    fn defaults_validate_and_bad_values_are_refused() {
        assert_eq!(Thresholds::new().validate(), Ok(()));
        assert_eq!(
            Thresholds::new()
                .with_max_consecutive_failures(0)
                .validate(),
            Err(ThresholdError::ZeroConsecutiveFailures)
        );
        assert!(matches!(
            Thresholds::new().with_min_success_rate(1.5).validate(),
            Err(ThresholdError::RateOutOfRange {
                setting: "min_success_rate",
                ..
            })
        ));
        assert!(matches!(
            Thresholds::new().with_min_success_rate(f64::NAN).validate(),
            Err(ThresholdError::RateOutOfRange { .. })
        ));
        assert!(matches!(
            Thresholds::new()
                .with_min_success_rate(0.9)
                .with_degraded_success_rate(0.8)
                .validate(),
            Err(ThresholdError::DegradedBelowUnhealthy { .. })
        ));
        assert_eq!(
            Thresholds::new().with_window(Duration::ZERO).validate(),
            Err(ThresholdError::ZeroWindow)
        );
    }

    #[test]
    fn status_table() {
        let t = Thresholds::new();
        let cases = [
            (0, totals(0, 0), HealthStatus::Healthy),
            (2, totals(2, 0), HealthStatus::Healthy),
            (3, totals(3, 0), HealthStatus::Unhealthy),
            (0, totals(10, 4), HealthStatus::Unhealthy),
            (0, totals(10, 5), HealthStatus::Degraded),
            (0, totals(10, 8), HealthStatus::Degraded),
            (0, totals(10, 9), HealthStatus::Healthy),
            // Too few calls for the rate checks.
            (1, totals(4, 1), HealthStatus::Healthy),
        ];
        for (consecutive, window, expected) in cases {
            let (status, reason) = evaluate(&t, consecutive, window);
            assert_eq!(status, expected, "{consecutive} {window:?}");
            assert_eq!(reason.is_none(), expected == HealthStatus::Healthy);
        }
    }

    #[test]
    fn slow_calls_degrade() {
        let t = Thresholds::new().with_slow_call(Some(Duration::from_millis(1)));
        let slow = Totals {
            completed: 2,
            successes: 2,
            nanos: 4_000_000,
        };
        assert_eq!(evaluate(&t, 0, slow).0, HealthStatus::Degraded);
        let off = t.with_slow_call(None);
        assert_eq!(evaluate(&off, 0, slow).0, HealthStatus::Healthy);
    }

    #[test]
    fn window_forgets_old_failures() {
        let start = Instant::now();
        let window = Duration::from_secs(60);
        let mut w = Window::new(start);
        // 10 failures in the first ten seconds, evaluated then.
        let early = w.advance(start + Duration::from_secs(10), totals(10, 0), window);
        assert_eq!(early, totals(10, 0));
        // Two minutes later, 100 more calls, all successes.
        let late = w.advance(start + Duration::from_secs(120), totals(110, 100), window);
        assert_eq!(late.completed, 100);
        assert_eq!(late.successes, 100);
        // Within the next window, the base is the checkpoint taken at 120 s.
        let later = w.advance(start + Duration::from_secs(185), totals(120, 105), window);
        assert_eq!(later.completed, 10);
        assert_eq!(later.successes, 5);
    }

    #[test]
    fn window_without_an_old_checkpoint_counts_from_the_oldest() {
        let start = Instant::now();
        let mut w = Window::new(start);
        let got = w.advance(
            start + Duration::from_secs(5),
            totals(7, 6),
            Duration::from_secs(60),
        );
        assert_eq!(got, totals(7, 6));
    }

    #[test]
    fn window_ring_stays_bounded() {
        let start = Instant::now();
        let window = Duration::from_secs(8);
        let mut w = Window::new(start);
        for second in 1..1000u64 {
            w.advance(
                start + Duration::from_secs(second),
                totals(second, second),
                window,
            );
        }
        assert_eq!(w.ring.iter().flatten().count(), CHECKPOINTS);
        let got = w.advance(
            start + Duration::from_secs(1000),
            totals(1000, 1000),
            window,
        );
        assert_eq!(got.completed, 8);
    }
}
