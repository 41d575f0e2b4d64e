//! Observable, self-healing code with one attribute.
//!
//! Put `#[reliable]` on an `impl` block and every method in it reports its
//! latency and outcome to a global [`ReliabilityManager`], which keeps
//! per-method counters and latency percentiles and derives each component's
//! health from them. No wrapper is written by hand.
//!
//! ```
//! use reliability_core::reliable;
//!
//! #[derive(Debug)]
//! struct DownloadError(String);
//!
//! impl std::fmt::Display for DownloadError {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         write!(f, "download failed: {}", self.0)
//!     }
//! }
//!
//! struct ModelDownloader {
//!     mirror_up: bool,
//! }
//!
//! #[reliable(component = "model_downloader")]
//! impl ModelDownloader {
//!     fn download(&self, name: &str) -> Result<Vec<u8>, DownloadError> {
//!         if self.mirror_up {
//!             Ok(name.as_bytes().to_vec())
//!         } else {
//!             Err(DownloadError(format!("{name}: connection refused")))
//!         }
//!     }
//! }
//!
//! let up = ModelDownloader { mirror_up: true };
//! let down = ModelDownloader { mirror_up: false };
//! assert!(up.download("bert").is_ok());
//! assert!(down.download("gpt").is_err());
//!
//! let snap = reliability_core::snapshot();
//! let method = snap.component("model_downloader").unwrap().method("download").unwrap();
//! assert_eq!((method.calls, method.successes, method.failures), (2, 1, 1));
//! assert_eq!(method.last_error.as_deref(), Some("download failed: gpt: connection refused"));
//! println!("p95 {:?}", method.latency.p95);
//! ```
//!
//! # What is recorded
//!
//! Each call's duration and outcome. A method returning a `Result` (any type
//! whose last path segment is `Result`) fails when it returns `Err`, and the
//! error's text is kept, truncated to 256 bytes; any other method succeeds
//! when it returns. A panic is a failure (and is counted as a panic), after
//! which it keeps unwinding. An `async fn` whose future is dropped before it
//! completes counts as cancelled: neither a success nor a failure.
//!
//! # Health
//!
//! Each component is [`Healthy`](HealthStatus::Healthy),
//! [`Degraded`](HealthStatus::Degraded) or
//! [`Unhealthy`](HealthStatus::Unhealthy) according to its
//! [`Thresholds`]: consecutive failures, the success rate over a recent
//! window, and slow calls.
//!
//! # Cost
//!
//! A successful call takes no lock, does no map look-up, allocates nothing
//! and makes no atomic read-modify-write: it reads the clock twice and adds,
//! with plain loads and stores, to the stripe of the method's `static` call
//! site that only the calling thread writes. A method with recovery runs
//! its first attempt the same way; the recovery driver is made only when an
//! attempt fails. See `docs/PERFORMANCE.md` for the measurements.
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

// Under `cfg(loom)` the crate is only its lock-free parts and their models
// (`loom_models.rs`): loom's atomics cannot live in the statics the rest is
// built on.
mod sync;

#[cfg(loom)]
mod loom_models;

#[cfg(not(loom))]
mod classify;
#[cfg(not(loom))]
mod export;
#[cfg(not(loom))]
mod health;
#[cfg(not(loom))]
mod manager;
#[cfg(not(loom))]
mod monitor;
#[cfg(not(loom))]
mod observe;
#[cfg(not(loom))]
mod record;
#[cfg(not(loom))]
mod recovery;
#[cfg(not(loom))]
mod runtime;

#[cfg(not(loom))]
pub use classify::refused::{BulkheadFull, CircuitOpen, RateLimited, TimedOut};
#[cfg(not(loom))]
pub use classify::register_classify;
#[cfg(not(loom))]
pub use classify::{Classify, ErrorCategory};
#[cfg(all(not(loom), feature = "http"))]
pub use export::http::{serve, ServerConfig, ServerHandle};
#[cfg(all(not(loom), feature = "metrics"))]
pub use export::metrics::{publish_metrics, publish_metrics_every, MetricsPublisher, PublishError};
#[cfg(all(not(loom), feature = "opentelemetry"))]
pub use export::otel::register_opentelemetry;
#[cfg(not(loom))]
pub use export::report::{ReliabilityReport, ReportError};
#[cfg(not(loom))]
pub use export::snapshot::{
    ComponentSnapshot, InstanceSnapshot, LatencySummary, MethodSnapshot, MetricsSnapshot,
    RecoveryStats, RejectedCalls, StrategyStats, SystemMetrics,
};
#[cfg(not(loom))]
pub use health::{ComponentHealth, HealthStatus, ThresholdError, Thresholds};
#[cfg(not(loom))]
pub use manager::{manager, snapshot, ReliabilityManager};
#[cfg(not(loom))]
pub use monitor::{HealthTransition, MonitorConfig};
#[cfg(not(loom))]
pub use observe::{observe, observe_instance};
#[cfg(not(loom))]
pub use record::clock::{Clock, Delay, ManualClock, SystemClock};
#[cfg(not(loom))]
pub use record::instance::Instance;
#[cfg(not(loom))]
pub use record::outcome::{Outcome, RecordOutcome};
#[cfg(not(loom))]
pub use recovery::bulkhead::{Bulkhead, BulkheadAcquire, BulkheadConfig, BulkheadPermit};
#[cfg(not(loom))]
pub use recovery::circuit::CircuitState;
#[cfg(not(loom))]
pub use recovery::hedge::{hedge, Hedge, HedgeAfter, HedgeConfig, HedgeOutcome};
#[cfg(not(loom))]
pub use recovery::history::{RecoveryOutcome, RecoverySession, RecoveryStep, StepOutcome};
#[cfg(not(loom))]
pub use recovery::limits::RejectReason;
#[cfg(not(loom))]
pub use recovery::plan::{select_strategy, RecoveryAction, RecoveryContext, RecoveryPlan};
#[cfg(not(loom))]
pub use recovery::rate_limit::{RateLimitAcquire, RateLimitConfig, RateLimiter};
#[cfg(not(loom))]
pub use recovery::strategy::{
    Backoff, CircuitConfig, RetryBudget, Strategy, StrategyConfig, StrategySet,
};
#[cfg(not(loom))]
pub use recovery::timeout::{timeout, Timeout};
#[cfg(not(loom))]
pub use reliability_macros::reliable;
#[cfg(not(loom))]
pub use reliability_macros::Classify;
#[cfg(not(loom))]
pub use runtime::events::{ReliabilityEvent, Subscription};

#[cfg(not(loom))]
#[doc(hidden)]
pub mod __private;
