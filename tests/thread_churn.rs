//! Thread churn: 1,000 short-lived threads, 20 alive at a time (more than
//! there are stripe slots, so some count on the shared stripe), each calling
//! eight methods. While they come and go, snapshots never go backwards (a
//! slot's next owner goes on from its last owner's counts); afterwards every
//! count is exact, and the resident set did not grow with the threads: an
//! exited thread's counts stay in its slot's stripe for the next thread,
//! nothing per thread is kept.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use reliability_core::reliable;

struct Churn;

#[reliable(component = "thread_churn")]
impl Churn {
    fn m0(&self, i: u64) -> Result<u64, String> {
        outcome(i)
    }
    fn m1(&self, i: u64) -> Result<u64, String> {
        outcome(i)
    }
    fn m2(&self, i: u64) -> Result<u64, String> {
        outcome(i)
    }
    fn m3(&self, i: u64) -> Result<u64, String> {
        outcome(i)
    }
    fn m4(&self, i: u64) -> Result<u64, String> {
        outcome(i)
    }
    fn m5(&self, i: u64) -> Result<u64, String> {
        outcome(i)
    }
    fn m6(&self, i: u64) -> Result<u64, String> {
        outcome(i)
    }
    fn m7(&self, i: u64) -> Result<u64, String> {
        outcome(i)
    }
}

fn outcome(i: u64) -> Result<u64, String> {
    if i.is_multiple_of(10) {
        Err(format!("call {i} failed"))
    } else {
        Ok(i)
    }
}

const THREADS: u64 = 1_000;
const ALIVE: u64 = 20;
const WARM_UP_WAVES: u64 = 3;
/// Calls of each method per thread; a multiple of 10.
const CALLS: u64 = if cfg!(debug_assertions) { 100 } else { 1_000 };
const METHODS: [&str; 8] = ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"];

/// Resident set size in bytes, from /proc (Linux).
fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn wave() {
    let threads: Vec<_> = (0..ALIVE)
        .map(|_| {
            thread::spawn(|| {
                for i in 0..CALLS {
                    let _ = Churn.m0(i);
                    let _ = Churn.m1(i);
                    let _ = Churn.m2(i);
                    let _ = Churn.m3(i);
                    let _ = Churn.m4(i);
                    let _ = Churn.m5(i);
                    let _ = Churn.m6(i);
                    let _ = Churn.m7(i);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

/// (calls, successes) of each method, in `METHODS` order.
fn counts() -> Vec<(u64, u64)> {
    let snapshot = reliability_core::snapshot();
    METHODS
        .iter()
        .map(|name| {
            snapshot
                .component("thread_churn")
                .and_then(|component| component.method(name))
                .map_or((0, 0), |method| (method.calls, method.successes))
        })
        .collect()
}

#[test]
fn a_thousand_short_lived_threads_leave_exact_counts_and_flat_memory() {
    let done = AtomicBool::new(false);
    let (before, after, snapshots) = thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let mut last = counts();
            let mut snapshots = 0u64;
            while !done.load(Ordering::Relaxed) {
                let now = counts();
                for ((name, then), now) in METHODS.iter().zip(&last).zip(&now) {
                    assert!(
                        now.0 >= then.0 && now.1 >= then.1,
                        "{name} went back from {then:?} to {now:?}"
                    );
                }
                last = now;
                snapshots += 1;
            }
            snapshots
        });
        let waves = THREADS / ALIVE;
        for _ in 0..WARM_UP_WAVES {
            wave();
        }
        let before = rss();
        for _ in WARM_UP_WAVES..waves {
            wave();
        }
        let after = rss();
        done.store(true, Ordering::Relaxed);
        (before, after, watcher.join().unwrap())
    });
    assert!(snapshots > 0);
    if let (Some(before), Some(after)) = (before, after) {
        // Keeping a stripe per exited thread and site would grow by
        // 8 sites × 1 KiB × 940 threads, over 7 MiB.
        let growth = after.saturating_sub(before);
        assert!(
            growth <= 1 << 20,
            "RSS grew by {growth} bytes over {} threads",
            THREADS - WARM_UP_WAVES * ALIVE
        );
    }
    let snapshot = reliability_core::snapshot();
    let component = snapshot.component("thread_churn").unwrap();
    for name in METHODS {
        let method = component.method(name).unwrap();
        assert_eq!(method.calls, THREADS * CALLS, "{name}");
        assert_eq!(method.failures, THREADS * CALLS / 10, "{name}");
        assert_eq!(method.successes, THREADS * CALLS / 10 * 9, "{name}");
        assert_eq!(
            method.latency_buckets.last().copied(),
            Some(THREADS * CALLS),
            "{name}: every call's latency is in the histogram"
        );
    }
}
