//! The instance figures of issue 24 for 1,000 instances × 10 methods: series
//! on `/metrics`, text per scrape, `snapshot()` and `to_prometheus()` times
//! (medians of 21 runs; the criterion row is `snapshot_1000_instances`), and
//! resident memory per (instance, method).
//!
//! `cargo run --release --manifest-path benches/Cargo.toml --example fleet`

use std::time::Instant;

#[path = "fleet_clients.rs"]
mod fleet;

/// Resident set size, in bytes (Linux).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    // The first call of each method joins the component: not an instance's cost.
    let warm = fleet::Fleet::new(1);
    warm.call_every_method();
    drop(reliability_core::snapshot().to_prometheus());
    let before = rss();
    let fleet = fleet::Fleet::numbered(1, fleet::INSTANCES - 1);
    fleet.call_every_method();
    drop(reliability_core::snapshot().to_prometheus());
    let after = rss();
    let pairs = ((fleet::INSTANCES - 1) * 10) as f64;
    let (mut snap_ms, mut text_ms) = (Vec::new(), Vec::new());
    let mut text = String::new();
    for _ in 0..21 {
        let start = Instant::now();
        let snapshot = reliability_core::snapshot();
        let taken = Instant::now();
        text = snapshot.to_prometheus();
        let done = Instant::now();
        snap_ms.push((taken - start).as_secs_f64() * 1e3);
        text_ms.push((done - taken).as_secs_f64() * 1e3);
    }
    let series = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();
    println!("instances:            {} × 10 methods", fleet::INSTANCES);
    println!("series on /metrics:   {series}");
    println!(
        "text per scrape:      {:.2} MiB",
        text.len() as f64 / (1 << 20) as f64
    );
    println!("snapshot():           {:.2} ms", median(snap_ms.clone()));
    println!("to_prometheus():      {:.2} ms", median(text_ms.clone()));
    println!(
        "RSS per (instance, method): {:.2} KiB",
        (after - before) as f64 / pairs / 1024.0
    );
}
