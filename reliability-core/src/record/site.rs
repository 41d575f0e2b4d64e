//! The per-method call site: where a call's outcome and latency land.
//!
//! Each instrumented method owns one `static CallSite`. A successful call
//! writes only the calling thread's stripe, with plain loads and stores
//! (`record::stripe`), and reads words that change rarely; it takes no lock,
//! looks nothing up, allocates nothing and makes no atomic read-modify-write.
//! Failures, panics and cancellations take the slower path.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use std::sync::OnceLock;

use parking_lot::Mutex;

use super::histogram::BUCKETS;
use super::instance::Instance;
use super::outcome::ErrorRef;
use super::registry::{registry, ComponentRecord};
use super::stripe::Stripes;
use crate::classify::ErrorCategory;
use crate::health::Thresholds;
use crate::recovery::limit::gates::Gates;
use crate::recovery::strategy::RecoveryMeta;

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
    /// Whether a call can end cancelled: an `async fn`, whose future can be
    /// dropped, or a method recorded by hand. The exposition has no
    /// `cancelled` series for a method that cannot.
    pub may_cancel: bool,
}

/// Read on every call, written rarely: kept apart from the failure counters.
#[repr(align(64))]
struct Hot {
    meta: &'static SiteMeta,
    component: OnceLock<&'static ComponentRecord>,
    /// The component's limits (rate limit, bulkhead, circuit), once a call
    /// has looked them up: a call passes them without a look-up.
    gates: OnceLock<Gates>,
    /// The method's slot in its component's instances, once one has called
    /// it (`NO_SLOT` before).
    slot: AtomicUsize,
    /// Latency and successes; read on every call, written by each thread in
    /// a stripe of its own.
    stripes: Stripes,
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

/// How many bucket edges a snapshot exports (`export::snapshot`'s).
const EXPORTED_EDGES: usize = 14;

/// A site that no instance has called through yet.
const NO_SLOT: usize = usize::MAX;

/// One instrumented method's counters. Bounded: it grows neither with the
/// number of calls nor with the number of threads.
#[doc(hidden)]
pub struct CallSite {
    hot: Hot,
    cold: Cold,
}

impl fmt::Debug for CallSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallSite")
            .field("component", &self.hot.meta.component)
            .field("method", &self.hot.meta.method)
            .finish_non_exhaustive()
    }
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
    /// The histogram up to its last bucket with a count (a method's calls
    /// fill a few buckets of 240): a snapshot reads a site per (instance,
    /// method), and a reading this size stays in the allocator's fast path.
    pub buckets: Vec<u64>,
    pub last_error: Option<String>,
    /// What the method can do, from its attribute (merged: any of the sites).
    pub shape: SiteShape,
}

/// What a method can do, from what its attribute says: the exposition has
/// no series for what it cannot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SiteShape {
    pub may_cancel: bool,
    pub timeout: bool,
    pub hedge: bool,
    pub bulkhead: bool,
}

impl SiteShape {
    fn of(meta: &SiteMeta) -> Self {
        let limits = meta.recovery.map(|r| &r.limits);
        SiteShape {
            may_cancel: meta.may_cancel,
            timeout: limits.is_some_and(|l| l.timeout.is_some()),
            hedge: limits.is_some_and(|l| l.hedge.is_some()),
            bulkhead: limits.is_some_and(|l| l.bulkhead.is_some()),
        }
    }

