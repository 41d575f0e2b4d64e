//! Which series a component's instances have in the exposition: a handful
//! per instance by default, per method and latency when a component asks.

use std::collections::HashMap;
use std::sync::OnceLock;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

/// Which series a component's instances have in the Prometheus text, the
/// OpenTelemetry bridge and the `metrics` bridge. Set per component with
/// [`ReliabilityManager::set_instance_series`](crate::ReliabilityManager::set_instance_series);
/// the snapshot, the JSON report and `/health` keep every instance's full
/// detail whatever it says.
///
/// # Default
///
/// Neither: an instance has its calls by outcome summed over its methods,
/// its health, consecutive failures, needs attention, its circuit state
/// when it has a circuit and its in-flight calls when it is behind a
/// bulkhead: at most [`InstanceSeries::DEFAULT_MAX_SERIES`] series. What it
/// does not export itself (latency, panics, timeouts, hedges, recovery,
/// rejections) its component's series count in full, so no call is lost
/// and none is counted twice.
///
/// # Examples
///
/// ```
/// use reliability_core::export::InstanceSeries;
/// use reliability_core::manager;
///
/// manager().set_instance_series("shard_client", InstanceSeries::new().with_latency(true));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InstanceSeries {
    /// Series per (instance, method): calls, panics, timeouts and hedges by
    /// method, and recovery and rejections per instance.
    pub per_method: bool,
    /// A latency histogram per instance (per (instance, method) with
    /// `per_method`).
    pub latency: bool,
}

impl InstanceSeries {
    /// The most series one instance has by default: calls under three
    /// outcomes, health, consecutive failures, needs attention, circuit
    /// state and in-flight calls. A sync-only instance without a circuit or
    /// a bulkhead has 5.
    pub const DEFAULT_MAX_SERIES: usize = 8;

    /// The default: a handful of series per instance.
    pub const fn new() -> Self {
        InstanceSeries {
            per_method: false,
            latency: false,
        }
    }

    /// With series per (instance, method).
    pub const fn with_per_method(mut self, on: bool) -> Self {
        self.per_method = on;
        self
    }

    /// With a latency histogram per instance.
    pub const fn with_latency(mut self, on: bool) -> Self {
        self.latency = on;
        self
    }

    pub(crate) fn is_default(&self) -> bool {
        *self == Self::new()
    }
}

/// The settings that differ from the default, by component.
fn settings() -> &'static RwLock<HashMap<Box<str>, InstanceSeries>> {
    static SETTINGS: OnceLock<RwLock<HashMap<Box<str>, InstanceSeries>>> = OnceLock::new();
    SETTINGS.get_or_init(Default::default)
}

/// Sets `component`'s instance series.
pub(crate) fn set(component: &str, series: InstanceSeries) {
    let mut settings = settings().write();
    if series.is_default() {
        settings.remove(component);
    } else {
        settings.insert(component.into(), series);
    }
}

/// `component`'s instance series.
pub(crate) fn of(component: &str) -> InstanceSeries {
    let settings = settings().read();
    if settings.is_empty() {
        return InstanceSeries::new();
    }
    settings.get(component).copied().unwrap_or_default()
}
