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

/// This thread's CPU time, in ms: what a reading costs, without the time
/// the thread waited for a core on a shared machine.
fn cpu_ms() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 * 1e3 + t.tv_nsec as f64 / 1e6
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
    let called = rss();
    // Reading makes each instance's runtime state: an instance's cost too.
    drop(reliability_core::snapshot().to_prometheus());
    // What the process keeps, not what the allocator holds on to of the
    // snapshot just dropped.
    // SAFETY: malloc_trim only returns free memory to the system.
    unsafe { libc::malloc_trim(0) };
    let after = rss();
    let pairs = ((fleet::INSTANCES - 1) * 10) as f64;
    let (mut snap_ms, mut text_ms) = (Vec::new(), Vec::new());
    let (mut snap_cpu, mut text_cpu) = (Vec::new(), Vec::new());
    let mut text = String::new();
    let rounds: usize = std::env::var("FLEET_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(21);
    for _ in 0..rounds {
        let (start, cpu_start) = (Instant::now(), cpu_ms());
        let snapshot = reliability_core::snapshot();
        let (taken, cpu_taken) = (Instant::now(), cpu_ms());
        text = snapshot.to_prometheus();
        let (done, cpu_done) = (Instant::now(), cpu_ms());
        snap_cpu.push(cpu_taken - cpu_start);
        text_cpu.push(cpu_done - cpu_taken);
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
    println!(
        "snapshot():           {:.2} ms ({:.2} ms CPU)",
        median(snap_ms),
        median(snap_cpu)
    );
    println!(
        "to_prometheus():      {:.2} ms ({:.2} ms CPU)",
        median(text_ms),
        median(text_cpu)
    );
    println!(
        "RSS per (instance, method): {:.2} KiB once called, {:.2} KiB once read (after malloc_trim)",
        (called - before) as f64 / pairs / 1024.0,
        (after - before) as f64 / pairs / 1024.0
    );
}
