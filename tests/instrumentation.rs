//! What a call records: outcomes, error text, panics, cancellations, and the
//! health the manager derives from them.

mod common;

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use common::{block_on, counts, method};
use reliability_core::{manager, reliable, HealthStatus, MetricsSnapshot, Outcome, Thresholds};

#[derive(Debug)]
struct OnlyDebug {
    #[allow(dead_code)] // read through Debug only
    code: u16,
}

struct Opaque;

#[derive(Debug)]
struct Loud(String);

impl fmt::Display for Loud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

type AliasResult<T> = Result<T, Loud>;

struct Errors;

#[reliable(component = "outcome_errors")]
impl Errors {
    fn display(&self, fail: bool) -> Result<u8, Loud> {
        if fail {
            Err(Loud("disk on fire".into()))
        } else {
            Ok(1)
        }
    }

    fn debug_only(&self) -> Result<(), OnlyDebug> {
        Err(OnlyDebug { code: 503 })
    }

    fn opaque(&self) -> Result<(), Opaque> {
        Err(Opaque)
    }

    fn io(&self) -> std::io::Result<()> {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "permission denied: /models",
        ))
    }

    fn alias(&self) -> AliasResult<()> {
        Err(Loud("through an alias".into()))
    }

    fn long(&self) -> Result<(), Loud> {
        Err(Loud("x".repeat(10_000)))
    }

    fn option(&self) -> Option<u8> {
        None
    }
}

#[test]
fn errors_are_failures_with_their_text() {
    assert!(Errors.display(false).is_ok());
    assert!(Errors.display(true).is_err());
    let display = method("outcome_errors", "display");
    assert_eq!((display.successes, display.failures), (1, 1));
    assert_eq!(display.last_error.as_deref(), Some("disk on fire"));

    let _ = Errors.debug_only();
    assert_eq!(
        method("outcome_errors", "debug_only").last_error.as_deref(),
        Some("OnlyDebug { code: 503 }")
    );
    let _ = Errors.opaque();
    let opaque = method("outcome_errors", "opaque").last_error.unwrap();
    assert!(opaque.ends_with("Opaque"), "{opaque}");
    let _ = Errors.io();
    assert_eq!(
        method("outcome_errors", "io").last_error.as_deref(),
        Some("permission denied: /models")
    );
    let _ = Errors.alias();
    assert_eq!(counts("outcome_errors", "alias"), (1, 0, 1));

    let _ = Errors.long();
    assert_eq!(
        method("outcome_errors", "long").last_error.unwrap().len(),
        256
    );

    // `None` is a value like any other: only `Result` carries failure.
    assert_eq!(Errors.option(), None);
    assert_eq!(counts("outcome_errors", "option"), (1, 1, 0));

    let health = manager().component_health("outcome_errors").unwrap();
    assert_eq!(health.last_error.as_deref().map(str::len), Some(256));
    assert!(health.last_failure_at.is_some());
}

struct Panicky;

#[reliable(component = "outcome_panics")]
impl Panicky {
    fn boom(&self, message: &'static str) -> Result<u8, String> {
        if !message.is_empty() {
            std::panic::panic_any(message);
        }
        Ok(7)
    }

    async fn boom_later(&self) -> u8 {
        common::YieldOnce::default().await;
        panic!("async boom")
    }
}

#[test]
fn a_panic_is_a_failure_and_keeps_unwinding() {
    let payload = catch_unwind(|| Panicky.boom("payload 42")).unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"payload 42"));
    // The manager keeps working after the panic.
    assert_eq!(Panicky.boom(""), Ok(7));
    let boom = method("outcome_panics", "boom");
    assert_eq!(
        (boom.calls, boom.successes, boom.failures, boom.panics),
        (2, 1, 1, 1)
    );
    assert_eq!(boom.last_error.as_deref(), Some("panicked"));
}

#[test]
fn an_async_panic_is_a_panic_even_when_the_future_is_dropped_later() {
    let mut future = Box::pin(Panicky.boom_later());
    let mut context = Context::from_waker(Waker::noop());
    assert!(future.as_mut().poll(&mut context).is_pending());
    let result = catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut context)));
    assert!(result.is_err());
    drop(future);
    let later = method("outcome_panics", "boom_later");
    assert_eq!(
        (later.calls, later.failures, later.panics, later.cancelled),
        (1, 1, 1, 0)
    );
}

