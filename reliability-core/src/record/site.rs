//! The per-method call site: where a call's outcome and latency land.
//!
//! Each instrumented method owns one `static CallSite`. A successful call
//! touches only the calling thread's stripe (three relaxed adds) and reads two
//! words that change rarely; it takes no lock, looks nothing up and allocates
//! nothing. Failures, panics and cancellations take the slower path.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};

use std::sync::OnceLock;

use parking_lot::Mutex;

use super::histogram::{bucket_index, BUCKETS};
use super::outcome::ErrorRef;
use super::registry::{registry, ComponentRecord};
use crate::classify::ErrorCategory;
use crate::health::Thresholds;
use crate::recovery::circuit::CircuitBreaker;
use crate::recovery::strategy::RecoveryMeta;

/// Stripes per call site. Threads are spread over them round robin, so two
/// threads calling one method write different cache lines.
pub(crate) const STRIPES: usize = 4;

/// What the attribute knows about a method at compile time.
#[doc(hidden)]
#[derive(Debug)]
pub struct SiteMeta {
    /// The component the method reports to.
    pub component: &'static str,
    /// The method's name.
    pub method: &'static str,
    /// Thresholds from the attribute, if it set any.
    pub thresholds: Option<Thresholds>,
    /// Recovery from the attribute, if the method has any.
    pub recovery: Option<&'static RecoveryMeta>,
}

/// `repr(C)` keeps the counters at the front: a stripe's hot words then share
/// a cache line only with the previous stripe's topmost buckets (calls over
/// half a minute), never with its counters. Without it rustc put the counters
/// last, next to the following stripe's busiest buckets, and two threads on
/// neighbouring stripes slowed each other down (measured: 1.65× → 1.05×).
#[repr(C)]
struct Stripe {
    successes: AtomicU64,
    nanos: AtomicU64,
    /// Whether any call landed here: snapshots skip untouched stripes.
    touched: AtomicBool,
    buckets: [AtomicU32; BUCKETS],
}

impl Stripe {
    const fn new() -> Self {
        Stripe {
            successes: AtomicU64::new(0),
            nanos: AtomicU64::new(0),
            touched: AtomicBool::new(false),
            buckets: [const { AtomicU32::new(0) }; BUCKETS],
        }
    }
}

/// Read on every call, written rarely: kept apart from the failure counters.
#[repr(align(64))]
struct Hot {
    meta: &'static SiteMeta,
    component: OnceLock<&'static ComponentRecord>,
    /// The component's circuit breaker, once recovery has looked it up: the
    /// success path of a method with `circuit_breaker` reads its state
    /// through this, without a look-up.
    breaker: OnceLock<&'static CircuitBreaker>,
    max_nanos: AtomicU64,
    /// Counts carried out of a stripe's 32-bit bucket when it wraps; allocated
    /// the first time that happens (after 2^32 calls in one bucket).
    carry: OnceLock<Box<[AtomicU64; BUCKETS]>>,
}

#[repr(align(64))]
struct Cold {
    failures: AtomicU64,
    panics: AtomicU64,
    cancelled: AtomicU64,
    /// Attempts beyond the first, made by recovery.
    retries: AtomicU64,
    /// Calls refused by an open circuit.
    rejected: AtomicU64,
    last_error: Mutex<Option<Box<str>>>,
}

/// One instrumented method's counters. Its size is fixed: it does not grow
/// with the number of calls.
#[doc(hidden)]
pub struct CallSite {
    hot: Hot,
    cold: Cold,
    stripes: [Stripe; STRIPES],
}

impl fmt::Debug for CallSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallSite")
            .field("component", &self.hot.meta.component)
            .field("method", &self.hot.meta.method)
            .finish_non_exhaustive()
    }
}

static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

#[inline(always)]
fn stripe_index() -> usize {
    STRIPE
        .try_with(|slot| {
            let index = slot.get();
            if index != usize::MAX {
                return index;
            }
            let index = NEXT_STRIPE.fetch_add(1, Relaxed) % STRIPES;
            slot.set(index);
            index
        })
        .unwrap_or(0)
}

/// A call site's counters, without the histogram.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SiteCounts {
    pub successes: u64,
    pub failures: u64,
    pub cancelled: u64,
    pub nanos: u64,
}

impl SiteCounts {
    pub(crate) fn calls(&self) -> u64 {
        self.successes + self.failures + self.cancelled
    }
}

