//! A component that has been through every figure the bridges export, and
//! the expected series, read straight from the snapshot's fields (not through
//! the library's own mapping), so a bridge that drops or bends a figure fails.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use reliability_core::{
    manager, reliable, CircuitOpen, Classify, ErrorCategory, HealthStatus, ManualClock,
    MetricsSnapshot, TimedOut,
};

/// The component the scenario drives.
pub const COMPONENT: &str = "bridge_store";

#[derive(Debug)]
pub enum StoreError {
    Reset,
    Open(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Reset => f.write_str("connection reset"),
            StoreError::Open(text) => f.write_str(text),
        }
    }
}

impl Classify for StoreError {
    fn category(&self) -> ErrorCategory {
        match self {
            StoreError::Reset => ErrorCategory::Network,
            StoreError::Open(_) => ErrorCategory::ResourceExhausted,
        }
    }
}

impl From<CircuitOpen> for StoreError {
    fn from(open: CircuitOpen) -> Self {
        StoreError::Open(open.to_string())
    }
}

impl From<TimedOut> for StoreError {
    fn from(_: TimedOut) -> Self {
        StoreError::Reset
    }
}

/// Fails while `failing` is above zero, counting it down.
#[derive(Default)]
pub struct Store {
    failing: AtomicU32,
}

#[reliable(
    component = "bridge_store",
    strategies = [retry, circuit_breaker],
    max_attempts = 2,
    base_delay = "1ms",
    open_after = 3,
    cool_down = "30s"
)]
impl Store {
    fn get(&self, key: u32) -> Result<u32, StoreError> {
        let left = self.failing.load(Ordering::SeqCst);
        if left > 0 {
            self.failing.store(left - 1, Ordering::SeqCst);
            return Err(StoreError::Reset);
        }
        Ok(key * 2)
    }

    fn put(&self, key: u32) -> u32 {
        assert!(key != 13, "unlucky key");
        key
    }
}

// A method with a timeout and a hedge: only such a method has those series.
#[reliable(component = "bridge_store")]
impl Store {
    #[reliable(timeout = "5s", hedge(after = "5s"), alternatives = [spare])]
    async fn fetch(&self, key: u32) -> Result<u32, StoreError> {
        Ok(key)
    }

    #[reliable(skip)]
    async fn spare(&self, key: u32) -> Result<u32, StoreError> {
        Ok(key)
    }
}

/// Polls a future that is ready at once.
fn ready<T>(future: impl Future<Output = T>) -> T {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("the future is ready at once"),
    }
}

/// The tests of one binary share the manager: they take turns.
pub fn serial() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs the scenario once per test binary, on a manual clock: successes, a
/// failure that a retry recovers, failures that exhaust the retries and open
/// the circuit, a call the open circuit rejects, and a panic.
pub fn drive() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        manager().set_clock(Arc::new(ManualClock::new()));
        let store = Store::default();
        for key in 0..3 {
            assert_eq!(store.get(key).unwrap(), key * 2);
        }
        store.failing.store(1, Ordering::SeqCst);
        assert_eq!(store.get(5).unwrap(), 10, "the retry recovers it");
        store.failing.store(100, Ordering::SeqCst);
        assert!(matches!(store.get(7), Err(StoreError::Reset)));
        // Failed attempts (retries included) open the circuit within a few calls.
        let rejected = (0..10).any(|key| match store.get(key) {
            Err(StoreError::Reset) => false,
            Err(StoreError::Open(_)) => true,
            Ok(_) => panic!("the store is down"),
        });
        assert!(rejected, "the open circuit rejects");
        assert_eq!(store.put(1), 1);
        let panicked = catch_unwind(AssertUnwindSafe(|| store.put(13)));
        assert!(panicked.is_err());
        assert_eq!(ready(store.fetch(4)).unwrap(), 4);
    });
}

/// A series' identity: its name and its labels, sorted by key.
pub type SeriesKey = (String, Vec<(String, String)>);

pub fn key(name: &str, labels: &[(&str, &str)]) -> SeriesKey {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    labels.sort();
    (name.to_owned(), labels)
}

/// How a bridge names each figure.
#[derive(Debug, Clone, Copy)]
pub enum Naming {
    /// OpenTelemetry instrument names.
    OpenTelemetry,
    /// Prometheus names, which the `metrics` bridge uses too.
    Prometheus,
}

