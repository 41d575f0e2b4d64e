//! The OpenTelemetry bridge (feature `opentelemetry`): after calls, an export
//! through the SDK's in-memory exporter carries every figure, with the right
//! value and attributes.

#[path = "bridge_fixture/mod.rs"]
mod fixture;

use std::collections::BTreeMap;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

use fixture::{expected, key, Naming, SeriesKey, COMPONENT};

/// A meter provider whose reader exports into memory when flushed.
fn provider() -> (SdkMeterProvider, InMemoryMetricExporter) {
    let exporter = InMemoryMetricExporter::default();
    let reader = PeriodicReader::builder(exporter.clone()).build();
    let provider = SdkMeterProvider::builder().with_reader(reader).build();
    reliability_core::export::register_opentelemetry(&provider.meter("reliability-test"));
    (provider, exporter)
}

/// Every data point of the last export, with its instrument's unit.
fn exported(
    exporter: &InMemoryMetricExporter,
) -> (BTreeMap<SeriesKey, f64>, BTreeMap<String, String>) {
    let batches: Vec<ResourceMetrics> = exporter.get_finished_metrics().unwrap();
    let last = batches.last().expect("one export");
    let mut points = BTreeMap::new();
    let mut units = BTreeMap::new();
    for scope in last.scope_metrics() {
        for metric in scope.metrics() {
            let name = metric.name().to_owned();
            units.insert(name.clone(), metric.unit().to_owned());
            let mut put = |attributes: Vec<(String, String)>, value: f64| {
                let labels: Vec<(&str, &str)> = attributes
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let fresh = points.insert(key(&name, &labels), value).is_none();
                assert!(fresh, "{name} {attributes:?} exported twice");
            };
            let attrs = |it: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
                it.map(|kv| (kv.key.to_string(), kv.value.to_string()))
                    .collect::<Vec<_>>()
            };
            match metric.data() {
                AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                    assert!(sum.is_monotonic(), "{name} is a counter");
                    for p in sum.data_points() {
                        put(attrs(&mut p.attributes()), p.value() as f64);
                    }
                }
                AggregatedMetrics::F64(MetricData::Sum(sum)) => {
                    assert!(sum.is_monotonic(), "{name} is a counter");
                    for p in sum.data_points() {
                        put(attrs(&mut p.attributes()), p.value());
                    }
                }
                AggregatedMetrics::U64(MetricData::Gauge(gauge)) => {
                    for p in gauge.data_points() {
                        put(attrs(&mut p.attributes()), p.value() as f64);
                    }
                }
                AggregatedMetrics::F64(MetricData::Gauge(gauge)) => {
                    for p in gauge.data_points() {
                        put(attrs(&mut p.attributes()), p.value());
                    }
                }
                other => panic!("{name}: unexpected aggregation {other:?}"),
            }
        }
    }
    (points, units)
}

fn of_component(points: BTreeMap<SeriesKey, f64>, component: &str) -> BTreeMap<SeriesKey, f64> {
    points
        .into_iter()
        .filter(|((_, labels), _)| {
            labels
                .iter()
                .any(|(k, v)| k == "component" && v == component)
        })
        .collect()
}

#[test]
fn an_export_carries_every_figure_with_its_value() {
    let _turn = fixture::serial();
    fixture::drive();
    let (provider, exporter) = provider();
    provider.force_flush().unwrap();
    let snapshot = reliability_core::snapshot();
    fixture::assert_scenario(&snapshot);
    let (points, units) = exported(&exporter);
    let want = expected(&snapshot, COMPONENT, Naming::OpenTelemetry);
    assert_eq!(of_component(points, COMPONENT), want);
    // A few figures by hand, so the expectation itself is checked.
    let calls = |method: &str, outcome: &str| {
        want[&key(
            "reliability.calls",
            &[
                ("component", COMPONENT),
                ("method", method),
                ("outcome", outcome),
            ],
        )]
    };
    assert_eq!(calls("get", "success"), 4.0);
    let get = snapshot
        .component(COMPONENT)
        .unwrap()
        .method("get")
        .unwrap();
    assert_eq!(calls("get", "failure"), get.failures as f64);
    assert_eq!(
        want[&key(
            "reliability.panics",
            &[("component", COMPONENT), ("method", "put")]
        )],
        1.0
    );
    let rejected = snapshot.component(COMPONENT).unwrap().rejected;
    assert!(rejected >= 1);
    assert_eq!(
        want[&key(
            "reliability.rejected_calls",
            &[("component", COMPONENT), ("reason", "circuit_open")]
        )],
        rejected as f64
    );
    assert_eq!(units["reliability.call.duration.sum"], "s");
    assert_eq!(units["reliability.calls"], "{call}");
    assert_eq!(units["reliability.uptime"], "1");
    provider.shutdown().unwrap();
}

#[test]
fn each_export_reads_the_figures_anew() {
    let _turn = fixture::serial();
    fixture::drive();
    let (provider, exporter) = provider();
    let component = "otel_fresh";
    let successes = |points: &BTreeMap<SeriesKey, f64>| {
        points[&key(
            "reliability.calls",
            &[
                ("component", component),
                ("method", "op"),
                ("outcome", "success"),
            ],
        )]
    };
    reliability_core::manager().record(
        component,
        "op",
        reliability_core::Outcome::Success,
        Default::default(),
    );
    provider.force_flush().unwrap();
    assert_eq!(successes(&exported(&exporter).0), 1.0);
    for _ in 0..2 {
        reliability_core::manager().record(
            component,
            "op",
            reliability_core::Outcome::Success,
            Default::default(),
        );
    }
    provider.force_flush().unwrap();
    let (points, _) = exported(&exporter);
    assert_eq!(
        successes(&points),
        3.0,
        "the second export sees the later calls"
    );
    // And every other instrument of that export saw the same moment.
    assert_eq!(
        points[&key(
            "reliability.call.duration.count",
            &[("component", component), ("method", "op")]
        )],
        3.0
    );
    provider.shutdown().unwrap();
}

#[test]
fn an_instance_series_carries_its_id_as_component_id() {
    let _turn = fixture::serial();
    let (provider, exporter) = provider();
    let component = "otel_instances";
    let ok = reliability_core::Outcome::Success;
    let manager = reliability_core::manager();
    for id in ["eu-1", "eu-1", "us-1"] {
        manager.record_instance(component, id, "op", ok, Default::default());
    }
    manager.record(component, "op", ok, Default::default());
    provider.force_flush().unwrap();
    let (points, _) = exported(&exporter);
    // An instance's calls are summed over its methods by default: no `method`.
    let successes = |id: Option<&str>| {
        let labels = match id {
            Some(id) => vec![
                ("component", component),
                ("component.id", id),
                ("outcome", "success"),
            ],
            None => vec![
                ("component", component),
                ("method", "op"),
                ("outcome", "success"),
            ],
        };
        points[&key("reliability.calls", &labels)]
    };
    assert_eq!(successes(Some("eu-1")), 2.0);
    assert_eq!(successes(Some("us-1")), 1.0);
    // The component's own share: the call made without an instance.
    assert_eq!(successes(None), 1.0);
    assert_eq!(
        points[&key(
            "reliability.component.health",
            &[("component", component), ("component.id", "us-1")]
        )],
        0.0
    );
    provider.shutdown().unwrap();
}