/// Everything a call site has counted, read at one moment.
#[derive(Debug, Clone)]
pub(crate) struct SiteReading {
    pub successes: u64,
    pub failures: u64,
    pub panics: u64,
    pub cancelled: u64,
    pub retries: u64,
    pub rejected: u64,
    /// Filled in by the component's state, which counts the limits.
    pub rejected_bulkhead: u64,
    pub rejected_rate_limit: u64,
    pub timeouts: u64,
    pub hedges_won: u64,
    pub hedges_lost: u64,
    pub nanos: u64,
    pub max_nanos: u64,
    pub buckets: [u64; BUCKETS],
    pub last_error: Option<String>,
}

impl SiteReading {
    pub(crate) fn empty() -> Self {
        SiteReading {
            successes: 0,
            failures: 0,
            panics: 0,
            cancelled: 0,
            retries: 0,
            rejected: 0,
            rejected_bulkhead: 0,
            rejected_rate_limit: 0,
            timeouts: 0,
            hedges_won: 0,
            hedges_lost: 0,
            nanos: 0,
            max_nanos: 0,
            buckets: [0; BUCKETS],
            last_error: None,
        }
    }

    pub(crate) fn merge(&mut self, other: &SiteReading) {
        self.successes += other.successes;
        self.failures += other.failures;
        self.panics += other.panics;
        self.cancelled += other.cancelled;
        self.retries += other.retries;
        self.rejected += other.rejected;
        self.rejected_bulkhead += other.rejected_bulkhead;
        self.rejected_rate_limit += other.rejected_rate_limit;
        self.timeouts += other.timeouts;
        self.hedges_won += other.hedges_won;
        self.hedges_lost += other.hedges_lost;
        self.nanos += other.nanos;
        self.max_nanos = self.max_nanos.max(other.max_nanos);
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *mine += theirs;
        }
        if other.last_error.is_some() {
            self.last_error.clone_from(&other.last_error);
        }
    }
}

impl CallSite {
    /// A call site for the method `meta` describes; usable in a `static`.
    pub const fn new(meta: &'static SiteMeta) -> Self {
        CallSite {
            hot: Hot {
                meta,
                component: OnceLock::new(),
                breaker: OnceLock::new(),
                max_nanos: AtomicU64::new(0),
                carry: OnceLock::new(),
            },
            cold: Cold {
                failures: AtomicU64::new(0),
                panics: AtomicU64::new(0),
                cancelled: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                last_error: Mutex::new(None),
            },
            stripes: [const { Stripe::new() }; STRIPES],
        }
    }

