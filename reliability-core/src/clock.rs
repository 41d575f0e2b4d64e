//! The clock every call is timed with.
//!
//! Kept behind two functions so that the choice of clock is made in one place
//! (and measured by the benchmark crate) rather than spread over the call path.

use std::time::Instant;

/// Reads the clock at the start of a call.
#[inline(always)]
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// Nanoseconds since `start`, saturating at `u64::MAX` (584 years).
#[inline(always)]
pub(crate) fn nanos_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}
