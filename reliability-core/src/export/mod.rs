//! Ways out: the snapshot, the JSON report, Prometheus text, the HTTP
//! endpoint and the OpenTelemetry and `metrics` bridges, all of whose series
//! come from one mapping (`series`). Everything here reads the runtime;
//! nothing below calls up here.

#[cfg(feature = "http")]
pub(crate) mod http;
pub(crate) mod instance_methods;
pub(crate) mod instance_series;
pub(crate) mod json;
pub(crate) mod latency;
#[cfg(feature = "metrics")]
pub(crate) mod metrics;
#[cfg(feature = "opentelemetry")]
pub(crate) mod otel;
pub(crate) mod party;
pub(crate) mod prometheus;
pub(crate) mod report;
pub(crate) mod series;
pub(crate) mod snapshot;

#[cfg(feature = "http")]
pub use http::{serve, ServerConfig, ServerHandle};
pub use instance_methods::InstanceMethods;
pub use instance_series::InstanceSeries;
#[cfg(feature = "metrics")]
pub use metrics::{publish_metrics, publish_metrics_every, MetricsPublisher, PublishError};
#[cfg(feature = "opentelemetry")]
pub use otel::register_opentelemetry;
pub use report::{ReliabilityReport, ReportError};
pub use snapshot::{
    ComponentSnapshot, InstanceSnapshot, LatencySummary, MethodShape, MethodSnapshot,
    MetricsSnapshot, RecoveryStats, RejectedCalls, StrategyStats, SystemMetrics,
};
