//! The retry budget under total failure. A binary of its own: it owns the
//! manual clock, so no other test moves the budget's window.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

mod common;

use reliability_core::{reliable, ManualClock};

#[derive(Debug)]
struct Reset;

impl fmt::Display for Reset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection reset")
    }
}

struct Budgeted {
    attempts: AtomicU64,
}

#[reliable(
    component = "recovery_budget",
    strategies = [retry],
    max_attempts = 10,
    base_delay = "1ms",
    jitter = false,
    retry_budget(ratio = 0.2, per_second = 1, window = "10s"),
    // Keep health out of the way: the budget alone must cap the retries.
    thresholds(max_consecutive_failures = 1000000, min_success_rate = 0.0, degraded_success_rate = 0.0)
)]
impl Budgeted {
    fn fetch(&self) -> Result<String, Reset> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        Err(Reset)
    }
}

/// Each call's first attempt fails and its retry succeeds, so only the
/// budget decides whether a call recovers.
struct FlakyOnce {
    seen: Mutex<HashSet<u64>>,
    retries: AtomicU64,
}

#[reliable(
    component = "recovery_budget_binding",
    strategies = [retry],
    base_delay = "1ms",
    jitter = false,
    retry_budget(ratio = 0.2, per_second = 1, window = "10s"),
    thresholds(max_consecutive_failures = 1000000, min_success_rate = 0.0, degraded_success_rate = 0.0)
)]
impl FlakyOnce {
    fn fetch(&self, id: u64) -> Result<u64, Reset> {
        if self.seen.lock().unwrap().insert(id) {
            Err(Reset)
        } else {
            self.retries.fetch_add(1, Ordering::SeqCst);
            Ok(id)
        }
    }
}

fn install_clock() -> Arc<ManualClock> {
    common::manual_clock()
}

#[test]
fn the_budget_is_what_limits_recovery() {
    install_clock();
    let service = FlakyOnce {
        seen: Mutex::new(HashSet::new()),
        retries: AtomicU64::new(0),
    };
    let calls = 1_000u64;
    let recovered = (0..calls).filter(|id| service.fetch(*id).is_ok()).count() as u64;
    let retries = service.retries.load(Ordering::SeqCst);
    assert_eq!(recovered, retries);
    // 20 % of the calls plus 1 per second of the 10 s window.
    assert!(
        (calls / 5 - 10..=calls / 5 + 10).contains(&retries),
        "{retries} retries"
    );
    // Every call whose retry the budget refused is counted, exactly: it is
    // what `reliability_retry_budget_exhausted_total` exports.
    let snap = reliability_core::snapshot();
    let component = snap.component("recovery_budget_binding").unwrap();
    assert_eq!(component.recovery.budget_exhausted, calls - retries);
}

#[test]
fn the_retry_budget_caps_retries_under_total_failure() {
    let clock = install_clock();
    let service = Budgeted {
        attempts: AtomicU64::new(0),
    };
    let calls = 10_000;
    for _ in 0..calls {
        let _ = service.fetch();
    }
    let retries = service.attempts.load(Ordering::SeqCst) - calls;
    // The retries' own 1 ms delays move the clock by a few seconds at most,
    // so the 10 s window holds every call: 20 % of them plus 1 per second.
    // (Strategies that keep failing are passed over too, so fewer is fine.)
    let budget = calls / 5 + 10;
    assert!(retries <= budget, "{retries} retries, budget {budget}");
    assert!(clock.slept() <= std::time::Duration::from_secs(5));
}
