//! Reading 1,000 instances × 10 methods: `snapshot()` and `to_prometheus()`
//! together, in a process of its own so that nothing else is registered.
//! Timed in this thread's CPU time, as the threaded benches of `overhead`
//! are: on a machine shared with other jobs, wall time counts the wait for
//! a CPU as the cost of the reading.

use std::hint::black_box;
use std::time::Duration;

/// This thread's CPU time.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; the clock id is a constant
    // every Linux kernel since 2.6.12 supports.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

use criterion::{criterion_group, criterion_main, Criterion};

#[path = "../examples/fleet_clients.rs"]
mod fleet;

fn read_fleet(c: &mut Criterion) {
    let fleet = fleet::Fleet::new(fleet::INSTANCES);
    fleet.call_every_method();
    let mut group = c.benchmark_group("snapshot_1000_instances");
    group.bench_function("snapshot_and_prometheus", |b| {
        b.iter_custom(|iters| {
            let start = thread_cpu_time();
            for _ in 0..iters {
                black_box(black_box(reliability_core::snapshot()).to_prometheus());
            }
            thread_cpu_time() - start
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = read_fleet
}
criterion_main!(benches);
