//! The report's and the snapshot's JSON, written by reliability-core's own
//! serializer (no `serde_json` in its dependency graph), is byte for byte what
//! `serde_json::to_string_pretty` wrote before, and reads back into the same
//! report.

mod common;

use std::fs;
use std::time::Duration;

use reliability_core::{
    manager, reliable, Classify, ErrorCategory, MetricsSnapshot, ReliabilityReport,
};

#[derive(Debug)]
struct Odd(&'static str);

impl std::fmt::Display for Odd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl Classify for Odd {
    fn category(&self) -> ErrorCategory {
        ErrorCategory::Network
    }
}

/// Fails while `fail` is set; retried (and so recorded in the recovery
/// history) by the network strategy.
struct Upstream {
    failures_left: std::sync::atomic::AtomicU32,
}

#[reliable(
    component = "json \"quoted\" component",
    strategies = [network],
    max_attempts = 3,
    base_delay = "10ms",
    thresholds(max_consecutive_failures = 1, min_calls = 1000)
)]
impl Upstream {
    fn fetch(&self) -> Result<u32, Odd> {
        let left = self.failures_left.load(std::sync::atomic::Ordering::SeqCst);
        if left == 0 {
            return Ok(7);
        }
        self.failures_left
            .store(left - 1, std::sync::atomic::Ordering::SeqCst);
        Err(Odd("reset by peer:\n\t\"\\\" é \u{1}"))
    }
}

struct Plain;

#[reliable(component = "json_plain")]
impl Plain {
    fn ok(&self) {}
}

#[test]
fn a_full_report_is_written_as_serde_json_wrote_it_and_reads_back() {
    let clock = common::manual_clock();
    let upstream = Upstream {
        failures_left: 2.into(),
    };
    // Recovered after two network failures: a recovery session.
    assert_eq!(upstream.fetch().unwrap(), 7);
    // Fails every attempt: a failure with its error text, and a health change.
    upstream
        .failures_left
        .store(10, std::sync::atomic::Ordering::SeqCst);
    assert!(upstream.fetch().is_err());
    clock.advance(Duration::from_millis(1500));
    manager().check_health();
    Plain.ok();
    manager().check_health();

    let report = manager().report();
    assert!(report.components.len() >= 2);
    assert!(!report.recovery_history.is_empty());
    assert!(!report.health_timeline.is_empty());
    let method = report
        .components
        .iter()
        .find(|c| c.name == "json \"quoted\" component")
        .and_then(|c| c.method("fetch"))
        .expect("the component and its method");
    assert!(method.last_error.as_deref().unwrap().contains('\n'));

    let ours = report.to_json();
    let before = serde_json::to_string_pretty(&report).unwrap();
    assert_eq!(ours, before);
    let back: ReliabilityReport = serde_json::from_str(&ours).unwrap();
    assert_eq!(back, report);

    let snapshot = reliability_core::snapshot();
    let ours = snapshot.to_json();
    assert_eq!(ours, serde_json::to_string_pretty(&snapshot).unwrap());
    let back: MetricsSnapshot = serde_json::from_str(&ours).unwrap();
    assert_eq!(back, snapshot);

    let path = std::env::temp_dir().join(format!("reliability-json-{}.json", std::process::id()));
    let written = manager().export_report(&path).unwrap();
    let text = fs::read_to_string(&written).unwrap();
    let exported: ReliabilityReport = serde_json::from_str(&text).unwrap();
    assert_eq!(text, serde_json::to_string_pretty(&exported).unwrap());
    fs::remove_file(written).unwrap();
}
