//! A point-in-time copy of every counter, for reading, printing and exporting.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::classify::ErrorCategory;
use crate::export::instance_series::InstanceSeries;
use crate::health::{mean, rate, ComponentHealth};

use crate::export::instance_methods::{CallCounts, InstanceMethods};
use crate::export::latency::shape_latency;
use crate::record::site::{SiteReading, SiteShape};
use crate::recovery::limits::RejectReason;
use crate::recovery::strategy::Strategy;
use crate::runtime::component::ComponentReading;

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
        crate::export::json::to_string_pretty(self).unwrap_or_default()
    }

    pub(crate) fn new(
        taken_at: SystemTime,
        components: Vec<ComponentSnapshot>,
        uptime: f64,
    ) -> Self {
        let mut system = SystemMetrics {
            components: components.len(),
            uptime,
            ..SystemMetrics::default()
        };
        let mut nanos: u128 = 0;
        let mut completed = 0u64;
        for component in &components {
            system.recovery_sessions += component.recovery.sessions;
            system.recovered += component.recovery.recovered;
            system.escalated += component.recovery.escalated;
            system.rejected += component.rejected;
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
        system.recovery_success_rate = rate(system.recovered, system.recovery_sessions);
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
    /// Calls that needed recovery, over every component.
    pub recovery_sessions: u64,
    /// Of those, the ones that recovered.
    pub recovered: u64,
    /// Of those, the ones that escalated.
    pub escalated: u64,
    /// `recovered / recovery_sessions`; 1 when there was none.
    pub recovery_success_rate: f64,
    /// Calls refused by an open circuit.
    pub rejected: u64,
    /// The share of monitored time no component was unhealthy (1 when the
    /// monitor has not run).
    pub uptime: f64,
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
    /// Failed attempts by the category of their error (retried attempts
    /// included); categories never seen are left out.
    pub failures_by_category: BTreeMap<ErrorCategory, u64>,
    /// Each strategy that has been tried here: repair, retry, network,
    /// alternatives and fallback (escalations and rejections are counted in
    /// `recovery` and `rejected`).
    pub strategies: Vec<StrategyStats>,
    /// The recovery sessions and how they ended.
    pub recovery: RecoveryStats,
    /// Calls refused before they ran: by an open circuit, a full bulkhead
    /// or the rate limit.
    pub rejected: u64,
    /// The same calls, by what refused them.
    #[serde(default)]
    pub rejected_by: RejectedCalls,
    /// Calls inside the component's bulkhead now (0 without a bulkhead).
    #[serde(default)]
    pub in_flight: u64,
    /// The share of monitored time it was not unhealthy (1 when the monitor has not run).
    pub uptime: f64,
    /// Its instances (see [`Instance`](crate::Instance)), in the order they
    /// were first seen. The component's own figures above count each
    /// instance's calls once, beside the calls of methods without `self`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<InstanceSnapshot>,
    /// Which series its instances have in the exposition, as set when the
    /// snapshot was taken ([`ReliabilityManager::set_instance_series`](crate::ReliabilityManager::set_instance_series)).
    #[serde(default, skip_serializing_if = "InstanceSeries::is_default")]
    pub instance_series: InstanceSeries,
}

/// One instance of a component: its own health, methods and recovery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InstanceSnapshot {
    /// The instance's id.
    pub id: String,
    /// Its health, under its component's thresholds.
    pub health: ComponentHealth,
    /// Each method it has called, sorted by name; shaped on first access.
    pub methods: InstanceMethods,
    /// Its failed attempts by category; categories never seen are left out.
    pub failures_by_category: BTreeMap<ErrorCategory, u64>,
    /// Each strategy that has been tried for it.
    pub strategies: Vec<StrategyStats>,
    /// Its recovery sessions and how they ended.
    pub recovery: RecoveryStats,
    /// Its calls refused before they ran.
    pub rejected: u64,
    /// The same calls, by what refused them.
    #[serde(default)]
    pub rejected_by: RejectedCalls,
    /// Its calls inside its bulkhead now.
    #[serde(default)]
    pub in_flight: u64,
}

impl InstanceSnapshot {
    /// The method called `name`.
    pub fn method(&self, name: &str) -> Option<&MethodSnapshot> {
        self.methods.iter().find(|m| m.name == name)
    }

    /// Shapes an instance's reading for readers, keeping a copy of its
    /// methods as read until they are first looked at.
    pub(crate) fn from_reading(reading: ComponentReading) -> Self {
        Self::from_reading_keeping_room(reading).0
    }