struct Slow;

#[reliable(component = "outcome_cancelled")]
impl Slow {
    async fn wait(&self) -> Result<u8, String> {
        common::YieldOnce::default().await;
        Ok(1)
    }
}

#[test]
fn a_dropped_future_is_cancelled_not_failed() {
    {
        let mut future = pin!(Slow.wait());
        let mut context = Context::from_waker(Waker::noop());
        assert!(matches!(future.as_mut().poll(&mut context), Poll::Pending));
    }
    // A future never polled never started: it is not counted at all.
    drop(Slow.wait());
    assert_eq!(block_on(Slow.wait()), Ok(1));
    let wait = method("outcome_cancelled", "wait");
    assert_eq!(
        (wait.calls, wait.successes, wait.failures, wait.cancelled),
        (2, 1, 0, 1)
    );
    let health = manager().component_health("outcome_cancelled").unwrap();
    assert_eq!(health.consecutive_failures, 0);
}

struct HttpClient<T>(T);

#[reliable]
impl<T: Copy> HttpClient<T> {
    fn get(&self) -> T {
        self.0
    }
}

#[reliable]
impl<T> HttpClient<T> {
    fn put(&self) {}
}

impl<T> fmt::Display for HttpClient<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("client")
    }
}

#[test]
fn default_name_is_the_snake_case_type_and_impl_blocks_share_it() {
    let client = HttpClient(3u8);
    assert_eq!(client.get(), 3);
    client.put();
    let snapshot = reliability_core::snapshot();
    let component = snapshot
        .component("http_client")
        .expect("named after the type");
    assert!(component.method("get").is_some());
    assert!(component.method("put").is_some());
}

struct Tolerant;

#[reliable(
    component = "health_tolerant",
    thresholds(max_consecutive_failures = 5, min_calls = 100)
)]
impl Tolerant {
    fn call(&self, ok: bool) -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err("nope".into())
        }
    }
}

fn status(component: &str) -> HealthStatus {
    manager().component_health(component).unwrap().status
}

#[test]
fn attribute_thresholds_apply_to_their_component() {
    for _ in 0..4 {
        let _ = Tolerant.call(false);
    }
    assert_eq!(status("health_tolerant"), HealthStatus::Healthy);
    let _ = Tolerant.call(false);
    let health = manager().component_health("health_tolerant").unwrap();
    assert_eq!(health.status, HealthStatus::Unhealthy);
    assert_eq!(health.consecutive_failures, 5);
    assert_eq!(
        health.reason.as_deref(),
        Some("5 consecutive failures (limit 5)")
    );
}

struct Recovering;

#[reliable(component = "health_recovering")]
impl Recovering {
    fn call(&self, ok: bool) -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err("down".into())
        }
    }
}

#[test]
fn health_follows_failures_and_recovery_without_a_restart() {
    let r = Recovering;
    assert!(manager().component_health("health_recovering").is_none());
    for _ in 0..3 {
        let _ = r.call(false);
    }
    assert_eq!(status("health_recovering"), HealthStatus::Unhealthy);
    // Two successes: the run of failures is over, but 2 of 5 calls in the
    // window succeeded, below the unhealthy rate of 0.5.
    let _ = r.call(true);
    let _ = r.call(true);
    let health = manager().component_health("health_recovering").unwrap();
    assert_eq!(health.consecutive_failures, 0);
    assert_eq!(health.window_calls, 5);
    assert_eq!(health.status, HealthStatus::Unhealthy);
    // 3 of 6: degraded.
    let _ = r.call(true);
    assert_eq!(status("health_recovering"), HealthStatus::Degraded);
    // 27 of 30 reaches the healthy rate of 0.9.
    for _ in 0..23 {
        let _ = r.call(true);
    }
    assert_eq!(status("health_recovering"), HealthStatus::Degraded);
    let _ = r.call(true);
    assert_eq!(status("health_recovering"), HealthStatus::Healthy);
}

