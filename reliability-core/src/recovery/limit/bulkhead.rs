//! The bulkhead behind [`Limit`]: a place, given back when its permit drops.

use super::gates::BulkheadLimit;
use super::{Caller, Limit};
use crate::record::clock_cell::ClockCell;
use crate::recovery::bulkhead::{Bulkhead, BulkheadConfig, BulkheadPermit};
use crate::recovery::limits::Refused;

impl BulkheadLimit {
    pub(crate) fn new(bulkhead: &'static Bulkhead, clock: &'static ClockCell) -> Self {
        BulkheadLimit { bulkhead, clock }
    }

    pub(crate) fn config(&self) -> BulkheadConfig {
        self.bulkhead.config()
    }
}

impl Limit for BulkheadLimit {
    type Permit = BulkheadPermit<'static>;

    #[inline]
    fn acquire(&self, _caller: Caller) -> Result<BulkheadPermit<'static>, Refused> {
        self.bulkhead.acquire().map_err(Refused::BulkheadFull)
    }

    async fn acquire_async(&self, _caller: Caller) -> Result<BulkheadPermit<'static>, Refused> {
        let clock = self.clock.current_clock();
        let taken = self.bulkhead.acquire_async(clock).await;
        taken.map_err(Refused::BulkheadFull)
    }
}

impl BulkheadLimit {
    /// A free place, taken inline when nobody waits for one; `None` leaves
    /// the call to wait in line.
    #[inline(always)]
    pub(super) fn taken_inline(&self) -> Option<BulkheadPermit<'static>> {
        self.bulkhead.try_acquire_unqueued()
    }
}
