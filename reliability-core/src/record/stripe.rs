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
//! Why this layout, measured on the 2-vCPU CI machine (criterion medians;
//! the old and the new core built side by side and run alternately, twice,
//! with the same benches; docs/PERFORMANCE.md): two relaxed `fetch_add`s
//! cost 15 to 19 ns there, more than a clock read, while a plain load and
//! store of a line the thread owns compiles to one `add` to memory. With three
//! relaxed adds on a round-robin stripe a successful call took 54 to 60 ns
//! against 30 to 32 ns for its two raw clock reads alone; with owned stripes
//! it takes 33 to 36 ns (37 to 39 ns of CPU per call on 1, 2 and 4 threads,
//! where the old layout took 55 to 61). Per-thread shards merged on read (allocated
//! per thread, folded back on exit) would cost the same on the hot path but
//! grow with the number of threads; here a site is bounded by its slots: a
//! 256-byte `static`, at most `OWNED + 1` stripes of 1 KiB, each allocated
//! the first time a thread writes it, and the 1.9 KiB wide counters of a
//! bucket that wrapped (15,488 bytes at most; see `site::tests`).
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
use std::sync::atomic::{
    AtomicU32, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};

use once_cell::race::OnceBox;

use crate::record::histogram::{bucket_index, BUCKETS};

/// Stripe slots threads can own, process-wide. Chosen by the memory bound:
/// 13 stripes of 1 KiB, the wide counters (1.9 KiB) and the site itself fit
/// in 16 KiB. More threads than this still count exactly, on the shared
/// stripe, at the price of atomic adds.
pub(crate) const OWNED: usize = 12;

/// The stripe threads without a slot share.
const SHARED: usize = OWNED;

/// Stripes per call site: the owned ones and the shared one.
pub(crate) const STRIPES: usize = OWNED + 1;

/// The slot of a thread that has not finished an instrumented call yet.
const UNCLAIMED: usize = usize::MAX;

/// One stripe's counters. Aligned to 128 bytes (a pair of cache lines, the
/// unit the adjacent-line prefetcher moves): a stripe is allocated by the
/// thread that writes it, and shares no line with another allocation. A
/// call's hot words (the counts and the buckets of calls under 128 ns) sit
/// in its first cache line.
#[repr(C, align(128))]
pub(crate) struct Stripe {
    successes: AtomicU64,
    nanos: AtomicU64,
    max_nanos: AtomicU64,
    /// Wraps after 2^32 calls in one bucket into `Stripes::wide`.
    buckets: [AtomicU32; BUCKETS],
}

impl Stripe {
    fn new() -> Self {
        Stripe {
            successes: AtomicU64::new(0),
            nanos: AtomicU64::new(0),
            max_nanos: AtomicU64::new(0),
            buckets: [const { AtomicU32::new(0) }; BUCKETS],
        }
    }
}

/// Adds to a counter only this thread writes: a load and a store, no
/// read-modify-write.
#[inline(always)]
fn bump(counter: &AtomicU64, by: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(by), Relaxed);
}

/// The latency counters of one call site.
pub(crate) struct Stripes {
    slots: [OnceBox<Stripe>; STRIPES],
    /// Counts carried out of a stripe's 32-bit bucket when it wraps;
    /// allocated the first time that happens (after 2^32 calls in one
    /// bucket of one stripe).
    wide: OnceBox<[AtomicU64; BUCKETS]>,
}

/// What the stripes of one site hold, summed, besides the histogram.
pub(crate) struct StripeTotals {
    pub successes: u64,
    pub nanos: u64,
    pub max_nanos: u64,
}

impl Stripes {
    pub(crate) const fn new() -> Self {
        Stripes {
            slots: [const { OnceBox::new() }; STRIPES],
            wide: OnceBox::new(),
        }
    }

