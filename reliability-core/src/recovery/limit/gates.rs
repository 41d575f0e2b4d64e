//! What a call site keeps of its component's limits: plain references,
//! so that the site (which holds them) depends on nothing above the limits.

use crate::record::clock_cell::ClockCell;
use crate::recovery::bulkhead::Bulkhead;
use crate::recovery::circuit::CircuitBreaker;
use crate::recovery::rate_limit::RateLimiter;

/// A site's way to its component's limits, found on the site's first call
/// and kept in the site, so that a call looks nothing up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gates {
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) bulkhead: Option<BulkheadLimit>,
    pub(crate) circuit: Option<CircuitLimit>,
}

/// The component's rate limiter, and where its clock is read (a call after
/// `set_clock` reads the new one).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RateLimit {
    pub(super) limiter: &'static RateLimiter,
    pub(super) clock: &'static ClockCell,
}

/// The component's bulkhead, and where the clock its async waits are
/// delays of is read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BulkheadLimit {
    pub(super) bulkhead: &'static Bulkhead,
    pub(super) clock: &'static ClockCell,
}

/// The component's breaker.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CircuitLimit {
    pub(super) breaker: &'static CircuitBreaker,
}