    /// [`from_reading`](Self::from_reading), handing back the reading's
    /// methods for the next reading to read over.
    pub(crate) fn from_reading_keeping_room(
        mut reading: ComponentReading,
    ) -> (Self, Vec<(&'static str, SiteReading)>) {
        let room = std::mem::take(&mut reading.methods);
        let methods = InstanceMethods::from_readings(&room);
        (Self::with_methods(reading, methods), room)
    }

    /// Shapes a reading (an instance's, or a component's without its
    /// instances and methods) around `methods`.
    fn with_methods(reading: ComponentReading, methods: InstanceMethods) -> Self {
        let failures_by_category = ErrorCategory::ALL
            .into_iter()
            .zip(reading.categories)
            .filter(|(_, count)| *count > 0)
            .collect();
        // The records are indexed by `Strategy::index`, not in `ALL`'s order.
        let strategies = Strategy::ALL
            .into_iter()
            .map(|strategy| (strategy, reading.strategies[strategy.index()]))
            .filter(|(_, record)| record.attempts > 0)
            .map(|(strategy, record)| StrategyStats {
                strategy,
                attempts: record.attempts,
                successes: record.successes,
                success_rate: rate(record.successes, record.attempts),
            })
            .collect();
        let sessions = reading.sessions;
        InstanceSnapshot {
            id: reading.instance.unwrap_or_default().to_owned(),
            health: reading.health,
            methods,
            failures_by_category,
            strategies,
            recovery: RecoveryStats {
                sessions: sessions.sessions,
                recovered: sessions.recovered,
                escalated: sessions.escalated,
                success_rate: rate(sessions.recovered, sessions.sessions),
                budget_exhausted: sessions.budget_exhausted,
            },
            rejected: reading.rejected,
            rejected_by: RejectedCalls::split(reading.rejected, reading.rejected_by_limits),
            in_flight: reading.in_flight,
        }
    }
}

/// Calls refused before they ran, by what refused them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RejectedCalls {
    /// By an open circuit.
    pub circuit_open: u64,
    /// By a bulkhead that stayed full for `max_wait`.
    pub bulkhead_full: u64,
    /// By the rate limit.
    pub rate_limited: u64,
}

impl RejectedCalls {
    fn of(reading: &SiteReading) -> Self {
        Self::split(
            reading.rejected,
            [reading.rejected_bulkhead, reading.rejected_rate_limit],
        )
    }

    /// `rejected` in all, of which `[bulkhead, rate limit]` by the limits.
    fn split(rejected: u64, [bulkhead_full, rate_limited]: [u64; 2]) -> Self {
        RejectedCalls {
            circuit_open: rejected.saturating_sub(bulkhead_full + rate_limited),
            bulkhead_full,
            rate_limited,
        }
    }

    /// The count for `reason`.
    pub fn by(&self, reason: RejectReason) -> u64 {
        match reason {
            RejectReason::CircuitOpen => self.circuit_open,
            RejectReason::BulkheadFull => self.bulkhead_full,
            RejectReason::RateLimited => self.rate_limited,
        }
    }
}

/// How one strategy has done for a component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StrategyStats {
    /// The strategy.
    pub strategy: Strategy,
    /// Times it was tried.
    pub attempts: u64,
    /// Times it succeeded.
    pub successes: u64,
    /// `successes / attempts`.
    pub success_rate: f64,
}

/// A component's recovery sessions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RecoveryStats {
    /// Calls that needed recovery.
    pub sessions: u64,
    /// Of those, the ones that recovered.
    pub recovered: u64,
    /// Of those, the ones that escalated.
    pub escalated: u64,
    /// `recovered / sessions`; 1 when there was none.
    pub success_rate: f64,
    /// Retries that recovery wanted but the empty retry budget refused.
    #[serde(default)]
    pub budget_exhausted: u64,
}

impl ComponentSnapshot {
    /// Shapes a component's reading for readers: methods with percentiles,
    /// categories and strategies that were seen, rates.
    pub(crate) fn from_reading(mut reading: ComponentReading, uptime: f64) -> Self {
        let name = reading.name.to_owned();
        let name_for_series = reading.name;
        let instances = std::mem::take(&mut reading.instances)
            .into_iter()
            .map(InstanceSnapshot::from_reading)
            .collect();
        let methods = std::mem::take(&mut reading.methods)
            .into_iter()
            .map(|(name, reading)| MethodSnapshot::from_reading(name, reading))
            .collect();
        let InstanceSnapshot {
            id: _,
            health,
            methods: _,
            failures_by_category,
            strategies,
            recovery,
            rejected,
            rejected_by,
            in_flight,
        } = InstanceSnapshot::with_methods(reading, InstanceMethods::default());
        ComponentSnapshot {
            name,
            health,
            methods,
            failures_by_category,
            strategies,
            recovery,
            rejected,
            rejected_by,
            in_flight,
            uptime,
            instances,
            instance_series: crate::export::instance_series::of(name_for_series),
        }
    }

