//! Soak: many calls, a tenth of them failing and escalating. Memory stays
//! flat after warm-up, the recovery history stays at its cap, the health
//! timeline stays bounded. Debug builds make 200,000 calls;
//! `cargo test --release --test soak` makes 10,000,000.

use std::fmt;

use reliability_core::{manager, reliable};

#[derive(Debug)]
struct Refused;

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection refused")
    }
}

struct Endpoint;

#[reliable(component = "soak_endpoint", strategies = [escalate])]
impl Endpoint {
    fn call(&self, i: u64) -> Result<u64, Refused> {
        if i % 10 == 3 {
            Err(Refused)
        } else {
            Ok(i)
        }
    }
}

const CALLS: u64 = if cfg!(debug_assertions) {
    200_000
} else {
    10_000_000
};
const HISTORY: usize = 1_000;

/// Resident set size in bytes, from /proc (Linux).
fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn run(from: u64, to: u64) {
    for i in from..to {
        let _ = Endpoint.call(i);
        if i % 50_000 == 0 {
            // Flapping health feeds the timeline.
            manager().check_health();
        }
    }
}

#[test]
fn memory_history_and_timeline_stay_bounded() {
    manager().set_history_capacity(HISTORY);
    let warm_up = CALLS / 10;
    run(0, warm_up);
    let before = rss();
    run(warm_up, CALLS);
    let after = rss();
    if let (Some(before), Some(after)) = (before, after) {
        let growth = after.saturating_sub(before);
        assert!(
            growth <= 1 << 20,
            "RSS grew by {growth} bytes after warm-up"
        );
    }
    let history = manager().recovery_history();
    assert_eq!(history.len(), HISTORY);
    assert!(history.windows(2).all(|w| w[0].id < w[1].id));
    assert!(manager().health_timeline().len() <= 1_000);
    let call = reliability_core::snapshot()
        .component("soak_endpoint")
        .unwrap()
        .method("call")
        .unwrap()
        .clone();
    assert_eq!(call.calls, CALLS);
    assert_eq!(call.failures, CALLS / 10);
}
