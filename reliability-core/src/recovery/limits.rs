//! What the attribute's `timeout`, `bulkhead`, `rate_limit` and `hedge`
//! configure for a method, and what refuses a call: plain types, which the
//! events, the history and the snapshot name. The limits themselves, behind
//! one admission interface, are in `limit/`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::classify::refused::{BulkheadFull, RateLimited};
use crate::recovery::bulkhead::BulkheadConfig;
use crate::recovery::hedge::HedgeConfig;
use crate::recovery::rate_limit::RateLimitConfig;

/// What refused a call before its body ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RejectReason {
    /// The circuit breaker is open (or its half-open probes are taken).
    CircuitOpen,
    /// The bulkhead stayed full for `max_wait`.
    BulkheadFull,
    /// The rate limit had no token within `max_wait`.
    RateLimited,
}

impl RejectReason {
    /// Every reason, in the order of the chain's checks.
    pub const ALL: [RejectReason; 3] = [
        RejectReason::RateLimited,
        RejectReason::BulkheadFull,
        RejectReason::CircuitOpen,
    ];

    /// `circuit_open`, `bulkhead_full` or `rate_limited`: the `reason` label.
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectReason::CircuitOpen => "circuit_open",
            RejectReason::BulkheadFull => "bulkhead_full",
            RejectReason::RateLimited => "rate_limited",
        }
    }
}

/// A method's `timeout`, `bulkhead`, `rate_limit` and `hedge`, as the
/// attribute set them; each `None` when not set.
///
/// # Default
///
/// None of them.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// Per attempt, on an `async fn`.
    pub timeout: Option<Duration>,
    /// The component's bulkhead.
    pub bulkhead: Option<BulkheadConfig>,
    /// The component's rate limit.
    pub rate_limit: Option<RateLimitConfig>,
    /// Hedging among the alternatives, on an `async fn`.
    pub hedge: Option<HedgeConfig>,
}

impl Limits {
    /// None set.
    pub const fn new() -> Self {
        Limits {
            timeout: None,
            bulkhead: None,
            rate_limit: None,
            hedge: None,
        }
    }

    /// `timeout = "…"`.
    #[must_use]
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// `bulkhead(…)`.
    #[must_use]
    pub const fn with_bulkhead(mut self, bulkhead: BulkheadConfig) -> Self {
        self.bulkhead = Some(bulkhead);
        self
    }

    /// `rate_limit(…)`.
    #[must_use]
    pub const fn with_rate_limit(mut self, rate_limit: RateLimitConfig) -> Self {
        self.rate_limit = Some(rate_limit);
        self
    }

    /// `hedge(…)`.
    #[must_use]
    pub const fn with_hedge(mut self, hedge: HedgeConfig) -> Self {
        self.hedge = Some(hedge);
        self
    }
}

/// Why a call was refused before it ran: the error a method without a
/// fallback returns, built with `E::from(..)`.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// By the circuit breaker.
    CircuitOpen,
    /// By the bulkhead.
    BulkheadFull(BulkheadFull),
    /// By the rate limit.
    RateLimited(RateLimited),
}

impl Refused {
    /// What refused the call, as events and the history name it.
    pub(crate) fn reason(self) -> RejectReason {
        match self {
            Refused::CircuitOpen => RejectReason::CircuitOpen,
            Refused::BulkheadFull(_) => RejectReason::BulkheadFull,
            Refused::RateLimited(_) => RejectReason::RateLimited,
        }
    }
}
