//! The stripe hand-off between threads: the slot registry that leases
//! stripe slots, and the lazily allocated stripes their owners write.

// The part has more than its models use.
#![allow(dead_code)]

#[path = "../record/stripe_slots.rs"]
mod stripe_slots;

use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering::Relaxed as StdRelaxed};

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;

use super::explore::{explore, reader_yield};
use stripe_slots::{SlotRegistry, StripeSet};

/// Counts one lease in a slot's plain cell. Loom fails the model if two
/// accesses to the cell are not ordered by happens-before.
fn lease(cell: &UnsafeCell<u32>) {
    // SAFETY: what the model checks: only the slot's holder writes it.
    cell.with_mut(|leases| unsafe { *leases += 1 });
}

fn leases_in(cell: &UnsafeCell<u32>) -> u32 {
    // SAFETY: every holder is joined.
    cell.with(|leases| unsafe { *leases })
}

/// Owned slots in the models.
const OWNED: usize = 1;
/// One owned stripe and the shared one, two buckets each.
type Set = StripeSet<{ OWNED + 1 }, 2>;
const SHARED: usize = Set::SHARED;

/// What `Stripes::record` does with the slot its thread-local holds.
fn record(set: &Set, slot: usize, nanos: u64, index: usize) {
    if slot < OWNED {
        if let Some(stripe) = set.get(slot) {
            set.add_owned(stripe, nanos, index, true);
            return;
        }
    }
    let stripe = set.get_or_alloc(slot);
    if slot == SHARED {
        set.add_shared(stripe, nanos, index, true);
    } else {
        set.add_owned(stripe, nanos, index, true);
    }
}

/// Successes, summed nanoseconds and summed buckets, as a snapshot reads
/// them, after a yield (see `explore::reader_yield`).
fn totals(set: &Set) -> (u64, u64, u64) {
    reader_yield();
    let mut buckets = [0; 2];
    let totals = set.read(&mut buckets);
    (totals.successes, totals.nanos, buckets.iter().sum())
}

/// Two threads each lease the one owned slot (or find it taken and use
/// the shared stripe), count a call and give the slot back, as a thread
/// does on exit; a snapshot reads twice meanwhile.
///
/// - The slot's holders never overlap: each writes `leases`, a plain
///   cell, which loom reports if two accesses are not ordered by
///   happens-before, i.e. if the registry's hand-off did not order them.
/// - A slot handed on keeps its counts: the second holder adds to what
///   the first stored, so the totals are exact after both, and both
///   calls are on the one stripe when both leased it.
/// - The reader never sees a total go back or pass what was counted.
#[test]
fn a_slot_passes_between_threads_with_its_counts() {
    // How often the reader's second reading saw no call, one, both:
    // each happens.
    let outcomes = std::sync::Arc::new([(); 3].map(|()| StdAtomicUsize::new(0)));
    let counted = std::sync::Arc::clone(&outcomes);
    explore("stripe hand-off", 2, move || {
        let registry = Arc::new(SlotRegistry::<OWNED>::new());
        let set = Arc::new(Set::new());
        let leases = Arc::new(UnsafeCell::new(0_u32));
        let callers: Vec<_> = [(3, 0), (200, 1)]
            .into_iter()
            .map(|(nanos, index)| {
                let (registry, set, leases) =
                    (Arc::clone(&registry), Arc::clone(&set), Arc::clone(&leases));
                thread::spawn(move || {
                    let slot = registry.claim().unwrap_or(SHARED);
                    if slot < OWNED {
                        lease(&leases);
                    }
                    record(&set, slot, nanos, index);
                    if slot < OWNED {
                        registry.release(slot);
                    }
                })
            })
            .collect();
        let first = totals(&set);
        let second = totals(&set);
        assert!(first.0 <= second.0 && first.1 <= second.1 && first.2 <= second.2);
        assert!(second.0 <= 2 && second.1 <= 203 && second.2 <= 2);
        counted[second.0 as usize].fetch_add(1, StdRelaxed);
        callers.into_iter().for_each(|c| c.join().unwrap());
        assert_eq!(totals(&set), (2, 203, 2));
        let leased = leases_in(&leases);
        assert!(leased >= 1, "a free slot was refused");
        if leased == 2 {
            assert_eq!(set.allocated_slots(), [0]);
        }
        assert_eq!(registry.claim(), Some(0), "the slot came back");
    });
    assert!(outcomes.iter().all(|count| count.load(StdRelaxed) > 0));
}

/// Two slots' stripes are allocated by their first calls while a
/// snapshot reads; one of them starts with a full bucket and carries
/// into the wide counters (allocated then too), and with success and
/// latency counts at u64::MAX, so the sums wrap.
///
/// - No arithmetic panics (the loom build has overflow checks on).
/// - A snapshot during the carry is off by at most 2^32 in the bucket,
///   besides the call it may not see yet; after both calls, the bucket
///   holds exactly 2^32 + 1.
#[test]
fn stripes_allocated_and_carried_under_a_reader_count_exactly() {
    explore("stripe allocation and carry", 3, || {
        let set = Arc::new(StripeSet::<3, 2>::new());
        set.set_bucket(0, 1, u32::MAX);
        set.set_counts(0, u64::MAX, u64::MAX);
        let callers: Vec<_> = (0..2)
            .map(|slot| {
                let set = Arc::clone(&set);
                thread::spawn(move || {
                    let stripe = set.get_or_alloc(slot);
                    set.add_owned(stripe, 200, 1, true);
                })
            })
            .collect();
        let exact = u64::from(u32::MAX) + 2;
        let mut buckets = [0; 2];
        reader_yield();
        set.read(&mut buckets);
        assert!(buckets[1].abs_diff(exact) <= (1 << 32) + 1, "{buckets:?}");
        callers.into_iter().for_each(|c| c.join().unwrap());
        let mut buckets = [0; 2];
        let totals = set.read(&mut buckets);
        assert_eq!(buckets, [0, exact]);
        // u64::MAX + 2 calls, u64::MAX + 400 ns, both modulo 2^64.
        assert_eq!(
            (totals.successes, totals.nanos, totals.max_nanos),
            (1, 399, 200)
        );
    });
}

/// Three threads lease two slots, one lease each, and give them back.
///
/// - A slot is never held by two threads at once, and each holder's
///   writes happen before the next holder's (a plain cell per slot).
/// - Every slot is free again at the end.
#[test]
fn three_threads_share_two_slots_without_overlap() {
    explore("slot registry, 3 threads on 2 slots", 2, || {
        let registry = Arc::new(SlotRegistry::<2>::new());
        let holders = Arc::new([UnsafeCell::new(0_u32), UnsafeCell::new(0_u32)]);
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (registry, holders) = (Arc::clone(&registry), Arc::clone(&holders));
                thread::spawn(move || {
                    let Some(slot) = registry.claim() else {
                        return false;
                    };
                    lease(&holders[slot]);
                    registry.release(slot);
                    true
                })
            })
            .collect();
        let leased = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|&leased| leased)
            .count();
        // Two threads always find a slot: at most one other holds one.
        assert!(leased >= 2);
        let total: u32 = holders.iter().map(leases_in).sum();
        assert_eq!(total as usize, leased);
        assert_eq!((registry.claim(), registry.claim()), (Some(0), Some(1)));
    });
}
