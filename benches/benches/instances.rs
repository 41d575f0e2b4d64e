//! Reading 1,000 instances × 10 methods: `snapshot()` and `to_prometheus()`
//! together, in a process of its own so that nothing else is registered.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

#[path = "../examples/fleet_clients.rs"]
mod fleet;

fn read_fleet(c: &mut Criterion) {
    let fleet = fleet::Fleet::new(fleet::INSTANCES);
    fleet.call_every_method();
    let mut group = c.benchmark_group("snapshot_1000_instances");
    group.bench_function("snapshot_and_prometheus", |b| {
        b.iter(|| black_box(reliability_core::snapshot()).to_prometheus())
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