/// Every series the bridges should export for `component`, from the
/// snapshot's fields: a method has a `cancelled` outcome only if it can be
/// cancelled (async), timeouts only with a timeout, hedges only with a
/// hedge (or once it has counted one). Latency percentiles are included; the Prometheus text
/// leaves them out (it has the buckets) and its tests drop them. Histogram
/// buckets are in the Prometheus naming only.
pub fn expected(
    snapshot: &MetricsSnapshot,
    component: &str,
    naming: Naming,
) -> BTreeMap<SeriesKey, f64> {
    let otel = matches!(naming, Naming::OpenTelemetry);
    let n =
        |otel_name: &'static str, prom_name: &'static str| if otel { otel_name } else { prom_name };
    let c = snapshot
        .component(component)
        .expect("the component was called");
    let mut out = BTreeMap::new();
    let mut put = |name: &str, labels: &[(&str, &str)], value: f64| {
        assert!(
            out.insert(key(name, labels), value).is_none(),
            "{name} {labels:?} twice"
        );
    };
    let comp = ("component", component);
    for m in &c.methods {
        let method = ("method", m.name.as_str());
        let cancelled =
            (m.shape.may_cancel || m.cancelled > 0).then_some(("cancelled", m.cancelled));
        for (outcome, value) in [("success", m.successes), ("failure", m.failures)]
            .into_iter()
            .chain(cancelled)
        {
            put(
                n("reliability.calls", "reliability_calls_total"),
                &[comp, method, ("outcome", outcome)],
                value as f64,
            );
        }
        put(
            n("reliability.panics", "reliability_panics_total"),
            &[comp, method],
            m.panics as f64,
        );
        if m.shape.timeout || m.timeouts > 0 {
            put(
                n("reliability.timeouts", "reliability_timeouts_total"),
                &[comp, method],
                m.timeouts as f64,
            );
        }
        if m.shape.hedge || m.hedges_won + m.hedges_lost > 0 {
            for (result, value) in [("won", m.hedges_won), ("lost", m.hedges_lost)] {
                put(
                    n("reliability.hedges", "reliability_hedges_total"),
                    &[comp, method, ("result", result)],
                    value as f64,
                );
            }
        }
        let completed = (m.successes + m.failures) as f64;
        if !otel {
            // OpenTelemetry has no observable histogram: only the sum and count.
            for (i, count) in m.latency_buckets.iter().enumerate() {
                let le = ((1u64 << (10 + 2 * i)) as f64 / 1e9).to_string();
                let labels = [comp, method, ("le", le.as_str())];
                put(
                    "reliability_call_duration_seconds_bucket",
                    &labels,
                    *count as f64,
                );
            }
            let inf = [comp, method, ("le", "+Inf")];
            put("reliability_call_duration_seconds_bucket", &inf, completed);
        }
        put(
            n(
                "reliability.call.duration.sum",
                "reliability_call_duration_seconds_sum",
            ),
            &[comp, method],
            m.total_latency.as_secs_f64(),
        );
        put(
            n(
                "reliability.call.duration.count",
                "reliability_call_duration_seconds_count",
            ),
            &[comp, method],
            completed,
        );
        for (q, value) in [
            ("0.5", m.latency.p50),
            ("0.95", m.latency.p95),
            ("0.99", m.latency.p99),
        ] {
            put(
                n(
                    "reliability.call.duration.quantile",
                    "reliability_call_duration_quantile_seconds",
                ),
                &[comp, method, ("quantile", q)],
                value.as_secs_f64(),
            );
        }
    }
    let health = match c.health.status {
        HealthStatus::Healthy => 0.0,
        HealthStatus::Degraded => 1.0,
        HealthStatus::Unhealthy => 2.0,
    };
    put(
        n(
            "reliability.component.health",
            "reliability_component_health",
        ),
        &[comp],
        health,
    );
    put(
        n(
            "reliability.consecutive_failures",
            "reliability_consecutive_failures",
        ),
        &[comp],
        c.health.consecutive_failures as f64,
    );
    for s in &c.strategies {
        let strategy = ("strategy", s.strategy.as_str());
        put(
            n(
                "reliability.recovery.attempts",
                "reliability_recovery_attempts_total",
            ),
            &[comp, strategy, ("result", "success")],
            s.successes as f64,
        );
        put(
            n(
                "reliability.recovery.attempts",
                "reliability_recovery_attempts_total",
            ),
            &[comp, strategy, ("result", "failure")],
            (s.attempts - s.successes) as f64,
        );
    }
    for (reason, value) in [
        ("rate_limited", c.rejected_by.rate_limited),
        ("bulkhead_full", c.rejected_by.bulkhead_full),
        ("circuit_open", c.rejected_by.circuit_open),
    ] {
        put(
            n(
                "reliability.rejected_calls",
                "reliability_rejected_calls_total",
            ),
            &[comp, ("reason", reason)],
            value as f64,
        );
    }
    put(
        n("reliability.in_flight", "reliability_in_flight"),
        &[comp],
        c.in_flight as f64,
    );
    if let Some(state) = c.health.circuit {
        put(
            n("reliability.circuit.state", "reliability_circuit_state"),
            &[comp],
            f64::from(state.as_number()),
        );
    }
    put(
        n("reliability.needs_attention", "reliability_needs_attention"),
        &[comp],
        if c.health.needs_attention { 1.0 } else { 0.0 },
    );
    let r = &c.recovery;
    for (outcome, value) in [
        ("recovered", r.recovered),
        ("escalated", r.escalated),
        ("failed", r.sessions - r.recovered - r.escalated),
    ] {
        put(
            n(
                "reliability.recovery.sessions",
                "reliability_recovery_sessions_total",
            ),
            &[comp, ("outcome", outcome)],
            value as f64,
        );
    }
    put(
        n(
            "reliability.retry_budget.exhausted",
            "reliability_retry_budget_exhausted_total",
        ),
        &[comp],
        r.budget_exhausted as f64,
    );
    put(
        n("reliability.uptime", "reliability_uptime_ratio"),
        &[comp],
        c.uptime,
    );
    out
}

/// The scenario left its mark on every figure that it can move.
pub fn assert_scenario(snapshot: &MetricsSnapshot) {
    let c = snapshot.component(COMPONENT).unwrap();
    let get = c.method("get").unwrap();
    let put = c.method("put").unwrap();
    let fetch = c.method("fetch").unwrap();
    assert_eq!(get.successes, 4, "{get:?}");
    assert!(!get.shape.may_cancel && fetch.shape.may_cancel, "{fetch:?}");
    assert!(fetch.shape.timeout && fetch.shape.hedge, "{fetch:?}");
    assert!(get.failures >= 2, "{get:?}");
    assert_eq!(
        (put.successes, put.failures, put.panics),
        (1, 1, 1),
        "{put:?}"
    );
    assert!(c.rejected >= 1);
    assert!(c.health.circuit.is_some());
    assert!(c.recovery.sessions >= 2, "{:?}", c.recovery);
    assert!(c.recovery.recovered >= 1, "{:?}", c.recovery);
    assert!(!c.strategies.is_empty());
}
