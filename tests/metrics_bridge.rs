//! The `metrics` bridge (feature `metrics`): a publish writes every figure
//! into the recorder, counters as counters and levels as gauges, with the
//! Prometheus names and labels.

#[path = "bridge_fixture/mod.rs"]
mod fixture;

use std::collections::BTreeMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;

use fixture::{expected, key, Naming, SeriesKey, COMPONENT};

/// Every series the recorder holds, by name and labels, with its kind.
fn recorded(snapshotter: &Snapshotter) -> BTreeMap<SeriesKey, (MetricKind, f64)> {
    let mut out = BTreeMap::new();
    for (composite, _unit, _help, value) in snapshotter.snapshot().into_vec() {
        let (kind, key_) = composite.into_parts();
        let labels: Vec<(&str, &str)> = key_.labels().map(|l| (l.key(), l.value())).collect();
        let value = match value {
            DebugValue::Counter(v) => v as f64,
            DebugValue::Gauge(v) => v.0,
            DebugValue::Histogram(_) => panic!("{} is a histogram", key_.name()),
        };
        out.insert(key(key_.name(), &labels), (kind, value));
    }
    out
}

fn of_component<V>(series: BTreeMap<SeriesKey, V>, component: &str) -> BTreeMap<SeriesKey, V> {
    series
        .into_iter()
        .filter(|((_, labels), _)| {
            labels
                .iter()
                .any(|(k, v)| k == "component" && v == component)
        })
        .collect()
}

/// Counters: the `_total` families and the histogram's buckets and count.
fn is_counter(name: &str) -> bool {
    name.ends_with("_total") || name.ends_with("_bucket") || name.ends_with("_seconds_count")
}

#[test]
fn a_publish_writes_every_figure_with_its_value_and_kind() {
    let _turn = fixture::serial();
    fixture::drive();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, reliability_core::export::publish_metrics);
    let snapshot = reliability_core::snapshot();
    fixture::assert_scenario(&snapshot);
    let got = of_component(recorded(&snapshotter), COMPONENT);
    let want = expected(&snapshot, COMPONENT, Naming::Prometheus);
    let values: BTreeMap<_, _> = got.iter().map(|(k, (_, v))| (k.clone(), *v)).collect();
    assert_eq!(values, want);
    for ((name, _), (kind, _)) in &got {
        let expected_kind = if is_counter(name) {
            MetricKind::Counter
        } else {
            MetricKind::Gauge
        };
        assert_eq!(*kind, expected_kind, "{name}");
    }
    let get = snapshot
        .component(COMPONENT)
        .unwrap()
        .method("get")
        .unwrap();
    let successes = key(
        "reliability_calls_total",
        &[
            ("component", COMPONENT),
            ("method", "get"),
            ("outcome", "success"),
        ],
    );
    assert_eq!(values[&successes], 4.0);
    assert_eq!(values[&successes], get.successes as f64);
}

#[test]
fn a_second_publish_sets_counters_to_the_new_totals() {
    let _turn = fixture::serial();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let component = "metrics_again";
    let record = || {
        reliability_core::manager().record(
            component,
            "op",
            reliability_core::Outcome::Success,
            Duration::from_micros(3),
        )
    };
    let successes = key(
        "reliability_calls_total",
        &[
            ("component", component),
            ("method", "op"),
            ("outcome", "success"),
        ],
    );
    record();
    metrics::with_local_recorder(&recorder, reliability_core::export::publish_metrics);
    assert_eq!(recorded(&snapshotter)[&successes].1, 1.0);
    record();
    record();
    metrics::with_local_recorder(&recorder, reliability_core::export::publish_metrics);
    // `absolute`, not `increment`: 3, not 1 + 3.
    assert_eq!(recorded(&snapshotter)[&successes].1, 3.0);
}

#[test]
fn the_background_publisher_publishes_at_once_into_the_global_recorder() {
    let _turn = fixture::serial();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only global recorder of this binary");
    let component = "metrics_background";
    reliability_core::manager().record(
        component,
        "op",
        reliability_core::Outcome::Failure,
        Duration::from_millis(2),
    );
    let publisher =
        reliability_core::export::publish_metrics_every(Duration::from_secs(3600)).unwrap();
    // The first publish happens when the thread starts; stopping waits for
    // the thread, so it is done by the time `stop` returns.
    publisher.stop();
    let failures = key(
        "reliability_calls_total",
        &[
            ("component", component),
            ("method", "op"),
            ("outcome", "failure"),
        ],
    );
    assert_eq!(recorded(&snapshotter)[&failures].1, 1.0);
    assert!(matches!(
        reliability_core::export::publish_metrics_every(Duration::ZERO),
        Err(reliability_core::export::PublishError::ZeroInterval)
    ));
}
