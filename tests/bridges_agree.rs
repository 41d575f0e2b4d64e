//! The three ways out agree: the Prometheus text, the OpenTelemetry export
//! and the `metrics` recorder carry the same series with the same values,
//! names mapped by the documented table (features `opentelemetry` and
//! `metrics`).

#[path = "bridge_fixture/mod.rs"]
mod fixture;

use std::collections::BTreeMap;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

use fixture::{key, SeriesKey, COMPONENT};

/// OpenTelemetry instrument → Prometheus (and `metrics`) name, as the
/// README's ecosystem section lists them.
const NAMES: [(&str, &str); 17] = [
    ("reliability.calls", "reliability_calls_total"),
    ("reliability.panics", "reliability_panics_total"),
    (
        "reliability.call.duration.sum",
        "reliability_call_duration_seconds_sum",
    ),
    (
        "reliability.call.duration.count",
        "reliability_call_duration_seconds_count",
    ),
    (
        "reliability.call.duration.quantile",
        "reliability_call_duration_quantile_seconds",
    ),
    (
        "reliability.component.health",
        "reliability_component_health",
    ),
    (
        "reliability.consecutive_failures",
        "reliability_consecutive_failures",
    ),
    (
        "reliability.recovery.attempts",
        "reliability_recovery_attempts_total",
    ),
    (
        "reliability.rejected_calls",
        "reliability_rejected_calls_total",
    ),
    ("reliability.timeouts", "reliability_timeouts_total"),
    ("reliability.in_flight", "reliability_in_flight"),
    ("reliability.hedges", "reliability_hedges_total"),
    ("reliability.circuit.state", "reliability_circuit_state"),
    ("reliability.needs_attention", "reliability_needs_attention"),
    (
        "reliability.recovery.sessions",
        "reliability_recovery_sessions_total",
    ),
    (
        "reliability.retry_budget.exhausted",
        "reliability_retry_budget_exhausted_total",
    ),
    ("reliability.uptime", "reliability_uptime_ratio"),
];

fn prometheus_name(otel: &str) -> &'static str {
    NAMES
        .iter()
        .find(|(o, _)| *o == otel)
        .unwrap_or_else(|| panic!("`{otel}` is not in the table"))
        .1
}

/// `name{k="v",…} value` lines, label values unescaped.
fn parse_text(text: &str) -> BTreeMap<SeriesKey, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("a sample line");
        let (name, rest) = series.split_once('{').expect("labelled");
        let mut labels = Vec::new();
        let mut chars = rest.trim_end_matches('}').chars().peekable();
        while chars.peek().is_some() {
            let k: String = chars.by_ref().take_while(|c| *c != '=').collect();
            assert_eq!(chars.next(), Some('"'));
            let mut v = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some('n') => v.push('\n'),
                        Some(other) => v.push(other),
                        None => panic!("dangling escape"),
                    },
                    '"' => break,
                    c => v.push(c),
                }
            }
            if chars.peek() == Some(&',') {
                chars.next();
            }
            labels.push((k, v));
        }
        let labels: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let fresh = out.insert(key(name, &labels), value.parse().expect("a number"));
        assert!(fresh.is_none(), "{line} twice");
    }
    out
}

fn of_component(series: BTreeMap<SeriesKey, f64>) -> BTreeMap<SeriesKey, f64> {
    of(series, COMPONENT)
}

fn of(series: BTreeMap<SeriesKey, f64>, component: &str) -> BTreeMap<SeriesKey, f64> {
    series
        .into_iter()
        .filter(|((_, labels), _)| {
            labels
                .iter()
                .any(|(k, v)| k == "component" && v == component)
        })
        .collect()
}

fn otel_export() -> BTreeMap<SeriesKey, f64> {
    let exporter = InMemoryMetricExporter::default();
    let reader = PeriodicReader::builder(exporter.clone()).build();
    let provider = SdkMeterProvider::builder().with_reader(reader).build();
    reliability_core::export::register_opentelemetry(&provider.meter("agree"));
    provider.force_flush().unwrap();
    let mut out = BTreeMap::new();
    let batches = exporter.get_finished_metrics().unwrap();
    for scope in batches.last().unwrap().scope_metrics() {
        for metric in scope.metrics() {
            let name = prometheus_name(metric.name());
            let mut put = |attributes: Vec<(String, String)>, value: f64| {
                let labels: Vec<(&str, &str)> = attributes
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                out.insert(key(name, &labels), value);
            };
            let attrs = |it: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
                it.map(|kv| (kv.key.to_string(), kv.value.to_string()))
                    .collect::<Vec<_>>()
            };
            match metric.data() {
                AggregatedMetrics::U64(MetricData::Sum(d)) => d
                    .data_points()
                    .for_each(|p| put(attrs(&mut p.attributes()), p.value() as f64)),
                AggregatedMetrics::F64(MetricData::Sum(d)) => d
                    .data_points()
                    .for_each(|p| put(attrs(&mut p.attributes()), p.value())),
                AggregatedMetrics::U64(MetricData::Gauge(d)) => d
                    .data_points()
                    .for_each(|p| put(attrs(&mut p.attributes()), p.value() as f64)),
                AggregatedMetrics::F64(MetricData::Gauge(d)) => d
                    .data_points()
                    .for_each(|p| put(attrs(&mut p.attributes()), p.value())),
                other => panic!("{name}: unexpected {other:?}"),
            }
        }
    }
    provider.shutdown().unwrap();
    out
}

