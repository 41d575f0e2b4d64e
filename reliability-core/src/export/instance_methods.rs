//! An instance's methods in a snapshot: kept as they were read and shaped
//! into [`MethodSnapshot`]s on first access, so that an exposition of an
//! instance's sums never builds a thousand instances' methods.

use std::fmt;
use std::ops::Deref;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::export::latency::LATENCY_BUCKET_EDGES_NANOS;
use crate::export::snapshot::{MethodShape, MethodSnapshot};
use crate::record::site::SiteReading;

/// Each method an instance has called, sorted by name: derefs to a slice
/// of [`MethodSnapshot`], and serializes as that list.
///
/// It holds the counters as the snapshot read them and shapes them
/// (percentiles, exported buckets, names) on first access, once; what it
/// reads is the same whenever it is read.
#[derive(Clone, Default)]
pub struct InstanceMethods {
    /// What the snapshot read, per method, sorted by name.
    read: Vec<KeptMethod>,
    /// The methods' histograms, one after the other.
    buckets: Vec<u64>,
    /// The methods' last errors, one after the other.
    errors: String,
    /// Summed as they are kept, while the readings are in cache: every
    /// family of the exposition asks for them.
    summed: SummedCalls,
    built: OnceLock<Vec<MethodSnapshot>>,
}

impl InstanceMethods {
    /// A copy of `readings`, in three allocations whatever their number;
    /// shaped on first access.
    pub(crate) fn from_readings(readings: &[(&'static str, SiteReading)]) -> Self {
        let mut methods = InstanceMethods {
            read: Vec::with_capacity(readings.len()),
            buckets: Vec::with_capacity(readings.iter().map(|(_, r)| r.buckets.len()).sum()),
            errors: String::with_capacity(
                readings
                    .iter()
                    .filter_map(|(_, r)| r.last_error.as_ref())
                    .map(String::len)
                    .sum(),
            ),
            summed: SummedCalls::default(),
            built: OnceLock::new(),
        };
        for (name, reading) in readings {
            let buckets = span(methods.buckets.len(), reading.buckets.len());
            methods.buckets.extend_from_slice(&reading.buckets);
            let error = reading.last_error.as_deref().map(|text| {
                let at = methods.errors.len();
                methods.errors.push_str(text);
                span(at, text.len())
            });
            methods.read.push(KeptMethod {
                name,
                counts: reading.without_heap(),
                buckets,
                error,
            });
        }
        methods.summed = methods.sum_calls();
        methods
    }

    /// Calls `each` with every method's name and call counts, without
    /// shaping the methods if they are not yet.
    pub(crate) fn each_calls(&self, mut each: impl FnMut(&str, CallCounts)) {
        match self.built.get() {
            Some(built) => built
                .iter()
                .for_each(|m| each(&m.name, CallCounts::of_snapshot(m))),
            None => self
                .read
                .iter()
                .for_each(|m| each(m.name, CallCounts::of_reading(&m.counts))),
        }
    }

    /// The call counts summed over the methods, without shaping them.
    pub(crate) fn summed_calls(&self) -> SummedCalls {
        self.summed
    }

    fn sum_calls(&self) -> SummedCalls {
        let mut summed = SummedCalls::default();
        self.each_calls(|_, counts| {
            summed.successes += counts.successes;
            summed.failures += counts.failures;
            summed.cancelled += counts.cancelled;
            summed.may_cancel |= counts.shape.may_cancel;
            summed.bulkhead |= counts.shape.bulkhead;
        });
        summed
    }

    /// Whether the methods have been shaped.
    #[cfg(test)]
    pub(crate) fn is_built(&self) -> bool {
        self.built.get().is_some()
    }

    fn built(&self) -> &[MethodSnapshot] {
        self.built.get_or_init(|| {
            self.read
                .iter()
                .map(|m| {
                    let mut reading = m.counts.clone();
                    let counted = &self.buckets[range(m.buckets)];
                    // Room for the exported edges, which shaping writes over these.
                    reading.buckets = Vec::with_capacity(counted.len().max(EXPORTED_EDGES));
                    reading.buckets.extend_from_slice(counted);
                    reading.last_error = m.error.map(|e| self.errors[range(e)].to_owned());
                    MethodSnapshot::from_reading(m.name, reading)
                })
                .collect()
        })
    }
}

impl Deref for InstanceMethods {
    type Target = [MethodSnapshot];

    fn deref(&self) -> &[MethodSnapshot] {
        self.built()
    }
}

impl From<Vec<MethodSnapshot>> for InstanceMethods {
    fn from(methods: Vec<MethodSnapshot>) -> Self {
        let mut methods = InstanceMethods {
            read: Vec::new(),
            buckets: Vec::new(),
            errors: String::new(),
            summed: SummedCalls::default(),
            built: OnceLock::from(methods),
        };
        methods.summed = methods.sum_calls();
        methods
    }
}

impl<'a> IntoIterator for &'a InstanceMethods {
    type Item = &'a MethodSnapshot;
    type IntoIter = std::slice::Iter<'a, MethodSnapshot>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Debug for InstanceMethods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl PartialEq for InstanceMethods {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Serialize for InstanceMethods {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for InstanceMethods {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<MethodSnapshot>::deserialize(deserializer).map(Self::from)
    }
}

const EXPORTED_EDGES: usize = LATENCY_BUCKET_EDGES_NANOS.len();

/// One method as read: its counters, and where its histogram and error
/// text lie in its instance's.
#[derive(Clone)]
struct KeptMethod {
    name: &'static str,
    /// Without histogram or error text.
    counts: SiteReading,
    /// `(start, len)` in the instance's buckets.
    buckets: (usize, usize),
    /// `(start, len)` in the instance's error texts.
    error: Option<(usize, usize)>,
}

fn span(start: usize, len: usize) -> (usize, usize) {
    (start, len)
}

fn range((start, len): (usize, usize)) -> std::ops::Range<usize> {
    start..start + len
}

/// One method's calls, as its [`MethodSnapshot`] counts them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallCounts {
    pub(crate) calls: u64,
    pub(crate) successes: u64,
    pub(crate) failures: u64,
    pub(crate) cancelled: u64,
    pub(crate) attempts: u64,
    pub(crate) shape: MethodShape,
}

