//! A point-in-time copy of every counter, for reading, printing and exporting.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::component::{mean, rate};
use crate::health::ComponentHealth;
use crate::histogram::quantile;
use crate::site::SiteReading;

/// Every component's counters and health at one moment.
///
/// Serializes with serde (and round-trips through JSON); `Display` renders a
/// table for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// When the snapshot was taken.
    pub taken_at: SystemTime,
    /// Totals over every component.
    pub system: SystemMetrics,
    /// Each component, sorted by name.
    pub components: Vec<ComponentSnapshot>,
}

impl MetricsSnapshot {
    /// The component called `name`.
    pub fn component(&self, name: &str) -> Option<&ComponentSnapshot> {
        self.components.iter().find(|c| c.name == name)
    }

    /// The snapshot as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Serializing these plain data types cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub(crate) fn new(taken_at: SystemTime, components: Vec<ComponentSnapshot>) -> Self {
        let mut system = SystemMetrics {
            components: components.len(),
            ..SystemMetrics::default()
        };
        let mut nanos: u128 = 0;
        let mut completed = 0u64;
        for component in &components {
            for method in &component.methods {
                system.calls += method.calls;
                system.successes += method.successes;
                system.failures += method.failures;
                system.cancelled += method.cancelled;
                let done = method.successes + method.failures;
                completed += done;
                nanos += method.latency.mean.as_nanos() * u128::from(done);
            }
        }
        system.success_rate = rate(system.successes, completed);
        system.mean_latency = u64::try_from(nanos.checked_div(u128::from(completed)).unwrap_or(0))
            .map(Duration::from_nanos)
            .unwrap_or(Duration::MAX);
        MetricsSnapshot {
            taken_at,
            system,
            components,
        }
    }
}

/// Totals over every component.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SystemMetrics {
    /// Components registered.
    pub components: usize,
    /// Calls started.
    pub calls: u64,
    /// Calls that succeeded.
    pub successes: u64,
    /// Calls that failed (errors and panics).
    pub failures: u64,
    /// Calls abandoned before they completed.
    pub cancelled: u64,
    /// Successes over completed calls; 1 when none completed.
    pub success_rate: f64,
    /// Mean latency of completed calls.
    pub mean_latency: Duration,
}

/// One component: its health and its methods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ComponentSnapshot {
    /// The component's name.
    pub name: String,
    /// Its health when the snapshot was taken.
    pub health: ComponentHealth,
    /// Each instrumented method that reports to it, sorted by name.
    pub methods: Vec<MethodSnapshot>,
}

impl ComponentSnapshot {
    /// The method called `name`.
    pub fn method(&self, name: &str) -> Option<&MethodSnapshot> {
        self.methods.iter().find(|m| m.name == name)
    }
}

/// One method's counters. `calls == successes + failures + cancelled`;
/// `panics` are counted among the failures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MethodSnapshot {
    /// The method's name.
    pub name: String,
    /// Calls started.
    pub calls: u64,
    /// Calls that succeeded.
    pub successes: u64,
    /// Calls that returned an error or panicked.
    pub failures: u64,
    /// Calls that panicked.
    pub panics: u64,
    /// Calls abandoned before they completed.
    pub cancelled: u64,
    /// Latency of completed calls.
    pub latency: LatencySummary,
    /// The last error's text, truncated to 256 bytes.
    pub last_error: Option<String>,
}

impl MethodSnapshot {
    pub(crate) fn from_reading(name: &str, reading: SiteReading) -> Self {
        let completed = reading.successes + reading.failures;
        let counted: u64 = reading.buckets.iter().sum();
        let q = |q: f64| {
            Duration::from_nanos(quantile(&reading.buckets, counted, q, reading.max_nanos))
        };
        MethodSnapshot {
            name: name.to_owned(),
            calls: completed + reading.cancelled,
            successes: reading.successes,
            failures: reading.failures,
            panics: reading.panics,
            cancelled: reading.cancelled,
            latency: LatencySummary {
                mean: mean(reading.nanos, completed),
                p50: q(0.5),
                p95: q(0.95),
                p99: q(0.99),
                max: Duration::from_nanos(reading.max_nanos),
            },
            last_error: reading.last_error,
        }
    }
}

/// Latency of a method's completed calls. Percentiles come from a
/// log-linear histogram and are within 6.25 % of the true value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LatencySummary {
    /// Mean latency.
    pub mean: Duration,
    /// Median.
    pub p50: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// The slowest call.
    pub max: Duration,
}

/// A duration in the unit that reads best: `850ns`, `12.3µs`, `4.56ms`, `1.20s`.
pub(crate) struct Human(pub Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos() as f64;
        let text = if nanos < 1e3 {
            format!("{nanos:.0}ns")
        } else if nanos < 1e6 {
            format!("{:.1}µs", nanos / 1e3)
        } else if nanos < 1e9 {
            format!("{:.2}ms", nanos / 1e6)
        } else {
            format!("{:.2}s", nanos / 1e9)
        };
        f.pad(&text)
    }
}

impl fmt::Display for MetricsSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<28} {:<9} {:>8} {:>8} {:>6} {:>7} {:>9} {:>9} {:>9}",
            "component / method",
            "status",
            "calls",
            "failures",
            "panics",
            "success",
            "p50",
            "p95",
            "p99"
        )?;
        for component in &self.components {
            let health = &component.health;
            writeln!(
                f,
                "{:<28} {:<9} {:>8} {:>8} {:>6} {:>6.1}% {:>9} {:>9} {:>9}",
                component.name,
                health.status.as_str(),
                health.calls,
                health.failures,
                component.methods.iter().map(|m| m.panics).sum::<u64>(),
                health.success_rate * 100.0,
                "",
                "",
                "",
            )?;
            for method in &component.methods {
                let completed = method.successes + method.failures;
                writeln!(
                    f,
                    "  {:<26} {:<9} {:>8} {:>8} {:>6} {:>6.1}% {:>9} {:>9} {:>9}",
                    method.name,
                    "",
                    method.calls,
                    method.failures,
                    method.panics,
                    rate(method.successes, completed) * 100.0,
                    Human(method.latency.p50),
                    Human(method.latency.p95),
                    Human(method.latency.p99),
                )?;
            }
            if let Some(reason) = &health.reason {
                writeln!(f, "  ! {reason}")?;
            }
        }
        write!(
            f,
            "{} components, {} calls, {} failures, success rate {:.1}%, mean latency {}",
            self.system.components,
            self.system.calls,
            self.system.failures,
            self.system.success_rate * 100.0,
            Human(self.system.mean_latency),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_pick_a_unit() {
        assert_eq!(Human(Duration::from_nanos(850)).to_string(), "850ns");
        assert_eq!(Human(Duration::from_nanos(12_300)).to_string(), "12.3µs");
        assert_eq!(Human(Duration::from_micros(4_560)).to_string(), "4.56ms");
        assert_eq!(Human(Duration::from_millis(1_200)).to_string(), "1.20s");
    }
}
