//! The concurrent core of `stripe.rs`: the registry that leases stripe
//! slots to threads, and the lazily allocated stripes their owners write
//! with plain loads and stores. It uses `crate::sync` alone, so
//! `loom_models.rs` checks this very code; sizes are parameters, so a model
//! runs it with two slots and two buckets.

use crate::sync::atomic::{
    AtomicU32, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use crate::sync::{const_fn, repeat, OnceBox};

/// Which of `SLOTS` (at most 32) slots are taken, one bit each.
pub(crate) struct SlotRegistry<const SLOTS: usize> {
    claimed: AtomicU32,
}

impl<const SLOTS: usize> SlotRegistry<SLOTS> {
    const ALL: u32 = {
        assert!(SLOTS >= 1 && SLOTS <= 32);
        u32::MAX >> (32 - SLOTS)
    };

    const_fn! {
        pub(crate) fn new() -> Self {
            SlotRegistry {
                claimed: AtomicU32::new(0),
            }
        }
    }

    /// Takes the lowest free slot, if any. Acquire: the new owner sees
    /// every store the slot's previous owner made.
    pub(crate) fn claim(&self) -> Option<usize> {
        let before = self
            .claimed
            .fetch_update(Acquire, Relaxed, |claimed| {
                let free = !claimed & Self::ALL;
                (free != 0).then(|| claimed | (free & free.wrapping_neg()))
            })
            .ok()?;
        Some((!before & Self::ALL).trailing_zeros() as usize)
    }

    /// Gives a slot back. Release: pairs with `claim`.
    pub(crate) fn release(&self, slot: usize) {
        self.claimed.fetch_and(!(1 << slot), Release);
    }
}

/// One stripe's counters. Aligned to 128 bytes (a pair of cache lines, the
/// unit the adjacent-line prefetcher moves): a stripe is allocated by the
/// thread that writes it, and shares no line with another allocation. A
/// call's hot words (the counts and the first buckets) sit in its first
/// cache line.
#[repr(C, align(128))]
pub(crate) struct Stripe<const BUCKETS: usize> {
    successes: AtomicU64,
    nanos: AtomicU64,
    max_nanos: AtomicU64,
    /// Wraps after 2^32 calls in one bucket into `StripeSet::wide`.
    buckets: [AtomicU32; BUCKETS],
}

impl<const BUCKETS: usize> Stripe<BUCKETS> {
    fn new() -> Self {
        Stripe {
            successes: AtomicU64::new(0),
            nanos: AtomicU64::new(0),
            max_nanos: AtomicU64::new(0),
            buckets: repeat![AtomicU32::new(0); BUCKETS],
        }
    }
}

/// Adds to a counter only this thread writes: a load and a store, no
/// read-modify-write. Wraps, as the shared stripe's atomic adds do.
#[inline(always)]
fn bump(counter: &AtomicU64, by: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(by), Relaxed);
}

/// What the stripes of one site hold, summed, besides the histogram. Every
/// sum wraps as the counters do: no reading panics, however long the
/// process runs.
pub(crate) struct StripeTotals {
    pub successes: u64,
    pub nanos: u64,
    pub max_nanos: u64,
}

/// `STRIPES` lazily allocated stripes: the first `STRIPES - 1` each written
/// by the thread that holds the slot of the same index, the last one shared
/// by threads without a slot.
pub(crate) struct StripeSet<const STRIPES: usize, const BUCKETS: usize> {
    slots: [OnceBox<Stripe<BUCKETS>>; STRIPES],
    /// Counts carried out of a stripe's 32-bit bucket when it wraps;
    /// allocated the first time that happens (after 2^32 calls in one
    /// bucket of one stripe).
    wide: OnceBox<[AtomicU64; BUCKETS]>,
}

impl<const STRIPES: usize, const BUCKETS: usize> StripeSet<STRIPES, BUCKETS> {
    /// The stripe of threads without a slot.
    pub(crate) const SHARED: usize = STRIPES - 1;

    const_fn! {
        pub(crate) fn new() -> Self {
            StripeSet {
                slots: repeat![OnceBox::new(); STRIPES],
                wide: OnceBox::new(),
            }
        }
    }

    /// The stripe of `slot` if it is allocated: one acquire load.
    #[inline(always)]
    pub(crate) fn get(&self, slot: usize) -> Option<&Stripe<BUCKETS>> {
        self.slots[slot].get()
    }

    /// The stripe of `slot`, allocated now if it is not yet.
    pub(crate) fn get_or_alloc(&self, slot: usize) -> &Stripe<BUCKETS> {
        self.slots[slot].get_or_init(|| Box::new(Stripe::new()))
    }

    /// One call of `nanos`, in bucket `index`, on the stripe of the
    /// calling thread's slot. Only the thread that holds the slot calls
    /// this.
    #[inline(always)]
    pub(crate) fn add_owned(
        &self,
        stripe: &Stripe<BUCKETS>,
        nanos: u64,
        index: usize,
        success: bool,
    ) {
        if success {
            bump(&stripe.successes, 1);
        }
        bump(&stripe.nanos, nanos);
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

    /// One call on the shared stripe, which any thread may write.
    #[cold]
    pub(crate) fn add_shared(
        &self,
        stripe: &Stripe<BUCKETS>,
        nanos: u64,
        index: usize,
        success: bool,
    ) {
        if success {
            stripe.successes.fetch_add(1, Relaxed);
        }
        stripe.nanos.fetch_add(nanos, Relaxed);
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
            .get_or_init(|| Box::new(repeat![AtomicU64::new(0); BUCKETS]));
        wide[index].fetch_add(1 << 32, Relaxed);
    }

    fn allocated(&self) -> impl Iterator<Item = &Stripe<BUCKETS>> {
        self.slots.iter().filter_map(OnceBox::get)
    }

    /// Successes and summed latency, without the histogram.
    pub(crate) fn read_counts(&self) -> (u64, u64) {
        self.allocated().fold((0, 0), |(successes, nanos), stripe| {
            (
                successes.wrapping_add(stripe.successes.load(Relaxed)),
                nanos.wrapping_add(stripe.nanos.load(Relaxed)),
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
            totals.successes = totals
                .successes
                .wrapping_add(stripe.successes.load(Relaxed));
            totals.nanos = totals.nanos.wrapping_add(stripe.nanos.load(Relaxed));
            totals.max_nanos = totals.max_nanos.max(stripe.max_nanos.load(Relaxed));
            for (sum, bucket) in buckets.iter_mut().zip(stripe.buckets.iter()) {
                *sum = sum.wrapping_add(u64::from(bucket.load(Relaxed)));
            }
        }
        if let Some(wide) = self.wide.get() {
            for (sum, extra) in buckets.iter_mut().zip(wide.iter()) {
                *sum = sum.wrapping_add(extra.load(Relaxed));
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
        self.slots[Self::SHARED]
            .get()
            .map_or(0, |stripe| stripe.successes.load(Relaxed))
    }

    /// Overwrites one bucket of `slot`'s stripe (for tests).
    #[cfg(test)]
    pub(crate) fn set_bucket(&self, slot: usize, index: usize, count: u32) {
        self.get_or_alloc(slot).buckets[index].store(count, Relaxed);
    }

    /// Overwrites the success and latency counts of `slot`'s stripe (for
    /// tests).
    #[cfg(test)]
    pub(crate) fn set_counts(&self, slot: usize, successes: u64, nanos: u64) {
        let stripe = self.get_or_alloc(slot);
        stripe.successes.store(successes, Relaxed);
        stripe.nanos.store(nanos, Relaxed);
    }
}
