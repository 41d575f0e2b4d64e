//! What instances cost the exposition: a handful of series each by default,
//! whatever the number of their methods; series per (instance, method) and
//! latency per instance when the component asks; no series for what a
//! method cannot do.

mod common;

use std::collections::BTreeMap;

use reliability_core::export::InstanceSeries;
use reliability_core::{manager, reliable, BulkheadFull, CircuitOpen, Instance, MetricsSnapshot};

#[derive(Debug)]
struct Failed;

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed")
    }
}

impl std::error::Error for Failed {}

impl From<CircuitOpen> for Failed {
    fn from(_: CircuitOpen) -> Self {
        Failed
    }
}

impl From<BulkheadFull> for Failed {
    fn from(_: BulkheadFull) -> Self {
        Failed
    }
}

/// Everything an instance can have a series for by default: an async
/// method (a `cancelled` outcome), a circuit and a bulkhead.
struct Full {
    reliability: Instance,
}

#[reliable(
    component = "series_full",
    instance = reliability,
    strategies = [circuit_breaker],
    open_after = 100,
    bulkhead(max_concurrent = 4, max_wait = "1ms")
)]
impl Full {
    async fn fetch(&self, ok: bool) -> Result<u8, Failed> {
        if ok {
            Ok(1)
        } else {
            Err(Failed)
        }
    }

    fn get(&self, ok: bool) -> Result<u8, Failed> {
        if ok {
            Ok(2)
        } else {
            Err(Failed)
        }
    }
}

/// Ten sync methods, no limits: the shape of a fleet of clients.
struct Client {
    reliability: Instance,
}

macro_rules! client_methods {
    ($($name:ident)*) => {
        #[reliable(component = "series_fleet", instance = reliability)]
        impl Client {
            $(fn $name(&self, ok: bool) -> Result<u8, Failed> {
                if ok { Ok(0) } else { Err(Failed) }
            })*
        }

        impl Client {
            fn call_all(&self, ok: bool) {
                $(let _ = self.$name(ok);)*
            }
        }
    };
}

client_methods!(m0 m1 m2 m3 m4 m5 m6 m7 m8 m9);

/// Sync methods whose component opts in to per-method series and latency.
struct Detailed {
    reliability: Instance,
}

#[reliable(component = "series_detailed", instance = reliability)]
impl Detailed {
    fn read(&self, ok: bool) -> Result<u8, Failed> {
        if ok {
            Ok(3)
        } else {
            Err(Failed)
        }
    }

    fn write(&self) -> Result<u8, Failed> {
        Ok(4)
    }
}

/// Latency per instance, summed over its methods.
struct Timed {
    reliability: Instance,
}

#[reliable(component = "series_timed", instance = reliability)]
impl Timed {
    fn read(&self) -> Result<u8, Failed> {
        Ok(5)
    }

    fn write(&self) -> Result<u8, Failed> {
        Ok(6)
    }
}

/// Sample lines of `text` (`name{labels} value`) keyed by series.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_owned(), value.parse().unwrap())
        })
        .collect()
}

/// The series of one instance.
fn of_instance<'a>(
    samples: &'a BTreeMap<String, f64>,
    component: &str,
    id: &str,
) -> Vec<(&'a str, f64)> {
    let component = format!("component=\"{component}\",component_id=\"{id}\"");
    samples
        .iter()
        .filter(|(k, _)| k.contains(&component))
        .map(|(k, v)| (k.as_str(), *v))
        .collect()
}

fn text() -> (MetricsSnapshot, BTreeMap<String, f64>) {
    let snapshot = reliability_core::snapshot();
    let samples = samples(&snapshot.to_prometheus());
    (snapshot, samples)
}

/// The number the README documents, so that a new default series is a
/// decision made in both places.
const DOCUMENTED_MAX_SERIES_PER_INSTANCE: usize = 8;

#[test]
fn an_instance_has_at_most_the_documented_series_by_default() {
    assert_eq!(
        InstanceSeries::DEFAULT_MAX_SERIES,
        DOCUMENTED_MAX_SERIES_PER_INSTANCE
    );
    let full = Full {
        reliability: Instance::new("full-1"),
    };
    for ok in [true, false] {
        let _ = common::block_on(full.fetch(ok));
        let _ = full.get(ok);
    }
    let (_, samples) = text();
    let series = of_instance(&samples, "series_full", "full-1");
    let names: Vec<&str> = series.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        series.len(),
        InstanceSeries::DEFAULT_MAX_SERIES,
        "{names:#?}"
    );
    for expected in [
        "reliability_calls_total{component=\"series_full\",component_id=\"full-1\",outcome=\"success\"}",
        "reliability_calls_total{component=\"series_full\",component_id=\"full-1\",outcome=\"failure\"}",
        "reliability_calls_total{component=\"series_full\",component_id=\"full-1\",outcome=\"cancelled\"}",
        "reliability_component_health{component=\"series_full\",component_id=\"full-1\"}",
        "reliability_consecutive_failures{component=\"series_full\",component_id=\"full-1\"}",
        "reliability_needs_attention{component=\"series_full\",component_id=\"full-1\"}",
        "reliability_circuit_state{component=\"series_full\",component_id=\"full-1\"}",
        "reliability_in_flight{component=\"series_full\",component_id=\"full-1\"}",
    ] {
        assert!(names.contains(&expected), "no {expected} in {names:#?}");
    }
    assert_eq!(
        samples["reliability_calls_total{component=\"series_full\",component_id=\"full-1\",outcome=\"success\"}"],
        2.0
    );
}