fn metrics_publish() -> BTreeMap<SeriesKey, f64> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, reliability_core::export::publish_metrics);
    let mut out = BTreeMap::new();
    for (composite, _, _, value) in snapshotter.snapshot().into_vec() {
        let k = composite.key();
        let labels: Vec<(&str, &str)> = k.labels().map(|l| (l.key(), l.value())).collect();
        let value = match value {
            DebugValue::Counter(v) => v as f64,
            DebugValue::Gauge(v) => v.0,
            DebugValue::Histogram(_) => panic!("no histograms"),
        };
        out.insert(key(k.name(), &labels), value);
    }
    out
}

/// The text and OpenTelemetry agree with the `metrics` bridge series by
/// series: the text has the buckets but not the percentiles (PromQL derives
/// them), OpenTelemetry the percentiles but not the buckets.
fn assert_agree(
    text: &BTreeMap<SeriesKey, f64>,
    otel: &BTreeMap<SeriesKey, f64>,
    published: &BTreeMap<SeriesKey, f64>,
) {
    let without = |name: &str| {
        published
            .iter()
            .filter(|(k, _)| k.0 != name)
            .map(|(k, v)| (k.clone(), *v))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        *text,
        without("reliability_call_duration_quantile_seconds"),
        "Prometheus text vs metrics"
    );
    assert_eq!(
        *otel,
        without("reliability_call_duration_seconds_bucket"),
        "OpenTelemetry vs metrics"
    );
}

#[test]
fn prometheus_opentelemetry_and_metrics_agree_series_by_series() {
    let _turn = fixture::serial();
    fixture::drive();
    let before = reliability_core::snapshot();
    fixture::assert_scenario(&before);
    let text = of_component(parse_text(&before.to_prometheus()));
    let otel = of_component(otel_export());
    let published = of_component(metrics_publish());
    let after = reliability_core::snapshot();
    assert_eq!(
        before.components, after.components,
        "nothing moved meanwhile"
    );

    assert_agree(&text, &otel, &published);
    // Every family is there, each with at least one series.
    for (otel_name, name) in NAMES {
        assert!(
            published.keys().any(|(n, _)| n == name),
            "{name} is missing"
        );
        assert!(
            otel.keys().any(|(n, _)| n == name),
            "{otel_name} is missing"
        );
    }
    assert_eq!(
        fixture::expected(&before, COMPONENT, fixture::Naming::Prometheus),
        published
    );
}

struct Shard {
    reliability: reliability_core::Instance,
}

#[reliability_core::reliable(component = "bridge_shards", instance = reliability)]
impl Shard {
    fn get(&self, ok: bool) -> Result<u8, std::io::Error> {
        if ok {
            Ok(1)
        } else {
            Err(std::io::Error::other("down"))
        }
    }

    fn put(&self) -> Result<u8, std::io::Error> {
        Ok(2)
    }

    fn ping() -> Result<u8, std::io::Error> {
        Ok(3)
    }
}

/// The three ways out, each of `component`'s series.
fn three_ways(component: &str) -> [BTreeMap<SeriesKey, f64>; 3] {
    let text = of(
        parse_text(&reliability_core::snapshot().to_prometheus()),
        component,
    );
    // OpenTelemetry's attribute is `component.id`, the README says.
    let otel = of(otel_export(), component)
        .into_iter()
        .map(|((name, labels), value)| {
            let labels = labels
                .into_iter()
                .map(|(k, v)| match k.as_str() {
                    "component.id" => ("component_id".to_owned(), v),
                    _ => (k, v),
                })
                .collect();
            ((name, labels), value)
        })
        .collect();
    let published = of(metrics_publish(), component);
    assert_agree(&text, &otel, &published);
    [text, otel, published]
}

#[test]
fn the_bridges_follow_the_instance_series_of_each_component() {
    let _turn = fixture::serial();
    let shards = [
        Shard {
            reliability: reliability_core::Instance::new("eu-1"),
        },
        Shard {
            reliability: reliability_core::Instance::new("us-1"),
        },
    ];
    for shard in &shards {
        let _ = shard.get(true);
        let _ = shard.get(false);
        let _ = shard.put();
    }
    let _ = Shard::ping();
    // By default: no instance series has a method, and each instance has
    // the same few series in all three.
    for series in three_ways("bridge_shards") {
        let instance: Vec<_> = series
            .keys()
            .filter(|(_, labels)| {
                labels
                    .iter()
                    .any(|(k, v)| k == "component_id" && v == "eu-1")
            })
            .collect();
        assert!(!instance.is_empty());
        assert!(
            instance
                .iter()
                .all(|(_, labels)| labels.iter().all(|(k, _)| k != "method")),
            "{instance:#?}"
        );
        let calls = key(
            "reliability_calls_total",
            &[
                ("component", "bridge_shards"),
                ("component_id", "eu-1"),
                ("outcome", "success"),
            ],
        );
        assert_eq!(series.get(&calls), Some(&2.0), "{calls:?}");
    }
    // Per method, on request: the three still agree, and the instance's
    // series name the method.
    reliability_core::manager().set_instance_series(
        "bridge_shards",
        reliability_core::export::InstanceSeries::new()
            .with_per_method(true)
            .with_latency(true),
    );
    for series in three_ways("bridge_shards") {
        let calls = key(
            "reliability_calls_total",
            &[
                ("component", "bridge_shards"),
                ("component_id", "eu-1"),
                ("method", "get"),
                ("outcome", "failure"),
            ],
        );
        assert_eq!(series.get(&calls), Some(&1.0), "{calls:?}");
    }
}
