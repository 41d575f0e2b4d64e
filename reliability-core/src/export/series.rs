//! The one mapping from a snapshot to named series. Prometheus text,
//! OpenTelemetry and the `metrics` facade all read the snapshot through
//! [`visit`], so they cannot disagree on a name, a label or a value.

use crate::export::party::{completed, Party};
use crate::export::snapshot::MetricsSnapshot;
use crate::recovery::limits::RejectReason;
use crate::HealthStatus;

/// What a family counts, which decides the instrument each bridge uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Only goes up (until a reset): a Prometheus counter, an OpenTelemetry
    /// observable counter, a `metrics` counter set with `absolute`.
    Counter,
    /// A level that goes up and down.
    Gauge,
    /// Latency buckets with their sum and count (a Prometheus histogram; a
    /// sum/count pair of counters elsewhere).
    Histogram,
}

/// The number type of a family's values.
#[cfg_attr(
    not(any(feature = "opentelemetry", feature = "metrics")),
    allow(dead_code)
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Number {
    U64,
    F64,
}

/// A family of series: one name, one kind, labels that tell its series apart.
// Each bridge reads the fields it needs, so which are read depends on the
// features built.
#[allow(dead_code)]
#[derive(Debug)]
pub(crate) struct Family {
    pub(crate) id: Id,
    /// The Prometheus name, which the `metrics` facade uses too.
    pub(crate) name: &'static str,
    /// The OpenTelemetry instrument name (dotted, no `_total`, no unit).
    pub(crate) otel_name: &'static str,
    /// The OpenTelemetry unit (UCUM), empty for none.
    pub(crate) otel_unit: &'static str,
    pub(crate) kind: Kind,
    pub(crate) number: Number,
    pub(crate) help: &'static str,
    /// Whether the Prometheus text carries it. Latency percentiles are left
    /// out there: PromQL's `histogram_quantile` derives them from the buckets.
    pub(crate) in_prometheus_text: bool,
    /// Its `# HELP` and `# TYPE` lines in the Prometheus text.
    pub(crate) text_header: &'static str,
}

/// Which family: what [`visit_family`] matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Id {
    Calls,
    Panics,
    CallDuration,
    CallDurationQuantile,
    ComponentHealth,
    ConsecutiveFailures,
    RecoveryAttempts,
    RejectedCalls,
    Timeouts,
    InFlight,
    Hedges,
    CircuitState,
    NeedsAttention,
    RecoverySessions,
    RetryBudgetExhausted,
    Uptime,
}

macro_rules! family {
    ($const:ident = $id:ident, $name:literal, $otel:literal, $unit:literal, $kind:ident,
     $number:ident, $text:literal, $help:literal) => {
        pub(crate) const $const: Family = Family {
            id: Id::$id,
            name: $name,
            otel_name: $otel,
            otel_unit: $unit,
            kind: Kind::$kind,
            number: Number::$number,
            help: $help,
            in_prometheus_text: $text,
            text_header: concat!(
                "# HELP ",
                $name,
                " ",
                $help,
                "\n# TYPE ",
                $name,
                " ",
                type_word!($kind),
                "\n"
            ),
        };
    };
}

/// The word of a kind in a Prometheus `# TYPE` line.
macro_rules! type_word {
    (Counter) => {
        "counter"
    };
    (Gauge) => {
        "gauge"
    };
    (Histogram) => {
        "histogram"
    };
}

