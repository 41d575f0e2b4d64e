//! The background monitor, events, `tracing`, the JSON report and the
//! Prometheus text. One binary: it owns the manager's clock, so the monitor's
//! notion of time is driven by the test.

mod common;

use std::collections::HashMap;
use std::fs;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reliability_core::{
    export::ReportError, manager, monitor::MonitorConfig, reliable, HealthStatus, ManualClock,
    ReliabilityEvent, ReliabilityReport, Thresholds,
};

/// The tests here share the manager's clock and the monitor's notion of
/// time, so they take turns.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn clock() -> Arc<ManualClock> {
    common::manual_clock()
}

struct Flaky;

#[reliable(
    component = "monitored_flaky",
    thresholds(max_consecutive_failures = 2, min_calls = 1000)
)]
impl Flaky {
    fn call(&self, ok: bool) -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err("upstream down".into())
        }
    }
}

/// The events about one component, as a listener sees them.
fn record_events(
    component: &'static str,
) -> (
    reliability_core::Subscription,
    Arc<Mutex<Vec<ReliabilityEvent>>>,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let subscription = {
        let seen = Arc::clone(&seen);
        manager().subscribe(move |event: &ReliabilityEvent| {
            if event.component() == component {
                seen.lock().unwrap().push(event.clone());
            }
        })
    };
    (subscription, seen)
}

