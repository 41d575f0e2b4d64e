//! A call site's latency counters, in stripes that one thread each writes.
//!
//! A process has [`OWNED`] stripe slots. A thread claims a free one the first
//! time it finishes an instrumented call and gives it back when it exits;
//! in every call site it then writes only the stripe of its slot, with plain
//! loads and stores. Threads that find every slot taken share one more
//! stripe, written with atomic adds. A slot's counts stay where they are
//! when its thread exits: the next thread to claim the slot goes on adding
//! to them, so nothing has to be folded back and nothing leaks.
//!
//! Why this layout: an atomic add costs more than a clock read, while a
//! plain load and store of a line the thread owns compiles to one `add` to
//! memory; shared stripes with atomic adds made a successful call about 1.7
//! times as slow. Per-thread shards merged on read (allocated per thread,
//! folded back on exit) would cost the same on the hot path but grow with
//! the number of threads; here a site is bounded by its slots: a 256-byte
//! `static`, at most `OWNED + 1` stripes of 1 KiB, each allocated the first
//! time a thread writes it, and the 1.9 KiB wide counters of a bucket that
//! wrapped (15,488 bytes at most; see `site::tests`).
//!
//! What makes the plain stores safe. A slot has one writer at a time: a
//! thread writes only its own slot's stripes, and a slot changes hands only
//! through `SlotRegistry` (release on exit, acquire on claim), so the next
//! owner starts from the last value the previous one stored. A thread
//! preempted between the load and the store of a counter loses nothing,
//! because nobody else writes that counter meanwhile; a thread that migrates
//! to another CPU keeps its slot, since a slot belongs to a thread, not to a
//! CPU. Readers load every counter atomically (64-bit `Relaxed`: never torn),
//! and each counter only grows, so successive snapshots never go back. The
//! one writer a slot can have besides its thread is that same thread,
//! re-entered: an instrumented call made from a signal handler that
//! interrupts another between its load and its store loses one count.
//!
//! A thread keeps its slot until it exits, so in a process with more than
//! `OWNED` long-lived threads, those that came last count on the shared
//! stripe: exactly, at the price of the atomic adds.

use std::cell::Cell;

use super::histogram::{bucket_index, BUCKETS};
pub(crate) use super::stripe_slots::StripeTotals;
use super::stripe_slots::{SlotRegistry, StripeSet};

/// Stripe slots threads can own, process-wide. Chosen by the memory bound:
/// 13 stripes of 1 KiB, the wide counters (1.9 KiB) and the site itself fit
/// in 16 KiB. More threads than this still count exactly, on the shared
/// stripe, at the price of atomic adds.
pub(crate) const OWNED: usize = 12;

/// Stripes per call site: the owned ones and the shared one.
pub(crate) const STRIPES: usize = OWNED + 1;

/// The stripe threads without a slot share.
const SHARED: usize = StripeSet::<STRIPES, BUCKETS>::SHARED;

/// The slot of a thread that has not finished an instrumented call yet.
const UNCLAIMED: usize = usize::MAX;

/// One stripe's counters: 1 KiB (for tests, which check it).
#[cfg(test)]
pub(crate) type Stripe = super::stripe_slots::Stripe<BUCKETS>;

/// The latency counters of one call site.
pub(crate) struct Stripes(StripeSet<STRIPES, BUCKETS>);

impl Stripes {
    pub(crate) const fn new() -> Self {
        Stripes(StripeSet::new())
    }

    /// One completed call of `nanos`, a success or not. The hot path: on a
    /// thread that owns a slot it makes no read-modify-write.
    #[inline(always)]
    pub(crate) fn record(&self, nanos: u64, success: bool) {
        let slot = SLOT.with(Cell::get);
        if slot < OWNED {
            if let Some(stripe) = self.0.get(slot) {
                self.0
                    .add_owned(stripe, nanos, bucket_index(nanos), success);
                return;
            }
        }
        self.record_slow(slot, nanos, success);
    }

    /// A thread's first call, a slot's first call at this site, or a
    /// thread without a slot.
    #[cold]
    #[inline(never)]
    fn record_slow(&self, slot: usize, nanos: u64, success: bool) {
        let slot = if slot == UNCLAIMED { claim() } else { slot };
        let stripe = self.0.get_or_alloc(slot);
        if slot == SHARED {
            self.0
                .add_shared(stripe, nanos, bucket_index(nanos), success);
        } else {
            self.0
                .add_owned(stripe, nanos, bucket_index(nanos), success);
        }
    }

    /// Successes and summed latency, without the histogram.
    pub(crate) fn read_counts(&self) -> (u64, u64) {
        self.0.read_counts()
    }

    /// Sums the stripes, adding their histograms into `buckets`.
    pub(crate) fn read(&self, buckets: &mut [u64; BUCKETS]) -> StripeTotals {
        self.0.read(buckets)
    }

    /// Zeroes every counter. Meant for tests: a call racing with it on
    /// another thread may be lost, or may put back the count its stripe had
    /// before (its owner's store can land after the zero).
    pub(crate) fn reset(&self) {
        self.0.reset();
    }

    /// The stripes allocated so far (for tests).
    #[cfg(test)]
    pub(crate) fn allocated_slots(&self) -> Vec<usize> {
        self.0.allocated_slots()
    }

    /// Successes counted on the shared stripe (for tests).
    #[cfg(test)]
    pub(crate) fn shared_successes(&self) -> u64 {
        self.0.shared_successes()
    }

    /// Overwrites one bucket of the calling thread's stripe (for tests).
    #[cfg(test)]
    pub(crate) fn set_own_bucket(&self, index: usize, count: u32) {
        let slot = match SLOT.with(Cell::get) {
            UNCLAIMED => claim(),
            slot => slot,
        };
        self.0.set_bucket(slot, index, count);
    }

