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
pub mod export;
#[cfg(not(loom))]
pub mod health;
#[cfg(not(loom))]
mod manager;
#[cfg(not(loom))]
pub mod monitor;
#[cfg(not(loom))]
mod observe;
#[cfg(not(loom))]
mod record;
#[cfg(not(loom))]
pub mod recovery;
#[cfg(not(loom))]
mod runtime;

// What a user writes first: the attribute, the manager and its snapshot,
// the error taxonomy, the refusals a method may return, and the few types
// those hand back. Everything else is in a module named for its concern.
#[cfg(not(loom))]
pub use classify::refused::{BulkheadFull, CircuitOpen, RateLimited, TimedOut};
#[cfg(not(loom))]
pub use classify::{register_classify, Classify, ErrorCategory};
#[cfg(all(not(loom), feature = "http"))]
pub use export::{serve, ServerConfig, ServerHandle};
#[cfg(not(loom))]
pub use export::{
    ComponentSnapshot, InstanceMethods, InstanceSnapshot, MethodSnapshot, MetricsSnapshot,
    ReliabilityReport,
};
#[cfg(not(loom))]
pub use health::{ComponentHealth, HealthStatus, Thresholds};
#[cfg(not(loom))]
pub use manager::{manager, snapshot, ReliabilityManager};
#[cfg(not(loom))]
pub use observe::{observe, observe_instance};
#[cfg(not(loom))]
pub use record::clock::{Clock, ManualClock};
#[cfg(not(loom))]
pub use record::instance::Instance;
#[cfg(not(loom))]
pub use record::outcome::{Outcome, RecordOutcome};
#[cfg(not(loom))]
pub use recovery::circuit::CircuitState;
#[cfg(not(loom))]
pub use recovery::{Strategy, StrategyConfig};
#[cfg(not(loom))]
pub use reliability_macros::{reliable, Classify};
#[cfg(not(loom))]
pub use runtime::events::{ReliabilityEvent, Subscription};

/// The limits a call passes before it runs, and the combinators around an
/// attempt: bulkhead, rate limit, circuit breaker settings, timeout, hedge.
#[cfg(not(loom))]
pub mod limit {
    pub use crate::recovery::bulkhead::{
        Bulkhead, BulkheadAcquire, BulkheadConfig, BulkheadPermit,
    };
    pub use crate::recovery::circuit::CircuitConfig;
    pub use crate::recovery::hedge::{hedge, Hedge, HedgeAfter, HedgeConfig, HedgeOutcome};
    pub use crate::recovery::limits::RejectReason;
    pub use crate::recovery::rate_limit::{RateLimitAcquire, RateLimitConfig, RateLimiter};
    pub use crate::recovery::timeout::{timeout, Timeout};
}

/// What the manager tells its listeners: events and the subscription that
/// keeps a listener.
#[cfg(not(loom))]
pub mod events {
    pub use crate::runtime::events::{ReliabilityEvent, Subscription};
}

/// The clocks waits and timestamps are read from: the system's, and a
/// manual one for tests.
#[cfg(not(loom))]
pub mod clock {
    pub use crate::record::clock::{Clock, Delay, ManualClock, SystemClock};
}

#[cfg(not(loom))]
#[doc(hidden)]
pub mod __private;