    /// With `instances` as its instances (shaped apart, as they were read).
    pub(crate) fn with_instances(mut self, instances: Vec<InstanceSnapshot>) -> Self {
        self.instances = instances;
        self
    }

    /// The instance called `id`.
    pub fn instance(&self, id: &str) -> Option<&InstanceSnapshot> {
        self.instances.iter().find(|i| i.id == id)
    }

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
    /// Times the body ran, retries and re-runs after a repair included.
    pub attempts: u64,
    /// Calls refused before they ran, by an open circuit, a full bulkhead
    /// or the rate limit (their fallback, if any, ran).
    pub rejected: u64,
    /// The same calls, by what refused them.
    #[serde(default)]
    pub rejected_by: RejectedCalls,
    /// Attempts dropped by their `timeout` (each a failed attempt, not a
    /// cancelled call).
    #[serde(default)]
    pub timeouts: u64,
    /// Hedged alternatives that returned the call's value.
    #[serde(default)]
    pub hedges_won: u64,
    /// Hedged alternatives that failed or were dropped for a faster one.
    #[serde(default)]
    pub hedges_lost: u64,
    /// Latency of completed calls.
    pub latency: LatencySummary,
    /// The sum of the completed calls' latencies.
    pub total_latency: Duration,
    /// Completed calls at most as long as each of the exported bucket edges
    /// (1.024 µs × 4^i, i = 0..14), cumulative, as Prometheus wants them.
    pub latency_buckets: Vec<u64>,
    /// The last error's text, truncated to 256 bytes.
    pub last_error: Option<String>,
    /// What the method can do, from its attribute.
    #[serde(default)]
    pub shape: MethodShape,
}

/// What a method can do, from its attribute. The exposition has no series
/// for what a method cannot do (a figure that is not zero is exported
/// anyway, so nothing counted is lost).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MethodShape {
    /// A call can end cancelled: an `async fn`, or a method recorded by
    /// hand (`manager().record`, `observe`).
    pub may_cancel: bool,
    /// It has a `timeout`.
    pub timeout: bool,
    /// It has a `hedge`.
    pub hedge: bool,
    /// It is behind a `bulkhead`.
    pub bulkhead: bool,
}

impl MethodSnapshot {
    pub(crate) fn from_reading(name: &str, mut reading: SiteReading) -> Self {
        let completed = reading.successes + reading.failures;
        let counts = CallCounts::of_reading(&reading);
        let (quantiles, latency_buckets) =
            shape_latency(std::mem::take(&mut reading.buckets), reading.max_nanos);
        let [p50, p95, p99] = quantiles.map(Duration::from_nanos);
        let latency = LatencySummary {
            mean: mean(reading.nanos, completed),
            p50,
            p95,
            p99,
            max: Duration::from_nanos(reading.max_nanos),
        };
        MethodSnapshot {
            name: name.to_owned(),
            calls: counts.calls,
            successes: counts.successes,
            failures: counts.failures,
            panics: reading.panics,
            cancelled: counts.cancelled,
            attempts: counts.attempts,
            rejected: reading.rejected,
            rejected_by: RejectedCalls::of(&reading),
            timeouts: reading.timeouts,
            hedges_won: reading.hedges_won,
            hedges_lost: reading.hedges_lost,
            latency,
            total_latency: Duration::from_nanos(reading.nanos),
            latency_buckets,
            last_error: reading.last_error,
            shape: counts.shape,
        }
    }
}

impl MethodShape {
    pub(crate) fn of(shape: SiteShape) -> Self {
        MethodShape {
            may_cancel: shape.may_cancel,
            timeout: shape.timeout,
            hedge: shape.hedge,
            bulkhead: shape.bulkhead,
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
            for instance in &component.instances {
                let health = &instance.health;
                writeln!(
                    f,
                    "  @{:<25} {:<9} {:>8} {:>8} {:>6} {:>6.1}% {:>9} {:>9} {:>9}",
                    instance.id,
                    health.status.as_str(),
                    health.calls,
                    health.failures,
                    instance.methods.iter().map(|m| m.panics).sum::<u64>(),
                    health.success_rate * 100.0,
                    "",
                    "",
                    "",
                )?;
                if let Some(reason) = &health.reason {
                    writeln!(f, "    ! {reason}")?;
                }
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