    /// Overwrites the success and latency counts of the calling thread's
    /// stripe (for tests).
    #[cfg(test)]
    pub(crate) fn set_own_counts(&self, successes: u64, nanos: u64) {
        let slot = match SLOT.with(Cell::get) {
            UNCLAIMED => claim(),
            slot => slot,
        };
        self.0.set_counts(slot, successes, nanos);
    }
}

static REGISTRY: SlotRegistry<OWNED> = SlotRegistry::new();

thread_local! {
    /// The calling thread's slot: read on every call. `const` and without
    /// a destructor, so it is one load and can be read at any time, even
    /// while the thread's other thread-locals are being destroyed.
    static SLOT: Cell<usize> = const { Cell::new(UNCLAIMED) };

    /// Gives the slot back when the thread exits.
    static RELEASE_ON_EXIT: SlotLease = const { SlotLease(Cell::new(UNCLAIMED)) };
}

/// A thread's hold on a slot, given back when the thread exits.
struct SlotLease(Cell<usize>);

impl Drop for SlotLease {
    fn drop(&mut self) {
        let slot = self.0.get();
        if slot < OWNED {
            // First: calls this thread still makes (from other thread-locals'
            // destructors) go to the shared stripe, never to the slot it
            // no longer owns.
            SLOT.with(|current| current.set(SHARED));
            REGISTRY.release(slot);
        }
    }
}

/// Claims a slot for the calling thread; the shared stripe if none is free,
/// or if the thread is already exiting (its lease could not be kept).
#[cold]
#[inline(never)]
fn claim() -> usize {
    let slot = RELEASE_ON_EXIT
        .try_with(|lease| {
            let slot = REGISTRY.claim().unwrap_or(SHARED);
            lease.0.set(slot);
            slot
        })
        .unwrap_or(SHARED);
    SLOT.with(|current| current.set(slot));
    slot
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hands_out_each_slot_once_and_takes_them_back() {
        let registry = SlotRegistry::<OWNED>::new();
        let slots: Vec<usize> = (0..OWNED).map(|_| registry.claim().unwrap()).collect();
        assert_eq!(slots, (0..OWNED).collect::<Vec<_>>());
        assert_eq!(registry.claim(), None);
        registry.release(5);
        assert_eq!(registry.claim(), Some(5));
        assert_eq!(registry.claim(), None);
    }

    #[test]
    fn stripe_is_one_kib() {
        assert_eq!(std::mem::size_of::<Stripe>(), 1024);
    }

    /// The tests that fill the process's slots take turns: one holding every
    /// slot would leave none free for the other (this failed about one run in 30).
    static SLOT_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn threads_that_exit_give_their_slot_back() {
        let _turn = SLOT_TESTS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        static SITE: Stripes = Stripes::new();
        // Three times as many threads as slots, one after the other: if an
        // exited thread kept its slot, the last ones would find none free
        // and count on the shared stripe.
        for _ in 0..3 * OWNED {
            std::thread::spawn(|| {
                for nanos in 1..=100 {
                    SITE.record(nanos, true);
                }
            })
            .join()
            .unwrap();
        }
        let mut buckets = [0; BUCKETS];
        let totals = SITE.read(&mut buckets);
        assert_eq!(totals.successes, 3 * OWNED as u64 * 100);
        assert_eq!(totals.nanos, 3 * OWNED as u64 * 5050);
        assert_eq!(totals.max_nanos, 100);
        assert_eq!(buckets.iter().sum::<u64>(), 3 * OWNED as u64 * 100);
        assert_eq!(SITE.shared_successes(), 0);
        assert!(!SITE.allocated_slots().contains(&SHARED));
    }

    #[test]
    fn a_reading_wraps_as_the_counters_do_instead_of_panicking() {
        let _turn = SLOT_TESTS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        static SITE: Stripes = Stripes::new();
        // Two stripes whose sum passes u64::MAX: each counter wraps on its
        // own, so the sum of all of them is kept modulo 2^64 too.
        // The test's thread keeps its slot while the other one counts.
        SITE.set_own_counts(u64::MAX, u64::MAX);
        std::thread::spawn(|| SITE.record(5, true)).join().unwrap();
        assert_eq!(SITE.allocated_slots().len(), 2);
        assert_eq!(SITE.read_counts(), (0, 4));
        let totals = SITE.read(&mut [0; BUCKETS]);
        assert_eq!((totals.successes, totals.nanos), (0, 4));
    }

    #[test]
    fn threads_beyond_the_slots_share_a_stripe_and_count_exactly() {
        let _turn = SLOT_TESTS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        static SITE: Stripes = Stripes::new();
        const THREADS: usize = OWNED + 4;
        const CALLS: u64 = 10_000;
        let barrier = std::sync::Barrier::new(THREADS);
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                scope.spawn(|| {
                    // Every thread holds its slot (or learns there is none)
                    // before any of them exits.
                    SITE.record(1, true);
                    barrier.wait();
                    for i in 1..CALLS {
                        SITE.record(i % 3_000, i % 7 != 0);
                    }
                });
            }
        });
        let per_thread_successes = CALLS - (1..CALLS).filter(|i| i % 7 == 0).count() as u64;
        let mut buckets = [0; BUCKETS];
        let totals = SITE.read(&mut buckets);
        assert_eq!(totals.successes, THREADS as u64 * per_thread_successes);
        assert_eq!(buckets.iter().sum::<u64>(), THREADS as u64 * CALLS);
        assert!(SITE.shared_successes() >= 4 * per_thread_successes);
        assert!(SITE.allocated_slots().len() <= STRIPES);
    }
}