#[test]
fn a_thousand_instances_of_ten_methods_stay_under_twelve_thousand_series() {
    manager().set_component_instance_limit("series_fleet", 1_000);
    let clients: Vec<Client> = (0..1_000)
        .map(|i| Client {
            reliability: Instance::new(format!("host-{i:04}")),
        })
        .collect();
    for client in &clients {
        client.call_all(true);
        client.call_all(false);
    }
    let (snapshot, samples) = text();
    let fleet: Vec<_> = samples
        .keys()
        .filter(|k| k.contains("component=\"series_fleet\""))
        .collect();
    assert!(fleet.len() <= 12_000, "{} series", fleet.len());
    // Per instance: success, failure, health, consecutive failures, needs
    // attention; ten methods or one, the same five.
    let one = of_instance(&samples, "series_fleet", "host-0007");
    assert_eq!(one.len(), 5, "{one:#?}");
    assert!(one.iter().all(|(k, _)| !k.contains("method=")), "{one:#?}");
    // The component's own series count every call exactly once.
    let component = snapshot.component("series_fleet").unwrap();
    let total: u64 = component.methods.iter().map(|m| m.calls).sum();
    let exported: f64 = samples
        .iter()
        .filter(|(k, _)| {
            k.starts_with("reliability_calls_total{") && k.contains("component=\"series_fleet\"")
        })
        .map(|(_, v)| v)
        .sum();
    assert_eq!(exported, total as f64);
    assert_eq!(total, 20_000);
    // Latency is the component's, per method, every instance's calls in it.
    let count = "reliability_call_duration_seconds_count{component=\"series_fleet\",method=\"m3\"}";
    assert_eq!(samples[count], 2_000.0);
}

#[test]
fn a_component_can_ask_for_series_per_instance_and_method_and_for_latency() {
    manager().set_instance_series(
        "series_detailed",
        InstanceSeries::new()
            .with_per_method(true)
            .with_latency(true),
    );
    let detailed = Detailed {
        reliability: Instance::new("d-1"),
    };
    let _ = detailed.read(true);
    let _ = detailed.read(false);
    let _ = detailed.write();
    let (snapshot, samples) = text();
    let by_method = |method: &str, outcome: &str| {
        samples[&format!(
            "reliability_calls_total{{component=\"series_detailed\",component_id=\"d-1\",method=\"{method}\",outcome=\"{outcome}\"}}"
        )]
    };
    assert_eq!(
        (by_method("read", "success"), by_method("read", "failure")),
        (1.0, 1.0)
    );
    assert_eq!(by_method("write", "success"), 1.0);
    let count = "reliability_call_duration_seconds_count{component=\"series_detailed\",component_id=\"d-1\",method=\"read\"}";
    assert_eq!(samples[count], 2.0);
    // The component speaks for nothing its instance exports.
    assert!(!samples
        .keys()
        .any(|k| k.contains("component=\"series_detailed\",method=")));
    assert_eq!(
        snapshot
            .component("series_detailed")
            .unwrap()
            .instance_series,
        InstanceSeries::new()
            .with_per_method(true)
            .with_latency(true)
    );
}

#[test]
fn latency_alone_is_one_histogram_per_instance() {
    manager().set_instance_series("series_timed", InstanceSeries::new().with_latency(true));
    let timed = Timed {
        reliability: Instance::new("t-1"),
    };
    let _ = timed.read();
    let _ = timed.write();
    let (_, samples) = text();
    let count =
        "reliability_call_duration_seconds_count{component=\"series_timed\",component_id=\"t-1\"}";
    assert_eq!(samples[count], 2.0);
    let inf = "reliability_call_duration_seconds_bucket{component=\"series_timed\",component_id=\"t-1\",le=\"+Inf\"}";
    assert_eq!(samples[inf], 2.0);
    // Its calls stay summed over its methods, and the component has no
    // calls or latency of its own to speak for (its panics, which the
    // instances do not export, it counts in full).
    assert!(!samples.keys().any(|k| k.contains("series_timed")
        && k.contains("method=")
        && (k.starts_with("reliability_calls_total")
            || k.starts_with("reliability_call_duration"))));
    assert_eq!(
        samples["reliability_panics_total{component=\"series_timed\",method=\"read\"}"],
        0.0
    );
}

#[test]
fn the_outcomes_a_method_can_have_exist_from_its_first_call() {
    manager().set_instance_series("series_shapes", InstanceSeries::new().with_per_method(true));
    struct Shapes {
        reliability: Instance,
    }
    #[reliable(component = "series_shapes", instance = reliability)]
    impl Shapes {
        fn sync_call(&self) -> Result<u8, Failed> {
            Ok(1)
        }

        async fn async_call(&self) -> Result<u8, Failed> {
            Ok(2)
        }
    }
    let shapes = Shapes {
        reliability: Instance::new("s-1"),
    };
    let _ = shapes.sync_call();
    let _ = common::block_on(shapes.async_call());
    let (_, samples) = text();
    let calls = |method: &str, outcome: &str| {
        samples
            .get(&format!(
                "reliability_calls_total{{component=\"series_shapes\",component_id=\"s-1\",method=\"{method}\",outcome=\"{outcome}\"}}"
            ))
            .copied()
    };
    assert_eq!(calls("sync_call", "success"), Some(1.0));
    assert_eq!(calls("sync_call", "failure"), Some(0.0));
    assert_eq!(calls("sync_call", "cancelled"), None);
    assert_eq!(calls("async_call", "failure"), Some(0.0));
    assert_eq!(calls("async_call", "cancelled"), Some(0.0));
    // Neither has a timeout or a hedge.
    assert!(!samples.keys().any(|k| k.contains("series_shapes")
        && (k.starts_with("reliability_timeouts_total")
            || k.starts_with("reliability_hedges_total"))));
}
