//! The figures as observable instruments of an OpenTelemetry meter, read
//! from the snapshot when the application's reader collects (feature
//! `opentelemetry`).

use std::sync::Arc;

use opentelemetry::metrics::{AsyncInstrument, AsyncInstrumentBuilder, Meter};
use opentelemetry::KeyValue;
use parking_lot::Mutex;

use crate::export::series::{self, Family, Kind, Labels, Number, Sink, Value, FAMILIES};
use crate::export::snapshot::MetricsSnapshot;

/// The latency histogram becomes two instruments (sum and count), every
/// other family one.
const INSTRUMENTS: usize = FAMILIES.len() + 1;

/// One snapshot shared by the instruments of a collection.
///
/// The SDK calls each instrument's callback once per collection, in an order
/// it does not promise. The first callback to find that its instrument has
/// already read the cached snapshot takes a new one; the others read the
/// same, so one collection costs one `snapshot()` (about 1 ms for 1,000
/// methods) instead of fourteen, and its series all come from one moment.
/// Every read sees a snapshot taken after that instrument's previous read.
#[derive(Debug)]
struct SharedReading {
    inner: Mutex<Reading>,
}

#[derive(Debug)]
struct Reading {
    snapshot: Option<Arc<MetricsSnapshot>>,
    read: [bool; INSTRUMENTS],
}

impl SharedReading {
    fn for_instrument(&self, slot: usize) -> Arc<MetricsSnapshot> {
        let mut reading = self.inner.lock();
        let snapshot = match &reading.snapshot {
            Some(snapshot) if !reading.read[slot] => Arc::clone(snapshot),
            _ => {
                let fresh = Arc::new(crate::manager::snapshot());
                reading.snapshot = Some(Arc::clone(&fresh));
                reading.read = [false; INSTRUMENTS];
                fresh
            }
        };
        reading.read[slot] = true;
        snapshot
    }
}

/// Which number of a series an instrument observes.
type Pick<T> = fn(Value<'_>) -> Option<T>;

fn plain_u64(value: Value<'_>) -> Option<u64> {
    match value {
        Value::U64(v) => Some(v),
        _ => None,
    }
}

fn plain_f64(value: Value<'_>) -> Option<f64> {
    match value {
        Value::F64(v) => Some(v),
        _ => None,
    }
}

fn histogram_count(value: Value<'_>) -> Option<u64> {
    match value {
        Value::Histogram(h) => Some(h.count),
        _ => None,
    }
}

fn histogram_sum(value: Value<'_>) -> Option<f64> {
    match value {
        Value::Histogram(h) => Some(h.sum_seconds),
        _ => None,
    }
}

/// A label's attribute key: OpenTelemetry's `component.id` for an
/// instance's id (its Prometheus exporter writes it `component_id` again).
fn attribute_key(label: &'static str) -> &'static str {
    match label {
        "component_id" => "component.id",
        other => other,
    }
}

/// Hands each series to an instrument's observer.
struct Observe<'a, T> {
    observer: &'a dyn AsyncInstrument<T>,
    pick: Pick<T>,
    attributes: Vec<KeyValue>,
}

impl<T> Sink for Observe<'_, T> {
    fn series(&mut self, _family: &'static Family, labels: Labels<'_>, value: Value<'_>) {
        if let Some(value) = (self.pick)(value) {
            self.attributes.clear();
            self.attributes.extend(
                labels
                    .pairs()
                    .map(|(key, value)| KeyValue::new(attribute_key(key), value.to_owned())),
            );
            self.observer.observe(value, &self.attributes);
        }
    }
}

/// The callback of the instrument in `slot`, observing `family`.
fn callback<T: 'static>(
    reading: &Arc<SharedReading>,
    slot: usize,
    family: &'static Family,
    pick: Pick<T>,
) -> impl Fn(&dyn AsyncInstrument<T>) + Send + Sync + 'static {
    let reading = Arc::clone(reading);
    move |observer| {
        let snapshot = reading.for_instrument(slot);
        let mut sink = Observe {
            observer,
            pick,
            attributes: Vec::with_capacity(3),
        };
        series::visit_family(&snapshot, family, &mut sink);
    }
}

