//! The concurrent core of `rate_limit.rs`: the bucket's one word, the
//! moment it would be full again, moved on by a compare-and-swap per token.
//! Times and intervals are in the bucket's units, whatever they are; it
//! uses `crate::sync` alone, so `loom_models.rs` checks this very code.

use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::const_fn;

pub(crate) struct TokenBucket {
    /// When the bucket would be full again.
    full_at: AtomicU64,
    /// The interval once the inlined path may go (the bucket counts whole
    /// call clock ticks); 0 before and otherwise. The inlined path reads
    /// only this, `inline_tolerance` and `full_at`.
    inline_interval: AtomicU64,
    /// The tolerance of the inlined path, stored before `inline_interval`.
    inline_tolerance: AtomicU64,
}

impl TokenBucket {
    const_fn! {
        /// A full bucket, its inlined path closed.
        pub(crate) fn new() -> Self {
            TokenBucket {
                full_at: AtomicU64::new(0),
                inline_interval: AtomicU64::new(0),
                inline_tolerance: AtomicU64::new(0),
            }
        }
    }

    /// Opens the inlined path with a non-zero `interval` and its
    /// `tolerance` (how far ahead of now `full_at` may be for a call to
    /// go).
    pub(crate) fn open_inline(&self, interval: u64, tolerance: u64) {
        self.inline_tolerance.store(tolerance, Ordering::Relaxed);
        // Publishes the tolerance with it.
        self.inline_interval.store(interval, Ordering::Release);
    }

    /// Takes a token at `now` on the inlined path if it is open, a token is
    /// free and nobody races for it; `false` leaves the bucket as it was.
    #[inline(always)]
    pub(crate) fn try_take_inline(&self, now: u64) -> bool {
        // Pairs with the release store after the tolerance's.
        let interval = self.inline_interval.load(Ordering::Acquire);
        if interval == 0 {
            return false;
        }
        let tolerance = self.inline_tolerance.load(Ordering::Relaxed);
        let full_at = self.full_at.load(Ordering::Relaxed);
        let from = full_at.max(now);
        from - now <= tolerance
            && self
                .full_at
                .compare_exchange(
                    full_at,
                    from.saturating_add(interval),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// Reserves the next token if it is due within `max_wait` of `now`:
    /// `Ok(units until it is due)`, or `Err(units until a token would be
    /// due at once)`.
    pub(crate) fn reserve(
        &self,
        now: u64,
        interval: u64,
        tolerance: u64,
        max_wait: u64,
    ) -> Result<u64, u64> {
        let mut full_at = self.full_at.load(Ordering::Relaxed);
        loop {
            // An idle bucket is full from now on, not from long ago.
            let from = full_at.max(now);
            let wait = (from - now).saturating_sub(tolerance);
            if wait > max_wait {
                return Err(wait);
            }
            match self.full_at.compare_exchange_weak(
                full_at,
                from.saturating_add(interval),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(wait),
                Err(actual) => full_at = actual,
            }
        }
    }

    /// Gives back a reserved token that will not be used.
    pub(crate) fn give_back(&self, interval: u64) {
        // Never fails: the closure always returns `Some`.
        let _ = self
            .full_at
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |at| {
                Some(at.saturating_sub(interval))
            });
    }

    /// When the bucket would be full again (for tests).
    #[cfg(test)]
    pub(crate) fn full_at(&self) -> u64 {
        self.full_at.load(Ordering::Relaxed)
    }
}
