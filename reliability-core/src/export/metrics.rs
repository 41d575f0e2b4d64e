//! The figures written into the `metrics` facade's installed recorder, on
//! demand or from a background thread (feature `metrics`).

use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use metrics::{Key, Label, Level, Metadata, Recorder, SharedString, Unit};
use parking_lot::{Condvar, Mutex};

use crate::export::series::{self, Family, Kind, Labels, Sink, Value, LE_SECONDS};
use crate::export::snapshot::MetricsSnapshot;

const METADATA: Metadata<'static> = Metadata::new("reliability", Level::INFO, Some(module_path!()));

/// Writes each series into a recorder.
struct Publish<'a> {
    recorder: &'a dyn Recorder,
}

impl Publish<'_> {
    fn counter(&self, name: &'static str, labels: Vec<Label>, value: u64) {
        let key = Key::from_parts(name, labels);
        self.recorder
            .register_counter(&key, &METADATA)
            .absolute(value);
    }

    fn gauge(&self, name: &'static str, labels: Vec<Label>, value: f64) {
        let key = Key::from_parts(name, labels);
        self.recorder.register_gauge(&key, &METADATA).set(value);
    }
}

fn labels_of(labels: &Labels<'_>) -> Vec<Label> {
    labels
        .pairs()
        .map(|(key, value)| Label::new(key, value.to_owned()))
        .collect()
}

/// The names of the latency histogram's parts, as Prometheus spells them.
struct HistogramNames {
    bucket: &'static str,
    sum: &'static str,
    count: &'static str,
}

const CALL_DURATION_PARTS: HistogramNames = HistogramNames {
    bucket: "reliability_call_duration_seconds_bucket",
    sum: "reliability_call_duration_seconds_sum",
    count: "reliability_call_duration_seconds_count",
};

impl Sink for Publish<'_> {
    fn family(&mut self, family: &'static Family) {
        let help = SharedString::const_str(family.help);
        let unit = (family.otel_unit == "s").then_some(Unit::Seconds);
        match family.kind {
            Kind::Counter => self
                .recorder
                .describe_counter(family.name.into(), unit, help),
            Kind::Gauge => self.recorder.describe_gauge(family.name.into(), unit, help),
            Kind::Histogram => {
                let parts = &CALL_DURATION_PARTS;
                self.recorder
                    .describe_counter(parts.bucket.into(), None, help.clone());
                self.recorder
                    .describe_gauge(parts.sum.into(), unit, help.clone());
                self.recorder
                    .describe_counter(parts.count.into(), None, help);
            }
        }
    }

    fn series(&mut self, family: &'static Family, labels: Labels<'_>, value: Value<'_>) {
        let pairs = labels_of(&labels);
        match (family.kind, value) {
            (Kind::Counter, Value::U64(v)) => self.counter(family.name, pairs, v),
            (Kind::Gauge, Value::U64(v)) => self.gauge(family.name, pairs, v as f64),
            (_, Value::F64(v)) => self.gauge(family.name, pairs, v),
            (_, Value::Histogram(h)) => {
                let parts = &CALL_DURATION_PARTS;
                for (le, count) in LE_SECONDS.iter().zip(h.cumulative) {
                    let mut with_le = pairs.clone();
                    with_le.push(Label::from_static_parts("le", le));
                    self.counter(parts.bucket, with_le, *count);
                }
                let mut inf = pairs.clone();
                inf.push(Label::from_static_parts("le", "+Inf"));
                self.counter(parts.bucket, inf, h.count);
                self.gauge(parts.sum, pairs.clone(), h.sum_seconds);
                self.counter(parts.count, pairs, h.count);
            }
            (_, Value::U64(v)) => self.counter(family.name, pairs, v),
        }
    }
}

/// Writes `snapshot` into the recorder that `metrics` would use here.
fn publish_snapshot(snapshot: &MetricsSnapshot) {
    metrics::with_recorder(|recorder| series::visit(snapshot, &mut Publish { recorder }));
}