fn statuses(events: &[ReliabilityEvent]) -> Vec<(HealthStatus, HealthStatus)> {
    events
        .iter()
        .filter_map(|event| match event {
            ReliabilityEvent::HealthChanged { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_monitor_sees_a_component_go_unhealthy_and_recover() {
    let _turn = serial();
    let clock = clock();
    let (_subscription, seen) = record_events("monitored_flaky");
    Flaky.call(true).unwrap();
    manager().check_health();
    for _ in 0..2 {
        let _ = Flaky.call(false);
    }
    clock.advance(Duration::from_secs(10));
    manager().check_health();
    clock.advance(Duration::from_secs(30));
    Flaky.call(true).unwrap();
    manager().check_health();
    assert_eq!(
        statuses(&seen.lock().unwrap()),
        [
            (HealthStatus::Healthy, HealthStatus::Unhealthy),
            (HealthStatus::Unhealthy, HealthStatus::Healthy)
        ]
    );
    let timeline: Vec<_> = manager()
        .health_timeline()
        .into_iter()
        .filter(|t| t.component == "monitored_flaky")
        .collect();
    assert_eq!(timeline.len(), 2);
    assert_eq!(
        timeline[0].reason.as_deref(),
        Some("2 consecutive failures (limit 2)")
    );
    // Unhealthy for 30 of the 40 monitored seconds.
    let snapshot = reliability_core::snapshot();
    let uptime = snapshot.component("monitored_flaky").unwrap().uptime;
    assert!((uptime - 0.25).abs() < 1e-9, "{uptime}");
}

struct Quiet;

#[reliable(component = "monitored_quiet")]
impl Quiet {
    fn ping(&self) {}
}

#[test]
fn a_component_without_calls_goes_stale_once() {
    let _turn = serial();
    let clock = clock();
    let (_subscription, seen) = record_events("monitored_quiet");
    Quiet.ping();
    // Ticks are driven by hand, through the code the monitor thread runs.
    for _ in 0..70 {
        clock.advance(Duration::from_secs(1));
        manager().check_health();
    }
    let stale = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, ReliabilityEvent::ComponentStale { .. }))
        .count();
    // The default stale_after is 60 intervals: reported once, not every tick.
    assert_eq!(stale, 1);
    Quiet.ping();
    manager().check_health();
}

#[test]
fn a_panicking_listener_is_contained() {
    let _turn = serial();
    let _ = clock();
    let panics_before = manager().listener_panics();
    let _bad = manager().subscribe(|event: &ReliabilityEvent| {
        if event.component() == "monitored_listener" {
            panic!("listener bug");
        }
    });
    let (_good, seen) = record_events("monitored_listener");
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    manager().record_error(
        "monitored_listener",
        "op",
        &"down",
        Duration::from_millis(1),
    );
    for _ in 0..3 {
        manager().record_error(
            "monitored_listener",
            "op",
            &"down",
            Duration::from_millis(1),
        );
    }
    manager().check_health();
    std::panic::set_hook(quiet);
    assert!(manager().listener_panics() > panics_before);
    assert_eq!(
        statuses(&seen.lock().unwrap()).len(),
        1,
        "the other listener still got the event"
    );
}

#[test]
fn dropping_the_subscription_unsubscribes() {
    let _turn = serial();
    let _ = clock();
    let (subscription, seen) = record_events("monitored_unsubscribed");
    drop(subscription);
    for _ in 0..3 {
        manager().record_error(
            "monitored_unsubscribed",
            "op",
            &"down",
            Duration::from_millis(1),
        );
    }
    manager().check_health();
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn start_and_stop_are_idempotent_and_shutdown_writes_the_final_report() {
    let _turn = serial();
    let _ = clock();
    let dir = std::env::temp_dir().join(format!("reliability-monitoring-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("final.json");
    let config = MonitorConfig::new()
        .with_interval(Duration::from_millis(5))
        .with_final_report(&path);
    manager().stop_monitoring();
    manager().start_monitoring(config.clone()).unwrap();
    manager().start_monitoring(config).unwrap();
    assert!(manager().is_monitoring());
    let written = manager().shutdown().unwrap().expect("a final report");
    assert!(!manager().is_monitoring());
    manager().stop_monitoring();
    let report: ReliabilityReport =
        serde_json::from_str(&fs::read_to_string(&written).unwrap()).unwrap();
    assert_eq!(report.version, env!("CARGO_PKG_VERSION"));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_report_round_trips_and_exports_atomically() {
    let _turn = serial();
    let _ = clock();
    manager().record_error("report_component", "op", &"boom", Duration::from_millis(3));
    let report = manager().report();
    let back: ReliabilityReport = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(back, report);
    assert!(report
        .components
        .iter()
        .any(|c| c.name == "report_component"));
    assert_eq!(report.thresholds, Thresholds::new());

    let dir = std::env::temp_dir().join(format!("reliability-export-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("reliability-report.json");
    // Two exports at once, while calls run: each file read back is whole.
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                for _ in 0..20 {
                    manager().record_error(
                        "report_component",
                        "op",
                        &"boom",
                        Duration::from_millis(1),
                    );
                    let written = manager().export_report(&path).unwrap();
                    let text = fs::read_to_string(written).unwrap();
                    serde_json::from_str::<ReliabilityReport>(&text).expect("complete JSON");
                }
            });
        }
    });
    let good = fs::read_to_string(&path).unwrap();
    let missing = manager().export_report(dir.join("no/such/dir/report.json"));
    assert!(matches!(missing, Err(ReportError::MissingDirectory(_))));
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        good,
        "the earlier report is intact"
    );
    fs::remove_dir_all(dir).unwrap();
}

/// Parses the exposition text back: `name{labels} value` lines, with HELP and
/// TYPE before each family.
fn parse_prometheus(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    let mut typed = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.push(rest.split(' ').next().unwrap().to_owned());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample line");
        let name = series.split('{').next().unwrap();
        assert!(
            typed.iter().any(|family| name.starts_with(family.as_str())),
            "{name} has no TYPE line"
        );
        samples.insert(series.to_owned(), value.parse::<f64>().expect("a number"));
    }
    samples
}

struct Exported;

#[reliable(component = "exported \"quoted\"\\name")]
impl Exported {
    fn op(&self, ok: bool) -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err("no".into())
        }
    }

    #[reliable(rate_limit(per_second = 1, burst = 1), fallback = shed)]
    fn limited(&self) -> Result<(), String> {
        Ok(())
    }

    #[reliable(skip)]
    fn shed(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A type whose values are instances, and a method without `self`.
struct Shard {
    reliability: reliability_core::Instance,
}

#[reliable(component = "exported_shards", instance = reliability)]
impl Shard {
    fn get(&self, ok: bool) -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err("no".into())
        }
    }

    fn ping(ok: bool) -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err("down".into())
        }
    }
}