impl CallCounts {
    pub(crate) fn of_reading(reading: &SiteReading) -> Self {
        let started = reading.successes + reading.failures + reading.cancelled;
        CallCounts {
            calls: started,
            successes: reading.successes,
            failures: reading.failures,
            cancelled: reading.cancelled,
            attempts: (started + reading.retries).saturating_sub(reading.rejected),
            shape: MethodShape::of(reading.shape),
        }
    }

    pub(crate) fn of_snapshot(m: &MethodSnapshot) -> Self {
        CallCounts {
            calls: m.calls,
            successes: m.successes,
            failures: m.failures,
            cancelled: m.cancelled,
            attempts: m.attempts,
            shape: m.shape,
        }
    }
}

/// An instance's calls summed over its methods: what its default series export.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SummedCalls {
    pub(crate) successes: u64,
    pub(crate) failures: u64,
    pub(crate) cancelled: u64,
    /// Any of its methods can end cancelled.
    pub(crate) may_cancel: bool,
    /// Any of its methods is behind a bulkhead.
    pub(crate) bulkhead: bool,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{InstanceMethods, MethodSnapshot, SiteReading};
    use crate::export::InstanceSeries;
    use crate::{manager, Outcome};

    fn record(component: &str, instance: &str, method: &str, outcome: Outcome) {
        let took = Duration::from_micros(40);
        manager().record_instance(component, instance, method, outcome, took);
    }

    #[test]
    fn the_default_exposition_leaves_the_instances_methods_unbuilt() {
        let component = "instance_methods_tests_default";
        for id in ["a", "b"] {
            record(component, id, "get", Outcome::Success);
            record(component, id, "put", Outcome::Failure);
        }
        let snapshot = crate::snapshot();
        let text = snapshot.to_prometheus();
        let c = snapshot.component(component).unwrap();
        assert!(c.instances.iter().all(|i| !i.methods.is_built()));
        let line = format!(
            "reliability_calls_total{{component=\"{component}\",component_id=\"a\",outcome=\"failure\"}} 1"
        );
        assert!(text.contains(&line), "{text}");
        // Read as before once looked at.
        let a = c.instance("a").unwrap();
        assert_eq!(a.method("put").unwrap().failures, 1);
        assert!(a.methods.is_built());
        assert_eq!(a.methods.len(), 2);
    }

    #[test]
    fn the_per_method_exposition_builds_them() {
        let component = "instance_methods_tests_per_method";
        manager().set_instance_series(component, InstanceSeries::new().with_per_method(true));
        record(component, "a", "get", Outcome::Success);
        let snapshot = crate::snapshot();
        let c = snapshot.component(component).unwrap();
        assert!(!c.instances[0].methods.is_built());
        snapshot.to_prometheus();
        assert!(c.instances[0].methods.is_built());
    }

    #[test]
    fn they_serialize_as_the_list_and_compare_as_it() {
        let component = "instance_methods_tests_json";
        record(component, "a", "get", Outcome::Success);
        let snapshot = crate::snapshot();
        let methods = &snapshot.component(component).unwrap().instances[0].methods;
        let json = serde_json::to_string(methods).unwrap();
        let list: Vec<crate::MethodSnapshot> = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&list).unwrap(), json);
        let back: super::InstanceMethods = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, methods);
        assert_eq!(&*back, &list[..]);
    }

    #[test]
    fn the_compact_copy_shapes_as_the_readings_would() {
        let reading = |successes, buckets: &[u64], error: Option<&str>| {
            let mut r = SiteReading::empty();
            r.successes = successes;
            r.failures = 1;
            r.retries = 2;
            r.nanos = 9_000;
            r.max_nanos = 5_000;
            r.buckets = buckets.to_vec();
            r.last_error = error.map(str::to_owned);
            r
        };
        let readings = vec![
            ("a", reading(3, &[0, 2, 1, 0, 1], Some("reset"))),
            ("b", reading(0, &[], None)),
            ("c", reading(7, &[1; 40], Some("refused"))),
        ];
        let kept = InstanceMethods::from_readings(&readings);
        let eager: Vec<_> = readings
            .into_iter()
            .map(|(name, r)| MethodSnapshot::from_reading(name, r))
            .collect();
        let mut counted = Vec::new();
        kept.each_calls(|name, c| counted.push((name.to_owned(), c.calls, c.attempts)));
        let expected: Vec<_> = eager
            .iter()
            .map(|m| (m.name.clone(), m.calls, m.attempts))
            .collect();
        assert_eq!(counted, expected);
        assert_eq!(&*kept, &eager[..]);
    }
}