/// Writes this library's figures, as they are now, into the `metrics`
/// recorder in effect (the thread's local one, else the global one; nothing
/// happens when none is installed).
///
/// Names and labels are those of
/// [`MetricsSnapshot::to_prometheus`], so a Prometheus exporter for `metrics`
/// shows the same series: counters (`*_total`, the latency histogram's
/// `reliability_call_duration_seconds_bucket{le}` and `_count`) are set with
/// `absolute`, everything else is a gauge (`_sum` too: `metrics` counters
/// hold integers). The gauge `reliability_call_duration_quantile_seconds
/// {component,method,quantile}` adds the p50, p95 and p99 latency.
///
/// Nothing is added to the call path: this reads one [`snapshot`](crate::snapshot).
///
/// # Examples
///
/// ```
/// reliability_core::manager().record(
///     "doc_metrics", "get", reliability_core::Outcome::Success, Default::default());
/// // With a recorder installed (metrics-exporter-prometheus, …):
/// reliability_core::export::publish_metrics();
/// ```
pub fn publish_metrics() {
    publish_snapshot(&crate::manager::snapshot());
}

/// Starts a thread that calls [`publish_metrics`] at once, then every
/// `interval`, into the global recorder, until the returned handle is
/// stopped or dropped; it publishes once more as it stops.
///
/// # Errors
///
/// [`PublishError::ZeroInterval`] for a zero interval, and
/// [`PublishError::Spawn`] when the thread cannot be started.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let publisher = reliability_core::export::publish_metrics_every(Duration::from_secs(10))?;
/// // … the application runs …
/// publisher.stop();
/// # Ok::<(), reliability_core::export::PublishError>(())
/// ```
pub fn publish_metrics_every(interval: Duration) -> Result<MetricsPublisher, PublishError> {
    if interval.is_zero() {
        return Err(PublishError::ZeroInterval);
    }
    let stop = Arc::new((Mutex::new(false), Condvar::new()));
    let thread = {
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("reliability-metrics".into())
            .spawn(move || {
                let (stopped, wake) = &*stop;
                let mut stopped = stopped.lock();
                // Publishes at least once, and once more after the stop, so
                // the last figures get out.
                loop {
                    publish_metrics();
                    if *stopped {
                        break;
                    }
                    wake.wait_for(&mut stopped, interval);
                }
            })
            .map_err(PublishError::Spawn)?
    };
    Ok(MetricsPublisher {
        stop,
        thread: Some(thread),
    })
}

/// The background publisher started by [`publish_metrics_every`]; stops
/// when dropped.
#[must_use = "the publisher stops when this handle is dropped"]
pub struct MetricsPublisher {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsPublisher {
    /// Stops the thread and waits for it, after its last publish.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock() = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!(target: "reliability", "the metrics publisher thread panicked");
            }
        }
    }
}

impl Drop for MetricsPublisher {
    fn drop(&mut self) {
        self.halt();
    }
}

impl fmt::Debug for MetricsPublisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsPublisher")
            .field("running", &self.thread.is_some())
            .finish()
    }
}

/// Why [`publish_metrics_every`] could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum PublishError {
    /// The interval was zero.
    ZeroInterval,
    /// The operating system refused the thread.
    Spawn(std::io::Error),
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::ZeroInterval => f.write_str("the publishing interval must not be zero"),
            PublishError::Spawn(_) => f.write_str("cannot start the metrics publisher thread"),
        }
    }
}

impl std::error::Error for PublishError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PublishError::ZeroInterval => None,
            PublishError::Spawn(source) => Some(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::series::CALL_DURATION;

    #[test]
    fn histogram_parts_are_named_as_in_the_prometheus_text() {
        let parts = &CALL_DURATION_PARTS;
        for (part, suffix) in [
            (parts.bucket, "_bucket"),
            (parts.sum, "_sum"),
            (parts.count, "_count"),
        ] {
            assert_eq!(part, format!("{}{suffix}", CALL_DURATION.name));
        }
    }

    #[test]
    fn a_zero_interval_is_refused() {
        assert!(matches!(
            publish_metrics_every(Duration::ZERO),
            Err(PublishError::ZeroInterval)
        ));
    }

    #[test]
    fn the_publisher_stops_when_asked() {
        let publisher = publish_metrics_every(Duration::from_secs(3600)).unwrap();
        assert!(format!("{publisher:?}").contains("running: true"));
        // Returns only once the thread has ended, though it waits an hour.
        publisher.stop();
    }
}