#[test]
fn prometheus_text_parses_back_with_escaped_labels() {
    let _turn = serial();
    let _ = clock();
    // Two instances (one id with characters to escape) and the component's own share.
    let shards = [
        Shard {
            reliability: reliability_core::Instance::new("eu-1"),
        },
        Shard {
            reliability: reliability_core::Instance::new("us \"east\""),
        },
    ];
    for (shard, calls) in shards.iter().zip([3, 5]) {
        for n in 0..calls {
            let _ = shard.get(n != 0);
        }
    }
    let _ = Shard::ping(false);
    for ok in [true, true, false] {
        let _ = Exported.op(ok);
    }
    // The second call, back to back, finds no token: shed to the fallback.
    for _ in 0..2 {
        assert_eq!(Exported.limited(), Ok(()));
    }
    let text = reliability_core::snapshot().to_prometheus();
    let samples = parse_prometheus(&text);
    let label = r#"component="exported \"quoted\"\\name",method="op""#;
    assert_eq!(
        samples[&format!("reliability_calls_total{{{label},outcome=\"success\"}}")],
        2.0
    );
    assert_eq!(
        samples[&format!("reliability_calls_total{{{label},outcome=\"failure\"}}")],
        1.0
    );
    assert_eq!(
        samples[&format!("reliability_call_duration_seconds_count{{{label}}}")],
        3.0
    );
    assert_eq!(
        samples[&format!("reliability_call_duration_seconds_bucket{{{label},le=\"+Inf\"}}")],
        3.0
    );
    // Buckets are cumulative.
    let mut buckets: Vec<(f64, f64)> = samples
        .iter()
        .filter(|(k, _)| {
            k.starts_with("reliability_call_duration_seconds_bucket")
                && k.contains("quoted")
                && k.contains("method=\"op\"")
                && !k.contains("+Inf")
        })
        .map(|(k, v)| {
            let le = k.rsplit("le=\"").next().unwrap().trim_end_matches("\"}");
            (le.parse::<f64>().unwrap(), *v)
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(buckets.len(), 14);
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1));
    assert!(samples
        .contains_key(r#"reliability_component_health{component="exported \"quoted\"\\name"}"#));
    let component = r#"component="exported \"quoted\"\\name""#;
    assert_eq!(
        samples[&format!("reliability_needs_attention{{{component}}}")],
        0.0
    );
    assert_eq!(
        samples[&format!("reliability_retry_budget_exhausted_total{{{component}}}")],
        0.0
    );
    // The shed call's fallback answered: one session, recovered.
    for (outcome, count) in [("recovered", 1.0), ("escalated", 0.0), ("failed", 0.0)] {
        let key =
            format!("reliability_recovery_sessions_total{{{component},outcome=\"{outcome}\"}}");
        assert_eq!(samples[&key], count, "{key}");
    }
    for (reason, count) in [
        ("rate_limited", 1.0),
        ("bulkhead_full", 0.0),
        ("circuit_open", 0.0),
    ] {
        let key = format!("reliability_rejected_calls_total{{{component},reason=\"{reason}\"}}");
        assert_eq!(samples[&key], count, "{key}");
    }
    assert_eq!(
        samples[&format!("reliability_in_flight{{{component}}}")],
        0.0
    );
    // A sync method without a timeout or a hedge has none of their series,
    // nor a `cancelled` outcome.
    assert!(!samples.contains_key(&format!("reliability_timeouts_total{{{label}}}")));
    for result in ["won", "lost"] {
        let key = format!("reliability_hedges_total{{{label},result=\"{result}\"}}");
        assert!(!samples.contains_key(&key), "{key}");
    }
    let key = format!("reliability_calls_total{{{label},outcome=\"cancelled\"}}");
    assert!(!samples.contains_key(&key), "{key}");
    // Instances: a `component_id` label, calls summed over their methods by
    // default; summed over it, the component's totals.
    let shards = r#"component="exported_shards""#;
    let calls = |id: Option<&str>, outcome: &str| {
        let id = id
            .map(|id| format!(",component_id=\"{id}\""))
            .unwrap_or_default();
        let key = if id.is_empty() {
            format!("reliability_calls_total{{{shards},method=\"ping\",outcome=\"{outcome}\"}}")
        } else {
            format!("reliability_calls_total{{{shards}{id},outcome=\"{outcome}\"}}")
        };
        *samples.get(&key).unwrap_or_else(|| panic!("no {key}"))
    };
    assert_eq!(calls(Some("eu-1"), "success"), 2.0);
    assert_eq!(calls(Some("eu-1"), "failure"), 1.0);
    assert_eq!(calls(Some(r#"us \"east\""#), "success"), 4.0);
    assert_eq!(calls(None, "failure"), 1.0);
    let summed: f64 = samples
        .iter()
        .filter(|(k, _)| k.starts_with("reliability_calls_total{") && k.contains(shards))
        .map(|(_, v)| v)
        .sum();
    let snapshot = reliability_core::snapshot();
    let component = snapshot.component("exported_shards").unwrap();
    let total: u64 = component.methods.iter().map(|m| m.calls).sum();
    assert_eq!((summed, total), (9.0, 9));
    // A method no call of the component's own reached has no calls of its
    // share; its latency, which the instances do not export by default, the
    // component's histogram counts in full.
    assert!(!samples
        .keys()
        .any(|k| k.starts_with("reliability_calls_total{")
            && k.contains(shards)
            && k.contains(r#"method="get""#)));
    assert_eq!(
        samples[&format!("reliability_call_duration_seconds_count{{{shards},method=\"get\"}}")],
        8.0
    );
    assert!(!samples
        .keys()
        .any(|k| k.contains("component_id") && k.contains("method=")));
    assert!(samples.contains_key(&format!(
        "reliability_component_health{{{shards},component_id=\"eu-1\"}}"
    )));
    if let Ok(path) = std::env::var("RELIABILITY_PROMETHEUS_OUT") {
        fs::write(path, &text).unwrap();
    }
}