// name, OpenTelemetry name, OpenTelemetry unit, kind, number, in the text, help.
family!(
    CALLS = Calls,
    "reliability_calls_total",
    "reliability.calls",
    "{call}",
    Counter,
    U64,
    true,
    "Calls of instrumented methods, by how they ended."
);
family!(
    PANICS = Panics,
    "reliability_panics_total",
    "reliability.panics",
    "{call}",
    Counter,
    U64,
    true,
    "Calls that panicked (also counted as failures)."
);
family!(
    CALL_DURATION = CallDuration,
    "reliability_call_duration_seconds",
    "reliability.call.duration",
    "s",
    Histogram,
    F64,
    true,
    "Latency of completed calls."
);
family!(
    CALL_DURATION_QUANTILE = CallDurationQuantile,
    "reliability_call_duration_quantile_seconds",
    "reliability.call.duration.quantile",
    "s",
    Gauge,
    F64,
    false,
    "Latency percentiles of completed calls (within 6.25 %)."
);
family!(
    COMPONENT_HEALTH = ComponentHealth,
    "reliability_component_health",
    "reliability.component.health",
    "",
    Gauge,
    U64,
    true,
    "Component health: 0 healthy, 1 degraded, 2 unhealthy."
);
family!(
    CONSECUTIVE_FAILURES = ConsecutiveFailures,
    "reliability_consecutive_failures",
    "reliability.consecutive_failures",
    "{call}",
    Gauge,
    U64,
    true,
    "Failed calls since the component's last success."
);
family!(
    RECOVERY_ATTEMPTS = RecoveryAttempts,
    "reliability_recovery_attempts_total",
    "reliability.recovery.attempts",
    "{attempt}",
    Counter,
    U64,
    true,
    "Recovery steps tried, by strategy and result."
);
family!(
    REJECTED_CALLS = RejectedCalls,
    "reliability_rejected_calls_total",
    "reliability.rejected_calls",
    "{call}",
    Counter,
    U64,
    true,
    "Calls refused before they ran, by reason: circuit_open, bulkhead_full, rate_limited."
);
family!(
    TIMEOUTS = Timeouts,
    "reliability_timeouts_total",
    "reliability.timeouts",
    "{attempt}",
    Counter,
    U64,
    true,
    "Attempts dropped by their timeout."
);
family!(
    IN_FLIGHT = InFlight,
    "reliability_in_flight",
    "reliability.in_flight",
    "{call}",
    Gauge,
    U64,
    true,
    "Calls inside the component's bulkhead now."
);
family!(
    HEDGES = Hedges,
    "reliability_hedges_total",
    "reliability.hedges",
    "{attempt}",
    Counter,
    U64,
    true,
    "Alternatives started beside a slow attempt, by whether they won or lost."
);
family!(
    CIRCUIT_STATE = CircuitState,
    "reliability_circuit_state",
    "reliability.circuit.state",
    "",
    Gauge,
    U64,
    true,
    "Circuit state: 0 closed, 1 open, 2 half open."
);
family!(
    NEEDS_ATTENTION = NeedsAttention,
    "reliability_needs_attention",
    "reliability.needs_attention",
    "",
    Gauge,
    U64,
    true,
    "1 while an escalation of the component waits to be acknowledged."
);
family!(
    RECOVERY_SESSIONS = RecoverySessions,
    "reliability_recovery_sessions_total",
    "reliability.recovery.sessions",
    "{session}",
    Counter,
    U64,
    true,
    "Calls that needed recovery, by how their recovery ended."
);
family!(
    RETRY_BUDGET_EXHAUSTED = RetryBudgetExhausted,
    "reliability_retry_budget_exhausted_total",
    "reliability.retry_budget.exhausted",
    "{retry}",
    Counter,
    U64,
    true,
    "Retries that recovery wanted but the empty retry budget refused."
);
family!(
    UPTIME = Uptime,
    "reliability_uptime_ratio",
    "reliability.uptime",
    "1",
    Gauge,
    F64,
    true,
    "Share of monitored time the component was not unhealthy."
);

/// Every family, in the order the Prometheus text lists them.
pub(crate) const FAMILIES: [&Family; 16] = [
    &CALLS,
    &PANICS,
    &CALL_DURATION,
    &CALL_DURATION_QUANTILE,
    &COMPONENT_HEALTH,
    &CONSECUTIVE_FAILURES,
    &RECOVERY_ATTEMPTS,
    &REJECTED_CALLS,
    &TIMEOUTS,
    &IN_FLIGHT,
    &HEDGES,
    &CIRCUIT_STATE,
    &NEEDS_ATTENTION,
    &RECOVERY_SESSIONS,
    &RETRY_BUDGET_EXHAUSTED,
    &UPTIME,
];