/// Registers this library's figures with `meter` as observable instruments.
///
/// Nothing is added to the call path: each instrument's callback reads a
/// [`snapshot`](crate::snapshot) when the application's metric reader
/// collects, and one snapshot serves every instrument of a collection.
///
/// Instruments (attributes in brackets; names follow OpenTelemetry's
/// conventions, so its Prometheus exporter turns them back into the names of
/// [`MetricsSnapshot::to_prometheus`]):
///
/// | instrument | kind | unit | attributes |
/// |---|---|---|---|
/// | `reliability.calls` | counter | `{call}` | `component`, `method`, `outcome` (`success`, `failure`, `cancelled`) |
/// | `reliability.panics` | counter | `{call}` | `component`, `method` |
/// | `reliability.call.duration.sum` | counter (f64) | `s` | `component`, `method` |
/// | `reliability.call.duration.count` | counter | `{call}` | `component`, `method` |
/// | `reliability.call.duration.quantile` | gauge (f64) | `s` | `component`, `method`, `quantile` (`0.5`, `0.95`, `0.99`) |
/// | `reliability.component.health` | gauge | | `component` (0 healthy, 1 degraded, 2 unhealthy) |
/// | `reliability.consecutive_failures` | gauge | `{call}` | `component` |
/// | `reliability.recovery.attempts` | counter | `{attempt}` | `component`, `strategy`, `result` |
/// | `reliability.rejected_calls` | counter | `{call}` | `component` |
/// | `reliability.circuit.state` | gauge | | `component` (0 closed, 1 open, 2 half open) |
/// | `reliability.needs_attention` | gauge | | `component` |
/// | `reliability.recovery.sessions` | counter | `{session}` | `component`, `outcome` (`recovered`, `escalated`, `failed`) |
/// | `reliability.retry_budget.exhausted` | counter | `{retry}` | `component` |
/// | `reliability.uptime` | gauge (f64) | `1` | `component` |
///
/// An instance's series (see [`Instance`](crate::Instance)) carry its id as
/// `component.id` as well; a component with instances speaks for the calls of
/// its own share without it, so summing a counter over `component.id` gives
/// the component's total. Percentile gauges are not additive: a component's
/// are over all its calls.
///
/// Latency is a sum/count pair and percentile gauges, not an OpenTelemetry
/// histogram: the API has no observable histogram, and a synchronous one
/// would record on the call path. The pair gives the mean over any window;
/// the percentiles come from the library's own histogram (within 6.25 %).
///
/// Register once per meter provider: a second registration adds a second
/// set of callbacks, and the SDK reports the duplicate instruments.
///
/// # Examples
///
/// ```
/// let meter = opentelemetry::global::meter("my-service");
/// reliability_core::export::register_opentelemetry(&meter);
/// ```
pub fn register_opentelemetry(meter: &Meter) {
    let reading = Arc::new(SharedReading {
        inner: Mutex::new(Reading {
            snapshot: None,
            read: [false; INSTRUMENTS],
        }),
    });
    let mut slots = 0..INSTRUMENTS;
    let mut slot = || slots.next().unwrap_or(0);
    for family in FAMILIES {
        let name = family.otel_name;
        let unit = family.otel_unit;
        match (family.kind, family.number) {
            (Kind::Counter, Number::U64) => {
                let b = meter
                    .u64_observable_counter(name)
                    .with_description(family.help)
                    .with_callback(callback(&reading, slot(), family, plain_u64));
                with_unit(b, unit).build();
            }
            (Kind::Counter, Number::F64) => {
                let b = meter
                    .f64_observable_counter(name)
                    .with_description(family.help)
                    .with_callback(callback(&reading, slot(), family, plain_f64));
                with_unit(b, unit).build();
            }
            (Kind::Gauge, Number::U64) => {
                let b = meter
                    .u64_observable_gauge(name)
                    .with_description(family.help)
                    .with_callback(callback(&reading, slot(), family, plain_u64));
                with_unit(b, unit).build();
            }
            (Kind::Gauge, Number::F64) => {
                let b = meter
                    .f64_observable_gauge(name)
                    .with_description(family.help)
                    .with_callback(callback(&reading, slot(), family, plain_f64));
                with_unit(b, unit).build();
            }
            (Kind::Histogram, _) => {
                meter
                    .f64_observable_counter(format!("{name}.sum"))
                    .with_description("Total latency of completed calls.")
                    .with_unit(unit)
                    .with_callback(callback(&reading, slot(), family, histogram_sum))
                    .build();
                meter
                    .u64_observable_counter(format!("{name}.count"))
                    .with_description("Completed calls, whose latency is in the sum.")
                    .with_unit("{call}")
                    .with_callback(callback(&reading, slot(), family, histogram_count))
                    .build();
            }
        }
    }
}

/// Sets the unit unless the family has none.
fn with_unit<'a, I, M>(
    builder: AsyncInstrumentBuilder<'a, I, M>,
    unit: &'static str,
) -> AsyncInstrumentBuilder<'a, I, M> {
    if unit.is_empty() {
        builder
    } else {
        builder.with_unit(unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_snapshot_serves_each_instrument_once() {
        let reading = SharedReading {
            inner: Mutex::new(Reading {
                snapshot: None,
                read: [false; INSTRUMENTS],
            }),
        };
        let first = reading.for_instrument(0);
        let same = reading.for_instrument(1);
        assert!(Arc::ptr_eq(&first, &same), "one collection, one snapshot");
        let next = reading.for_instrument(0);
        assert!(
            !Arc::ptr_eq(&first, &next),
            "an instrument that read it already gets a new one"
        );
        let other = reading.for_instrument(1);
        assert!(Arc::ptr_eq(&next, &other));
    }

    #[test]
    fn every_family_has_an_instrument_slot() {
        let histograms = FAMILIES
            .iter()
            .filter(|f| f.kind == Kind::Histogram)
            .count();
        assert_eq!(INSTRUMENTS, FAMILIES.len() + histograms);
    }
}