    pub(crate) fn meta(&self) -> &'static SiteMeta {
        self.hot.meta
    }

    #[inline(always)]
    pub(crate) fn component(&'static self) -> &'static ComponentRecord {
        match self.hot.component.get() {
            Some(component) => component,
            None => self.register(),
        }
    }

    #[cold]
    #[inline(never)]
    fn register(&'static self) -> &'static ComponentRecord {
        registry().attach(self)
    }

    /// Where recovery keeps the component's circuit breaker for this site.
    pub(crate) fn breaker_slot(&self) -> &OnceLock<&'static CircuitBreaker> {
        &self.hot.breaker
    }

    /// Where the site keeps its component once it has joined one.
    pub(crate) fn link(&self) -> &OnceLock<&'static ComponentRecord> {
        &self.hot.component
    }

    #[inline(always)]
    fn record_latency(&self, stripe: &Stripe, nanos: u64) {
        // A read of a line this call writes anyway; stored once.
        if !stripe.touched.load(Relaxed) {
            stripe.touched.store(true, Relaxed);
        }
        stripe.nanos.fetch_add(nanos, Relaxed);
        let index = bucket_index(nanos);
        if stripe.buckets[index].fetch_add(1, Relaxed) == u32::MAX {
            self.carry(index);
        }
        // A read of a line that is rarely written; the write only happens for a new maximum.
        if nanos > self.hot.max_nanos.load(Relaxed) {
            self.hot.max_nanos.fetch_max(nanos, Relaxed);
        }
    }

    #[cold]
    #[inline(never)]
    fn carry(&self, index: usize) {
        let carry = self
            .hot
            .carry
            .get_or_init(|| Box::new([const { AtomicU64::new(0) }; BUCKETS]));
        carry[index].fetch_add(1 << 32, Relaxed);
    }

    /// The hot path: a call that succeeded after `nanos`.
    #[inline(always)]
    pub(crate) fn record_success(&'static self, nanos: u64) {
        let component = self.component();
        let stripe = &self.stripes[stripe_index()];
        stripe.successes.fetch_add(1, Relaxed);
        self.record_latency(stripe, nanos);
        component.record_success();
    }

    /// A call that returned an error or panicked.
    #[cold]
    #[inline(never)]
    pub(crate) fn record_failure(
        &'static self,
        nanos: u64,
        error: ErrorRef<'_>,
        category: Option<ErrorCategory>,
    ) {
        let component = self.component();
        if let Some(category) = category {
            component.record_category(category);
        }
        self.record_latency(&self.stripes[stripe_index()], nanos);
        self.cold.failures.fetch_add(1, Relaxed);
        if matches!(error, ErrorRef::Panic) {
            self.cold.panics.fetch_add(1, Relaxed);
        }
        let text = component.record_failure(error);
        *self.cold.last_error.lock() = Some(text);
    }

    /// A call whose future was dropped before it completed.
    #[cold]
    #[inline(never)]
    pub(crate) fn record_cancelled(&'static self) {
        self.component();
        self.cold.cancelled.fetch_add(1, Relaxed);
    }

    /// A call refused before it ran (circuit, bulkhead, rate limit).
    #[cold]
    pub(crate) fn record_rejected(&self) {
        self.cold.rejected.fetch_add(1, Relaxed);
    }

    /// An attempt made by recovery after the first.
    #[cold]
    pub(crate) fn record_retry(&self) {
        self.cold.retries.fetch_add(1, Relaxed);
    }

    /// The counters without the histogram: cheap enough for the failure path.
    pub(crate) fn read_counts(&self) -> SiteCounts {
        let mut counts = SiteCounts {
            failures: self.cold.failures.load(Relaxed),
            cancelled: self.cold.cancelled.load(Relaxed),
            ..SiteCounts::default()
        };
        for stripe in &self.stripes {
            counts.successes += stripe.successes.load(Relaxed);
            counts.nanos += stripe.nanos.load(Relaxed);
        }
        counts
    }

    pub(crate) fn read(&self) -> SiteReading {
        let mut reading = SiteReading::empty();
        // Failures first: a failure's latency is counted before its failure,
        // so completed calls never read as fewer than the failures among them.
        reading.failures = self.cold.failures.load(Relaxed);
        reading.panics = self.cold.panics.load(Relaxed);
        reading.cancelled = self.cold.cancelled.load(Relaxed);
        reading.retries = self.cold.retries.load(Relaxed);
        reading.rejected = self.cold.rejected.load(Relaxed);
        for stripe in self.stripes.iter().filter(|s| s.touched.load(Relaxed)) {
            reading.successes += stripe.successes.load(Relaxed);
            reading.nanos += stripe.nanos.load(Relaxed);
            for (sum, bucket) in reading.buckets.iter_mut().zip(stripe.buckets.iter()) {
                *sum += u64::from(bucket.load(Relaxed));
            }
        }
        if let Some(carry) = self.hot.carry.get() {
            for (sum, extra) in reading.buckets.iter_mut().zip(carry.iter()) {
                *sum += extra.load(Relaxed);
            }
        }
        reading.max_nanos = self.hot.max_nanos.load(Relaxed);
        reading.last_error = self.cold.last_error.lock().as_deref().map(str::to_owned);
        reading
    }

    /// Zeroes every counter (for tests; calls racing with it may be lost).
    pub(crate) fn reset(&self) {
        for counter in [
            &self.cold.failures,
            &self.cold.panics,
            &self.cold.cancelled,
            &self.cold.retries,
            &self.cold.rejected,
        ] {
            counter.store(0, Relaxed);
        }
        for stripe in &self.stripes {
            stripe.touched.store(false, Relaxed);
            stripe.successes.store(0, Relaxed);
            stripe.nanos.store(0, Relaxed);
            for bucket in &stripe.buckets {
                bucket.store(0, Relaxed);
            }
        }
        if let Some(carry) = self.hot.carry.get() {
            for extra in carry.iter() {
                extra.store(0, Relaxed);
            }
        }
        self.hot.max_nanos.store(0, Relaxed);
        *self.cold.last_error.lock() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_site_state_fits_in_four_kib() {
        assert!(
            std::mem::size_of::<CallSite>() <= 4096,
            "{}",
            std::mem::size_of::<CallSite>()
        );
    }

    #[test]
    fn wrapped_bucket_carries_into_the_wide_counter() {
        static META: SiteMeta = SiteMeta {
            component: "site_tests_wrap",
            method: "m",
            thresholds: None,
            recovery: None,
        };
        static SITE: CallSite = CallSite::new(&META);
        let index = bucket_index(1_000);
        SITE.stripes[stripe_index()].buckets[index].store(u32::MAX, Relaxed);
        SITE.record_success(1_000);
        SITE.record_success(1_000);
        let reading = SITE.read();
        assert_eq!(reading.buckets[index], u64::from(u32::MAX) + 2);
        assert_eq!(reading.successes, 2);
    }
}