/// The labels of one series. Keys follow OpenTelemetry's attribute naming
/// (`component`, `method`, `outcome`, `strategy`, `result`, `reason`, `quantile`) and
/// are valid Prometheus label names as they are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Labels<'a> {
    /// Whose series it is (`component`, and `method` for the per-method
    /// families), never empty. The values are names users chose, so the
    /// Prometheus text escapes them where they need it.
    pub(crate) identity: &'a [(&'static str, &'a str)],
    /// Names the identity within one visit: series with the same key have
    /// the same identity labels, so a sink may write them once per key (the
    /// Prometheus text does). Keys count from 0 with no gaps: the components
    /// by position, then every component's methods, in order.
    pub(crate) identity_key: usize,
    /// Labels whose values are fixed words (`outcome="success"`), which
    /// never need escaping.
    pub(crate) fixed: &'a [(&'static str, &'static str)],
}

impl<'a> Labels<'a> {
    /// Every label as `(key, value)`, in order.
    #[cfg_attr(
        not(any(feature = "opentelemetry", feature = "metrics")),
        allow(dead_code)
    )]
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&'static str, &'a str)> + '_ {
        self.identity
            .iter()
            .copied()
            .chain(self.fixed.iter().copied())
    }
}

/// One method's latency, as a histogram.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Histogram<'a> {
    /// Completed calls at most as long as each edge of
    /// [`LATENCY_BUCKET_EDGES_NANOS`](crate::export::latency::LATENCY_BUCKET_EDGES_NANOS), cumulative.
    pub(crate) cumulative: &'a [u64],
    /// Completed calls (the `+Inf` bucket).
    pub(crate) count: u64,
    /// The sum of their latencies, in seconds.
    pub(crate) sum_seconds: f64,
}

/// The `le` label of each exported bucket edge
/// ([`LATENCY_BUCKET_EDGES_NANOS`](crate::export::latency::LATENCY_BUCKET_EDGES_NANOS))
/// in seconds, as `f64`'s `Display` writes them (a test checks it).
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const LE_SECONDS: [&str; 14] = [
    "0.000001024",
    "0.000004096",
    "0.000016384",
    "0.000065536",
    "0.000262144",
    "0.001048576",
    "0.004194304",
    "0.016777216",
    "0.067108864",
    "0.268435456",
    "1.073741824",
    "4.294967296",
    "17.179869184",
    "68.719476736",
];

/// A series' value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    U64(u64),
    F64(f64),
    Histogram(Histogram<'a>),
}

