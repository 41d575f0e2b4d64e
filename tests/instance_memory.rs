//! What an instance costs in memory: at most 4 KiB per (instance, method)
//! actually called, counted by a global allocator that tracks the bytes
//! live, with everything an instance brings (its record, its call site, the
//! calling thread's stripe, its runtime state once read).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use reliability_core::{reliable, Instance};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

struct Tenant {
    reliability: Instance,
}

#[reliable(component = "instance_memory", instance = reliability)]
impl Tenant {
    fn get(&self) -> Result<u8, std::io::Error> {
        Ok(1)
    }

    fn put(&self) -> Result<u8, std::io::Error> {
        Ok(2)
    }
}

/// Live bytes after `instances` tenants each made `calls` calls of one or
/// both methods, minus the live bytes before, per (instance, method).
fn bytes_per_instance_method(first: usize, instances: usize, both: bool) -> f64 {
    let tenants: Vec<Tenant> = (first..first + instances)
        .map(|i| Tenant {
            reliability: Instance::new(format!("tenant-{i:05}")),
        })
        .collect();
    // The first call of each method joins the component: not an instance's cost.
    let warm = Tenant {
        reliability: Instance::new("warm-up"),
    };
    warm.get().unwrap();
    warm.put().unwrap();
    drop(reliability_core::snapshot());
    let before = LIVE.load(Ordering::Relaxed);
    for tenant in &tenants {
        for _ in 0..10 {
            tenant.get().unwrap();
            if both {
                tenant.put().unwrap();
            }
        }
    }
    // Reading makes each instance's runtime state: counted too.
    let snapshot = reliability_core::snapshot();
    let seen = snapshot
        .component("instance_memory")
        .unwrap()
        .instances
        .len();
    assert!(seen > instances, "{seen}");
    drop(snapshot);
    let after = LIVE.load(Ordering::Relaxed);
    let methods = if both { 2 } else { 1 };
    (after - before) as f64 / (instances * methods) as f64
}

#[test]
fn an_instance_method_costs_at_most_four_kib() {
    reliability_core::manager().set_component_instance_limit("instance_memory", 10_000);
    let one_method = bytes_per_instance_method(0, 500, false);
    let two_methods = bytes_per_instance_method(500, 500, true);
    eprintln!(
        "bytes per (instance, method): {one_method:.0} with one method, {two_methods:.0} with two"
    );
    assert!(one_method <= 4096.0, "{one_method}");
    assert!(two_methods <= 4096.0, "{two_methods}");
    // The second method costs less than the first: the record is shared.
    assert!(two_methods < one_method, "{two_methods} vs {one_method}");
}