    fn merge(&mut self, other: SiteShape) {
        self.may_cancel |= other.may_cancel;
        self.timeout |= other.timeout;
        self.hedge |= other.hedge;
        self.bulkhead |= other.bulkhead;
    }
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
            buckets: Vec::new(),
            last_error: None,
            shape: SiteShape::default(),
        }
    }

    /// A copy of the counters, without histogram or error text.
    pub(crate) fn without_heap(&self) -> Self {
        SiteReading {
            buckets: Vec::new(),
            last_error: None,
            ..*self
        }
    }

    /// Adds `other`'s counters, not its histogram: for totals.
    pub(crate) fn merge_counts(&mut self, other: &SiteReading) {
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
        self.shape.merge(other.shape);
    }

    pub(crate) fn merge(&mut self, other: &SiteReading) {
        self.merge_counts(other);
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize(other.buckets.len(), 0);
        }
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
                gates: OnceLock::new(),
                slot: AtomicUsize::new(NO_SLOT),
                stripes: Stripes::new(),
            },
            cold: Cold {
                failures: AtomicU64::new(0),
                panics: AtomicU64::new(0),
                cancelled: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                last_error: Mutex::new(None),
            },
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

    /// This method's own site in `instance`, which counts in the instance
    /// and, through it, in the component: a few loads once made.
    #[inline(always)]
    pub fn in_instance(&'static self, instance: &Instance) -> &'static CallSite {
        let component = self.component();
        self.site_in(component, instance.record_in(component))
    }

    /// This method's own site in the instance called `id` (looked up by
    /// name: for calls made outside the attribute).
    pub(crate) fn in_instance_id(&'static self, id: &str) -> &'static CallSite {
        let component = self.component();
        self.site_in(component, component.instance(id))
    }

    /// This method's site in `instance`, a record under `component`, made
    /// on first use.
    #[inline(always)]
    fn site_in(
        &'static self,
        component: &'static ComponentRecord,
        instance: &'static ComponentRecord,
    ) -> &'static CallSite {
        match instance.instance_site(self.hot.slot.load(Relaxed)) {
            Some(site) => site,
            None => component.make_instance_site(self, instance),
        }
    }

    /// The method's slot in its component's instances, once it has one.
    pub(crate) fn slot(&self) -> Option<usize> {
        Some(self.hot.slot.load(Relaxed)).filter(|&slot| slot != NO_SLOT)
    }

    /// Gives the method its slot (once, under the component's lock).
    pub(crate) fn set_slot(&self, slot: usize) {
        self.hot.slot.store(slot, Relaxed);
    }

    /// Where recovery keeps the component's limits for this site.
    pub(crate) fn gates(&self) -> &OnceLock<Gates> {
        &self.hot.gates
    }

    /// Where the site keeps its component once it has joined one.
    pub(crate) fn link(&self) -> &OnceLock<&'static ComponentRecord> {
        &self.hot.component
    }

    /// The hot path: a call that succeeded after `nanos`.
    #[inline(always)]
    pub(crate) fn record_success(&'static self, nanos: u64) {
        let component = self.component();
        self.hot.stripes.record(nanos, true);
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
        self.hot.stripes.record(nanos, false);
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
        (counts.successes, counts.nanos) = self.hot.stripes.read_counts();
        counts
    }

    pub(crate) fn read(&self) -> SiteReading {
        let mut reading = SiteReading::empty();
        self.read_into(&mut reading);
        reading
    }

    /// [`read`](Self::read) over an earlier reading, whose histogram and
    /// error text keep their room: a snapshot reads a site per (instance,
    /// method) and allocates none of them anew.
    pub(crate) fn read_into(&self, reading: &mut SiteReading) {
        // Failures first: a failure's latency is counted before its failure,
        // so completed calls never read as fewer than the failures among them.
        reading.failures = self.cold.failures.load(Relaxed);
        reading.panics = self.cold.panics.load(Relaxed);
        reading.cancelled = self.cold.cancelled.load(Relaxed);
        reading.retries = self.cold.retries.load(Relaxed);
        reading.rejected = self.cold.rejected.load(Relaxed);
        reading.rejected_bulkhead = 0;
        reading.rejected_rate_limit = 0;
        reading.timeouts = 0;
        reading.hedges_won = 0;
        reading.hedges_lost = 0;
        let mut buckets = [0; BUCKETS];
        let totals = self.hot.stripes.read(&mut buckets);
        let used = buckets
            .iter()
            .rposition(|&count| count > 0)
            .map_or(0, |last| last + 1);
        reading.buckets.clear();
        // Room for the exported edges too: a snapshot writes them over these.
        reading.buckets.reserve(used.max(EXPORTED_EDGES));
        reading.buckets.extend_from_slice(&buckets[..used]);
        reading.successes = totals.successes;
        reading.nanos = totals.nanos;
        reading.max_nanos = totals.max_nanos;
        match (
            self.cold.last_error.lock().as_deref(),
            &mut reading.last_error,
        ) {
            (Some(text), Some(kept)) => {
                kept.clear();
                kept.push_str(text);
            }
            (text, kept) => *kept = text.map(str::to_owned),
        }
        reading.shape = SiteShape::of(self.hot.meta);
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
        self.hot.stripes.reset();
        *self.cold.last_error.lock() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::histogram::bucket_index;
    use crate::record::stripe::{Stripe, STRIPES};

    #[test]
    fn call_site_state_is_at_most_sixteen_kib_with_any_number_of_threads() {
        // The site, every stripe it can allocate, and the wide counters.
        let most = std::mem::size_of::<CallSite>()
            + STRIPES * std::mem::size_of::<Stripe>()
            + std::mem::size_of::<[AtomicU64; BUCKETS]>();
        assert!(most <= 16 * 1024, "{most}");
    }

    #[test]
    fn wrapped_bucket_carries_into_the_wide_counter() {
        static META: SiteMeta = SiteMeta {
            component: "site_tests_wrap",
            method: "m",
            thresholds: None,
            recovery: None,
            may_cancel: true,
        };
        static SITE: CallSite = CallSite::new(&META);
        let index = bucket_index(1_000);
        SITE.hot.stripes.set_own_bucket(index, u32::MAX);
        SITE.record_success(1_000);
        SITE.record_success(1_000);
        let reading = SITE.read();
        assert_eq!(reading.buckets[index], u64::from(u32::MAX) + 2);
        assert_eq!(reading.successes, 2);
        assert_eq!(reading.max_nanos, 1_000);
    }

    #[test]
    fn a_reading_over_another_keeps_nothing_of_it() {
        static META: SiteMeta = SiteMeta {
            component: "site_tests_read_into",
            method: "m",
            thresholds: None,
            recovery: None,
            may_cancel: false,
        };
        static SITE: CallSite = CallSite::new(&META);
        SITE.record_success(1_000);
        let mut earlier = SiteReading::empty();
        earlier.failures = 9;
        earlier.rejected_bulkhead = 3;
        earlier.timeouts = 4;
        earlier.buckets = vec![5; 200];
        earlier.last_error = Some("stale".to_owned());
        SITE.read_into(&mut earlier);
        let fresh = SITE.read();
        assert_eq!(format!("{earlier:?}"), format!("{fresh:?}"));
    }
}
