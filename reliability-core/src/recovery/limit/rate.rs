//! The rate limit behind [`Limit`]: a token, spent once taken.

use super::gates::RateLimit;
use super::{Caller, Limit};
use crate::record::clock_cell::ClockCell;
use crate::recovery::limits::Refused;
use crate::recovery::rate_limit::{RateLimitConfig, RateLimiter};

impl RateLimit {
    pub(crate) fn new(limiter: &'static RateLimiter, clock: &'static ClockCell) -> Self {
        RateLimit { limiter, clock }
    }

    pub(crate) fn config(&self) -> RateLimitConfig {
        self.limiter.config()
    }
}

impl Limit for RateLimit {
    /// A token is spent, not given back.
    type Permit = ();

    /// A free token as of the call's start is taken inline; waiting,
    /// refusing, a first call and an installed clock take the whole path.
    #[inline(always)]
    fn acquire(&self, caller: Caller) -> Result<(), Refused> {
        if self.taken_inline(caller) {
            return Ok(());
        }
        self.acquire_slow(caller)
    }

    async fn acquire_async(&self, caller: Caller) -> Result<(), Refused> {
        if self.taken_inline(caller) {
            return Ok(());
        }
        let taken = match self.clock.installed_clock() {
            None => self.limiter.acquire_async_on_call_clock(caller.start).await,
            Some(clock) => self.limiter.acquire_async(clock).await,
        };
        taken.map_err(Refused::RateLimited)
    }
}

impl RateLimit {
    /// With the system clock, time is the call clock's reading at the
    /// call's start, read once for the call and its limit.
    #[inline(always)]
    pub(super) fn taken_inline(&self, caller: Caller) -> bool {
        self.clock.installed_clock().is_none() && self.limiter.try_take_on_call_clock(caller.start)
    }

    #[cold]
    #[inline(never)]
    fn acquire_slow(&self, caller: Caller) -> Result<(), Refused> {
        let taken = match self.clock.installed_clock() {
            None => self.limiter.acquire_on_call_clock(caller.start),
            Some(clock) => self.limiter.acquire(clock),
        };
        taken.map_err(Refused::RateLimited)
    }
}