    /// One completed call of `nanos`, a success or not. The hot path: on a
    /// thread that owns a slot it makes no read-modify-write.
    #[inline(always)]
    pub(crate) fn record(&self, nanos: u64, success: bool) {
        let slot = SLOT.with(Cell::get);
        if slot < OWNED {
            if let Some(stripe) = self.slots[slot].get() {
                self.add_owned(stripe, nanos, success);
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
        let stripe = self.slots[slot].get_or_init(|| Box::new(Stripe::new()));
        if slot == SHARED {
            self.add_shared(stripe, nanos, success);
        } else {
            self.add_owned(stripe, nanos, success);
        }
    }

    /// Only the thread that owns the stripe's slot calls this.
    #[inline(always)]
    fn add_owned(&self, stripe: &Stripe, nanos: u64, success: bool) {
        if success {
            bump(&stripe.successes, 1);
        }
        bump(&stripe.nanos, nanos);
        let index = bucket_index(nanos);
        let bucket = &stripe.buckets[index];
        let count = bucket.load(Relaxed);
        if count == u32::MAX {
            self.carry(index);
            bucket.store(0, Relaxed);
        } else {
            bucket.store(count + 1, Relaxed);
        }
        if nanos > stripe.max_nanos.load(Relaxed) {
            stripe.max_nanos.store(nanos, Relaxed);
        }
    }

    #[cold]
    fn add_shared(&self, stripe: &Stripe, nanos: u64, success: bool) {
        if success {
            stripe.successes.fetch_add(1, Relaxed);
        }
        stripe.nanos.fetch_add(nanos, Relaxed);
        let index = bucket_index(nanos);
        if stripe.buckets[index].fetch_add(1, Relaxed) == u32::MAX {
            self.carry(index);
        }
        stripe.max_nanos.fetch_max(nanos, Relaxed);
    }

    /// A bucket of some stripe wrapped: its 2^32 calls move to the wide
    /// counter. A snapshot that reads the bucket and the wide counter while
    /// this happens may be off by 2^32 in that bucket, for that snapshot;
    /// the counts are not affected.
    #[cold]
    #[inline(never)]
    fn carry(&self, index: usize) {
        let wide = self
            .wide
            .get_or_init(|| Box::new([const { AtomicU64::new(0) }; BUCKETS]));
        wide[index].fetch_add(1 << 32, Relaxed);
    }

    fn allocated(&self) -> impl Iterator<Item = &Stripe> {
        self.slots.iter().filter_map(OnceBox::get)
    }

    /// Successes and summed latency, without the histogram.
    pub(crate) fn read_counts(&self) -> (u64, u64) {
        self.allocated().fold((0, 0), |(successes, nanos), stripe| {
            (
                successes + stripe.successes.load(Relaxed),
                nanos + stripe.nanos.load(Relaxed),
            )
        })
    }

    /// Sums the stripes, adding their histograms into `buckets` (a
    /// snapshot reads a thousand sites: it fills the reading in place
    /// rather than copy 1.9 KiB per site).
    pub(crate) fn read(&self, buckets: &mut [u64; BUCKETS]) -> StripeTotals {
        let mut totals = StripeTotals {
            successes: 0,
            nanos: 0,
            max_nanos: 0,
        };
        for stripe in self.allocated() {
            totals.successes += stripe.successes.load(Relaxed);
            totals.nanos += stripe.nanos.load(Relaxed);
            totals.max_nanos = totals.max_nanos.max(stripe.max_nanos.load(Relaxed));
            for (sum, bucket) in buckets.iter_mut().zip(stripe.buckets.iter()) {
                *sum += u64::from(bucket.load(Relaxed));
            }
        }
        if let Some(wide) = self.wide.get() {
            for (sum, extra) in buckets.iter_mut().zip(wide.iter()) {
                *sum += extra.load(Relaxed);
            }
        }
        totals
    }

    /// Zeroes every counter. Meant for tests: a call racing with it on
    /// another thread may be lost, or may put back the count its stripe had
    /// before (its owner's store can land after the zero).
    pub(crate) fn reset(&self) {
        for stripe in self.allocated() {
            stripe.successes.store(0, Relaxed);
            stripe.nanos.store(0, Relaxed);
            stripe.max_nanos.store(0, Relaxed);
            for bucket in &stripe.buckets {
                bucket.store(0, Relaxed);
            }
        }
        if let Some(wide) = self.wide.get() {
            for extra in wide.iter() {
                extra.store(0, Relaxed);
            }
        }
    }

    /// The stripes allocated so far (for tests).
    #[cfg(test)]
    pub(crate) fn allocated_slots(&self) -> Vec<usize> {
        (0..STRIPES)
            .filter(|&slot| self.slots[slot].get().is_some())
            .collect()
    }

    /// Successes counted on the shared stripe (for tests).
    #[cfg(test)]
    pub(crate) fn shared_successes(&self) -> u64 {
        self.slots[SHARED]
            .get()
            .map_or(0, |stripe| stripe.successes.load(Relaxed))
    }

    /// Overwrites one bucket of the calling thread's stripe (for tests).
    #[cfg(test)]
    pub(crate) fn set_own_bucket(&self, index: usize, count: u32) {
        let slot = match SLOT.with(Cell::get) {
            UNCLAIMED => claim(),
            slot => slot,
        };
        let stripe = self.slots[slot].get_or_init(|| Box::new(Stripe::new()));
        stripe.buckets[index].store(count, Relaxed);
    }
}

/// Which slots are taken, one bit each.
pub(crate) struct SlotRegistry {
    claimed: AtomicU32,
}

const ALL_SLOTS: u32 = (1 << OWNED) - 1;

impl SlotRegistry {
    pub(crate) const fn new() -> Self {
        SlotRegistry {
            claimed: AtomicU32::new(0),
        }
    }

    /// Takes the lowest free slot, if any. Acquire: the new owner sees
    /// every store the slot's previous owner made.
    pub(crate) fn claim(&self) -> Option<usize> {
        let before = self
            .claimed
            .fetch_update(Acquire, Relaxed, |claimed| {
                let free = !claimed & ALL_SLOTS;
                (free != 0).then(|| claimed | (free & free.wrapping_neg()))
            })
            .ok()?;
        Some((!before & ALL_SLOTS).trailing_zeros() as usize)
    }

    /// Gives a slot back. Release: pairs with `claim`.
    pub(crate) fn release(&self, slot: usize) {
        self.claimed.fetch_and(!(1 << slot), Release);
    }
}

static REGISTRY: SlotRegistry = SlotRegistry::new();

thread_local! {
    /// The calling thread's slot: read on every call. `const` and without
    /// a destructor, so it is one load and can be read at any time, even
    /// while the thread's other thread-locals are being destroyed.
    static SLOT: Cell<usize> = const { Cell::new(UNCLAIMED) };

    /// Gives the slot back when the thread exits.
    static RELEASE_ON_EXIT: SlotLease = const { SlotLease(Cell::new(UNCLAIMED)) };
}

/// The calling thread's slot, claimed now if it has none yet; `None` for a
/// thread that found every slot taken. Other counters that only their
/// thread writes (a bulkhead's places given back) are indexed by it too.
#[inline(always)]
pub(crate) fn owned_slot() -> Option<usize> {
    let mut slot = SLOT.with(Cell::get);
    if slot == UNCLAIMED {
        slot = claim();
    }
    (slot < OWNED).then_some(slot)
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
        let registry = SlotRegistry::new();
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