/// Receives the series of a snapshot.
pub(crate) trait Sink {
    /// Called before the first series of `family` (also when it has none).
    fn family(&mut self, _family: &'static Family) {}
    /// One series.
    fn series(&mut self, family: &'static Family, labels: Labels<'_>, value: Value<'_>);
}

/// Feeds every family's series of `snapshot` to `sink`, family by family.
pub(crate) fn visit(snapshot: &MetricsSnapshot, sink: &mut impl Sink) {
    visit_families(snapshot, &FAMILIES, sink);
}

/// Feeds the series of one family to `sink`. This match is the mapping: the
/// only place that says which figure of the snapshot a series carries.
///
/// Identity keys: the components by position, then, component after
/// component, its methods, and each instance followed by its methods (when
/// its component exports them); the same for every family, since every
/// identity takes its key whether the family has a series for it or not.
#[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
pub(crate) fn visit_family(
    snapshot: &MetricsSnapshot,
    family: &'static Family,
    sink: &mut impl Sink,
) {
    visit_families(snapshot, &[family], sink);
}

/// [`visit_family`] for each of `families`, in order; each component's own
/// share is worked out once for all of them.
fn visit_families(snapshot: &MetricsSnapshot, families: &[&'static Family], sink: &mut impl Sink) {
    let parties: Vec<Party<'_>> = snapshot.components.iter().map(Party::component).collect();
    for family in families {
        visit_parties(snapshot, &parties, family, sink);
    }
}

fn visit_parties(
    snapshot: &MetricsSnapshot,
    parties: &[Party<'_>],
    family: &'static Family,
    sink: &mut impl Sink,
) {
    sink.family(family);
    let mut next_key = snapshot.components.len();
    for (key, (c, party)) in snapshot.components.iter().zip(parties).enumerate() {
        let identity = [("component", c.name.as_str())];
        visit_party(family, party, &identity, key, &mut next_key, sink);
        for i in &c.instances {
            let party = Party::instance(i, c.instance_series);
            let identity = [
                ("component", c.name.as_str()),
                ("component_id", i.id.as_str()),
            ];
            let key = next_key;
            next_key += 1;
            visit_party(family, &party, &identity, key, &mut next_key, sink);
        }
    }
}

/// The series of one party; `next_key` is the identity key of its first
/// method, and moves past its methods if they are identities.
fn visit_party(
    family: &'static Family,
    p: &Party<'_>,
    identity: &[(&'static str, &str)],
    identity_key: usize,
    next_key: &mut usize,
    sink: &mut impl Sink,
) {
    let first_method_key = *next_key;
    if p.has_method_identities() {
        *next_key += p.methods.len();
    }
    let mut one = |fixed: &[(&'static str, &'static str)], value: Value<'_>| {
        let labels = Labels {
            identity,
            identity_key,
            fixed,
        };
        sink.series(family, labels, value);
    };
    // What an instance exports by default, beside its state gauges.
    let summary = p.instance.filter(|s| !s.per_method);
    match family.id {
        Id::Calls if summary.is_some() => {
            let summed = p.summed.unwrap_or_default();
            one(&[("outcome", "success")], Value::U64(summed.successes));
            one(&[("outcome", "failure")], Value::U64(summed.failures));
            if summed.may_cancel || summed.cancelled > 0 {
                one(&[("outcome", "cancelled")], Value::U64(summed.cancelled));
            }
        }
        Id::CallDuration if summary.is_some() => {
            if summary.is_some_and(|s| s.latency) {
                let mut cumulative = [0; LE_SECONDS.len()];
                let (mut count, mut nanos) = (0, 0u128);
                for m in p.methods.iter() {
                    for (sum, bucket) in cumulative.iter_mut().zip(&m.latency_buckets) {
                        *sum += bucket;
                    }
                    count += completed(m);
                    nanos += m.total_latency.as_nanos();
                }
                one(
                    &[],
                    Value::Histogram(Histogram {
                        cumulative: &cumulative,
                        count,
                        sum_seconds: nanos as f64 / 1e9,
                    }),
                );
            }
        }
        Id::Panics | Id::CallDurationQuantile | Id::Timeouts | Id::Hedges if summary.is_some() => {}
        Id::RecoveryAttempts
        | Id::RejectedCalls
        | Id::RecoverySessions
        | Id::RetryBudgetExhausted
            if summary.is_some() => {}
        Id::CallDuration | Id::CallDurationQuantile if p.instance.is_some_and(|s| !s.latency) => {}
        Id::Calls
        | Id::Panics
        | Id::CallDuration
        | Id::CallDurationQuantile
        | Id::Timeouts
        | Id::Hedges => visit_methods(p, identity, first_method_key, family, sink),
        Id::ComponentHealth => {
            let level = match p.health.status {
                HealthStatus::Healthy => 0,
                HealthStatus::Degraded => 1,
                HealthStatus::Unhealthy => 2,
            };
            one(&[], Value::U64(level));
        }
        Id::ConsecutiveFailures => one(&[], Value::U64(p.health.consecutive_failures)),
        Id::RecoveryAttempts => {
            for s in p.strategies.iter() {
                let strategy = ("strategy", s.strategy.as_str());
                let failed = s.attempts.saturating_sub(s.successes);
                one(&[strategy, ("result", "success")], Value::U64(s.successes));
                one(&[strategy, ("result", "failure")], Value::U64(failed));
            }
        }
        Id::RejectedCalls => {
            for reason in RejectReason::ALL {
                let count = p.rejected_by.by(reason);
                one(&[("reason", reason.as_str())], Value::U64(count));
            }
        }
        Id::InFlight => {
            // An instance has the series only where it is limited.
            let limited = p.instance.is_none()
                || p.in_flight > 0
                || p.summed.is_some_and(|s| s.bulkhead)
                || p.methods.iter().any(|m| m.shape.bulkhead);
            if limited {
                one(&[], Value::U64(p.in_flight));
            }
        }
        Id::CircuitState => {
            if let Some(state) = p.health.circuit {
                one(&[], Value::U64(state.as_number().into()));
            }
        }
        Id::NeedsAttention => one(&[], Value::U64(p.health.needs_attention.into())),
        Id::RecoverySessions => {
            let r = &p.recovery;
            let failed = r.sessions.saturating_sub(r.recovered + r.escalated);
            one(&[("outcome", "recovered")], Value::U64(r.recovered));
            one(&[("outcome", "escalated")], Value::U64(r.escalated));
            one(&[("outcome", "failed")], Value::U64(failed));
        }
        Id::RetryBudgetExhausted => one(&[], Value::U64(p.recovery.budget_exhausted)),
        Id::Uptime => {
            if let Some(uptime) = p.uptime {
                one(&[], Value::F64(uptime));
            }
        }
    }
}

/// The series of the per-method families; `first_key` is the identity key
/// of the party's first method. A method has no series for what its shape
/// says it cannot do, unless it did it anyway.
fn visit_methods(
    p: &Party<'_>,
    party: &[(&'static str, &str)],
    first_key: usize,
    family: &'static Family,
    sink: &mut impl Sink,
) {
    let mut identity = [("", ""); 3];
    identity[..party.len()].copy_from_slice(party);
    let own_share = p.own_share.of(family.id);
    for (i, m) in p.methods.iter().enumerate() {
        if own_share && m.calls == 0 && m.rejected == 0 {
            continue;
        }
        identity[party.len()] = ("method", m.name.as_str());
        let identity = &identity[..=party.len()];
        let mut one = |fixed: &[(&'static str, &'static str)], value: Value<'_>| {
            let labels = Labels {
                identity,
                identity_key: first_key + i,
                fixed,
            };
            sink.series(family, labels, value);
        };
        match family.id {
            Id::Calls => {
                one(&[("outcome", "success")], Value::U64(m.successes));
                one(&[("outcome", "failure")], Value::U64(m.failures));
                if m.shape.may_cancel || m.cancelled > 0 {
                    one(&[("outcome", "cancelled")], Value::U64(m.cancelled));
                }
            }
            Id::Panics => one(&[], Value::U64(m.panics)),
            Id::Timeouts if m.shape.timeout || m.timeouts > 0 => {
                one(&[], Value::U64(m.timeouts));
            }
            Id::Hedges if m.shape.hedge || m.hedges_won + m.hedges_lost > 0 => {
                one(&[("result", "won")], Value::U64(m.hedges_won));
                one(&[("result", "lost")], Value::U64(m.hedges_lost));
            }
            Id::CallDuration => one(
                &[],
                Value::Histogram(Histogram {
                    cumulative: &m.latency_buckets,
                    count: p.latency_counts.as_ref().map_or(completed(m), |c| c[i]),
                    sum_seconds: m.total_latency.as_secs_f64(),
                }),
            ),
            Id::CallDurationQuantile => {
                let l = &m.latency;
                one(&[("quantile", "0.5")], Value::F64(l.p50.as_secs_f64()));
                one(&[("quantile", "0.95")], Value::F64(l.p95.as_secs_f64()));
                one(&[("quantile", "0.99")], Value::F64(l.p99.as_secs_f64()));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::latency::LATENCY_BUCKET_EDGES_NANOS;

    #[test]
    fn bucket_edges_read_as_display_writes_them() {
        for (text, edge) in LE_SECONDS.iter().zip(LATENCY_BUCKET_EDGES_NANOS) {
            assert_eq!(*text, (edge as f64 / 1e9).to_string());
        }
    }

    #[test]
    fn names_are_unique_and_follow_each_convention() {
        for (i, a) in FAMILIES.iter().enumerate() {
            for b in &FAMILIES[i + 1..] {
                assert_ne!(a.name, b.name);
                assert_ne!(a.otel_name, b.otel_name);
                assert_ne!(a.id, b.id);
            }
            assert!(a.name.starts_with("reliability_") && !a.name.contains('.'));
            assert_eq!(
                a.name.ends_with("_total"),
                a.kind == Kind::Counter,
                "{}",
                a.name
            );
            assert!(a.otel_name.starts_with("reliability.") && !a.otel_name.ends_with("total"));
        }
    }

    /// Counts the series of each family.
    #[derive(Default)]
    struct Count(Vec<(&'static str, usize)>);

    impl Sink for Count {
        fn family(&mut self, family: &'static Family) {
            self.0.push((family.name, 0));
        }
        fn series(&mut self, family: &'static Family, _: Labels<'_>, _: Value<'_>) {
            let last = self.0.last_mut().unwrap();
            assert_eq!(last.0, family.name, "series come family by family");
            last.1 += 1;
        }
    }

    /// Records the identity of each key.
    #[derive(Default)]
    struct Keys(Vec<Option<Vec<(&'static str, String)>>>);

    impl Sink for Keys {
        fn series(&mut self, _: &'static Family, labels: Labels<'_>, _: Value<'_>) {
            let identity: Vec<_> = labels
                .identity
                .iter()
                .map(|&(key, value)| (key, value.to_owned()))
                .collect();
            let key = labels.identity_key;
            if key >= self.0.len() {
                self.0.resize(key + 1, None);
            }
            let seen = self.0[key].get_or_insert_with(|| identity.clone());
            assert_eq!(*seen, identity, "key {key} names two identities");
        }
    }

    #[test]
    fn one_identity_key_per_identity_without_gaps() {
        for component in ["keys_a", "keys_b"] {
            for method in ["get", "put", "delete"] {
                crate::manager().record(
                    component,
                    method,
                    crate::Outcome::Success,
                    Default::default(),
                );
            }
        }
        let snapshot = crate::snapshot();
        let mut keys = Keys::default();
        visit(&snapshot, &mut keys);
        // Other tests of this binary may have made instances: each is an
        // identity, and so are its methods when its component exports them.
        let identities: usize = snapshot
            .components
            .iter()
            .map(|c| {
                let instances: usize = c
                    .instances
                    .iter()
                    .map(|i| {
                        1 + if c.instance_series.per_method {
                            i.methods.len()
                        } else {
                            0
                        }
                    })
                    .sum();
                1 + c.methods.len() + instances
            })
            .sum();
        assert_eq!(keys.0.len(), identities);
        let identities: Vec<_> = keys.0.into_iter().map(Option::unwrap).collect();
        for (i, a) in identities.iter().enumerate() {
            assert!(!identities[i + 1..].contains(a), "two keys for {a:?}");
        }
        assert!(identities.contains(&vec![
            ("component", "keys_b".to_owned()),
            ("method", "put".to_owned())
        ]));
    }

    #[test]
    fn every_family_is_visited_in_order() {
        let snapshot = MetricsSnapshot::new(std::time::SystemTime::UNIX_EPOCH, Vec::new(), 1.0);
        let mut count = Count::default();
        visit(&snapshot, &mut count);
        let names: Vec<_> = count.0.iter().map(|(name, _)| *name).collect();
        let expected: Vec<_> = FAMILIES.iter().map(|f| f.name).collect();
        assert_eq!(names, expected);
        assert!(
            count.0.iter().all(|(_, n)| *n == 0),
            "no component, no series"
        );
    }
}