#[test]
fn slow_calls_degrade_a_component() {
    manager()
        .set_component_thresholds(
            "health_slow",
            Thresholds::new().with_slow_call(Some(Duration::from_millis(50))),
        )
        .unwrap();
    manager().record(
        "health_slow",
        "query",
        Outcome::Success,
        Duration::from_millis(10),
    );
    assert_eq!(status("health_slow"), HealthStatus::Healthy);
    for _ in 0..3 {
        manager().record(
            "health_slow",
            "query",
            Outcome::Success,
            Duration::from_millis(200),
        );
    }
    let health = manager().component_health("health_slow").unwrap();
    assert_eq!(health.status, HealthStatus::Degraded);
    assert!(health.reason.unwrap().starts_with("mean latency"));
    assert_eq!(health.mean_latency, Duration::from_micros(152_500));
}

#[test]
fn invalid_runtime_thresholds_are_refused_and_change_nothing() {
    let before = manager().thresholds();
    let error = manager()
        .set_thresholds(Thresholds::new().with_min_success_rate(2.0))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "min_success_rate must be between 0 and 1, got 2"
    );
    assert_eq!(manager().thresholds(), before);
    assert!(manager()
        .set_component_thresholds(
            "health_invalid",
            Thresholds::new().with_max_consecutive_failures(0)
        )
        .is_err());
}

#[test]
fn observe_and_record_count_code_without_the_attribute() {
    let parsed: Result<u32, std::num::ParseIntError> =
        reliability_core::observe("manual_component", "parse", || "12".parse());
    assert_eq!(parsed, Ok(12));
    let failed: Result<u32, std::num::ParseIntError> =
        reliability_core::observe("manual_component", "parse", || "x".parse());
    assert!(failed.is_err());
    reliability_core::observe("manual_component", "unit", || ());
    let parse = method("manual_component", "parse");
    assert_eq!((parse.calls, parse.successes, parse.failures), (2, 1, 1));
    assert_eq!(
        parse.last_error.as_deref(),
        Some("invalid digit found in string")
    );

    let m = manager();
    m.record(
        "manual_component",
        "send",
        Outcome::Success,
        Duration::from_millis(2),
    );
    m.record(
        "manual_component",
        "send",
        Outcome::Panicked,
        Duration::from_millis(3),
    );
    m.record(
        "manual_component",
        "send",
        Outcome::Cancelled,
        Duration::from_millis(4),
    );
    m.record_error(
        "manual_component",
        "send",
        &"queue full",
        Duration::from_millis(5),
    );
    let send = method("manual_component", "send");
    assert_eq!(
        (
            send.calls,
            send.successes,
            send.failures,
            send.panics,
            send.cancelled
        ),
        (4, 1, 2, 1, 1)
    );
    assert_eq!(send.last_error.as_deref(), Some("queue full"));
    assert_eq!(send.latency.max, Duration::from_millis(5));
}

#[test]
fn latency_percentiles_come_from_the_recorded_durations() {
    for millis in 1..=100u64 {
        manager().record(
            "latency_component",
            "op",
            Outcome::Success,
            Duration::from_millis(millis),
        );
    }
    let op = method("latency_component", "op");
    let close = |got: Duration, want_ms: f64| {
        let got = got.as_secs_f64() * 1e3;
        assert!(
            (got - want_ms).abs() / want_ms <= 0.0625,
            "{got} vs {want_ms}"
        );
    };
    close(op.latency.p50, 50.0);
    close(op.latency.p95, 95.0);
    close(op.latency.p99, 99.0);
    assert_eq!(op.latency.max, Duration::from_millis(100));
    assert_eq!(op.latency.mean, Duration::from_micros(50_500));
}

#[test]
fn snapshot_round_trips_through_json_and_prints_a_table() {
    let _ = reliability_core::observe("json_component", "display", || Err::<(), _>("refused"));
    let snapshot = reliability_core::snapshot();
    let json = snapshot.to_json();
    let back: MetricsSnapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snapshot);
    let table = snapshot.to_string();
    assert!(table.contains("json_component"), "{table}");
    assert!(table
        .lines()
        .any(|line| line.trim_start().starts_with("display")));
    let system = &snapshot.system;
    assert_eq!(
        system.calls,
        snapshot
            .components
            .iter()
            .flat_map(|c| &c.methods)
            .map(|m| m.calls)
            .sum::<u64>()
    );
    assert!((0.0..=1.0).contains(&system.success_rate));
}
