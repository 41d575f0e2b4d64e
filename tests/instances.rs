//! Instances: one type, many components. Each instance of a component has
//! its own health, circuit, budget and counts; the component's figures count
//! every instance's calls once.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reliability_core::{
    manager, recovery::RecoveryContext, reliable, CircuitOpen, CircuitState, ErrorCategory,
    HealthStatus, Instance, ReliabilityEvent,
};

#[derive(Debug, Clone, PartialEq)]
enum FetchError {
    Reset,
    Open,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Reset => f.write_str("connection reset by peer"),
            FetchError::Open => f.write_str("circuit open"),
        }
    }
}

impl std::error::Error for FetchError {}

impl From<CircuitOpen> for FetchError {
    fn from(_: CircuitOpen) -> Self {
        FetchError::Open
    }
}

/// A source whose host is up or down, with its own identity.
struct Source {
    up: bool,
    bodies_run: AtomicU32,
    reliability: Instance,
}

impl Source {
    fn new(host: &str, up: bool) -> Self {
        Source {
            up,
            bodies_run: AtomicU32::new(0),
            reliability: Instance::new(host),
        }
    }
}

#[reliable(
    component = "instances_source",
    instance = reliability,
    strategies = [circuit_breaker],
    open_after = 2,
    cool_down = "1h"
)]
impl Source {
    fn fetch(&self, name: &str) -> Result<String, FetchError> {
        self.bodies_run.fetch_add(1, Ordering::Relaxed);
        if self.up {
            Ok(format!("{name} from {}", self.reliability.id()))
        } else {
            Err(FetchError::Reset)
        }
    }

    /// Without `self`: reports to the component alone.
    fn describe() -> Result<&'static str, FetchError> {
        Ok("a source")
    }
}

#[test]
fn one_failing_instance_never_refuses_the_other() {
    let primary = Source::new("primary.example", false);
    let mirror = Source::new("mirror.example", true);
    for _ in 0..2 {
        assert_eq!(primary.fetch("m"), Err(FetchError::Reset));
    }
    // The primary's circuit is open: its body no longer runs.
    assert_eq!(primary.fetch("m"), Err(FetchError::Open));
    assert_eq!(primary.bodies_run.load(Ordering::Relaxed), 2);
    // The mirror's is closed, and it serves.
    for _ in 0..3 {
        assert_eq!(mirror.fetch("m"), Ok("m from mirror.example".to_owned()));
    }
    assert_eq!(mirror.bodies_run.load(Ordering::Relaxed), 3);
    assert_eq!(Source::describe(), Ok("a source"));

    let primary_health = manager()
        .instance_health("instances_source", "primary.example")
        .unwrap();
    let mirror_health = manager()
        .instance_health("instances_source", "mirror.example")
        .unwrap();
    assert_eq!(primary_health.instance.as_deref(), Some("primary.example"));
    assert_eq!(primary_health.circuit, Some(CircuitState::Open));
    // The refused call ended in an error too.
    assert_eq!(primary_health.consecutive_failures, 3);
    assert_eq!(mirror_health.circuit, Some(CircuitState::Closed));
    assert_eq!(mirror_health.status, HealthStatus::Healthy);
    assert_eq!(mirror_health.failures, 0);

    let snapshot = reliability_core::snapshot();
    let component = snapshot.component("instances_source").unwrap();
    let primary = component.instance("primary.example").unwrap();
    let mirror = component.instance("mirror.example").unwrap();
    let refused = primary.method("fetch").unwrap();
    assert_eq!(
        (refused.failures, refused.attempts, refused.rejected),
        (3, 2, 1)
    );
    assert_eq!(mirror.method("fetch").unwrap().successes, 3);
    assert!(mirror.method("describe").is_none());
    // The component counts each instance's calls once, and its own.
    let fetch = component.method("fetch").unwrap();
    assert_eq!((fetch.successes, fetch.failures, fetch.rejected), (3, 3, 1));
    assert_eq!(component.method("describe").unwrap().successes, 1);
    assert_eq!(component.instances.len(), 2);
}

struct Counter {
    reliability: Instance,
}

#[reliable(component = "instances_counter", instance = reliability)]
impl Counter {
    fn hit(&self, fail: bool) -> Result<(), FetchError> {
        if fail {
            Err(FetchError::Reset)
        } else {
            Ok(())
        }
    }

    async fn hit_async(&self) -> Result<(), FetchError> {
        Ok(())
    }
}

#[test]
fn two_instances_with_one_id_are_one_instance() {
    let a = Counter {
        reliability: Instance::new("shared"),
    };
    let b = Counter {
        reliability: Instance::new("shared"),
    };
    let c = Counter {
        reliability: a.reliability.clone(),
    };
    a.hit(false).unwrap();
    b.hit(true).unwrap_err();
    c.hit(false).unwrap();
    common::block_on(b.hit_async()).unwrap();
    let snapshot = reliability_core::snapshot();
    let component = snapshot.component("instances_counter").unwrap();
    let shared: Vec<_> = component
        .instances
        .iter()
        .filter(|i| i.id == "shared")
        .collect();
    assert_eq!(shared.len(), 1);
    let hit = shared[0].method("hit").unwrap();
    assert_eq!((hit.successes, hit.failures), (2, 1));
    assert_eq!(shared[0].method("hit_async").unwrap().successes, 1);
    assert_eq!(
        shared[0].health.last_error.as_deref(),
        Some("connection reset by peer")
    );
}

struct Threaded {
    reliability: Instance,
}

#[reliable(component = "instances_threads", instance = reliability)]
impl Threaded {
    fn work(&self, n: u64) -> Result<u64, FetchError> {
        if n.is_multiple_of(7) {
            Err(FetchError::Reset)
        } else {
            Ok(n)
        }
    }
}

#[test]
fn instance_and_component_totals_agree_under_eight_threads() {
    const THREADS: u64 = 8;
    const CALLS: u64 = 5_000;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                // Two threads per instance; each thread its own `Instance` value.
                let worker = Threaded {
                    reliability: Instance::new(format!("worker-{}", t % 4)),
                };
                for n in 0..CALLS {
                    let _ = worker.work(n);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let failures_per_thread = (0..CALLS).filter(|n| n.is_multiple_of(7)).count() as u64;
    let snapshot = reliability_core::snapshot();
    let component = snapshot.component("instances_threads").unwrap();
    assert_eq!(component.instances.len(), 4);
    let mut summed = (0, 0);
    for instance in &component.instances {
        let work = instance.method("work").unwrap();
        assert_eq!(work.calls, 2 * CALLS, "{}", instance.id);
        assert_eq!(work.failures, 2 * failures_per_thread, "{}", instance.id);
        assert_eq!(instance.health.calls, 2 * CALLS);
        summed.0 += work.calls;
        summed.1 += work.failures;
    }
    let work = component.method("work").unwrap();
    assert_eq!((work.calls, work.failures), summed);
    assert_eq!(work.calls, THREADS * CALLS);
    assert_eq!(component.health.calls, THREADS * CALLS);
}

struct Capped {
    reliability: Instance,
}

#[reliable(component = "instances_capped", instance = reliability)]
impl Capped {
    fn call(&self) -> Result<(), FetchError> {
        Ok(())
    }
}

#[test]
fn past_the_limit_instances_count_under_the_overflow_id_and_a_warning_is_emitted_once() {
    manager().set_component_instance_limit("instances_capped", 3);
    let events = Arc::new(Mutex::new(Vec::new()));
    let _subscription = {
        let events = Arc::clone(&events);
        manager().subscribe(move |event| {
            if let ReliabilityEvent::InstanceLimitReached { component, limit } = event {
                events.lock().unwrap().push((component.clone(), *limit));
            }
        })
    };
    for i in 0..10u64 {
        let capped = Capped {
            reliability: Instance::new(format!("tenant-{i}")),
        };
        for _ in 0..=i {
            capped.call().unwrap();
        }
    }
    let snapshot = reliability_core::snapshot();
    let component = snapshot.component("instances_capped").unwrap();
    let ids: Vec<&str> = component.instances.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(
        ids,
        ["tenant-0", "tenant-1", "tenant-2", Instance::OVERFLOW_ID]
    );
    // Nothing is lost: tenants 3..9 made 4 + 5 + ... + 10 calls.
    let overflow = component.instance(Instance::OVERFLOW_ID).unwrap();
    assert_eq!(
        overflow.method("call").unwrap().calls,
        (4..=10).sum::<u64>()
    );
    assert_eq!(
        component.method("call").unwrap().calls,
        (1..=10).sum::<u64>()
    );
    assert_eq!(
        *events.lock().unwrap(),
        [("instances_capped".to_owned(), 3)]
    );
}

#[test]
fn calls_made_outside_the_attribute_name_their_instance() {
    let parsed: Result<u8, std::num::ParseIntError> =
        reliability_core::observe_instance("instances_outside", "eu-1", "parse", || "x".parse());
    assert!(parsed.is_err());
    manager().record_instance(
        "instances_outside",
        "us-1",
        "parse",
        reliability_core::Outcome::Success,
        Duration::from_micros(5),
    );
    let eu = manager()
        .instance_health("instances_outside", "eu-1")
        .unwrap();
    let us = manager()
        .instance_health("instances_outside", "us-1")
        .unwrap();
    assert_eq!((eu.failures, us.successes), (1, 1));
    let component = manager().component_health("instances_outside").unwrap();
    assert_eq!((component.calls, component.failures), (2, 1));

    let error = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
    let action = manager().handle_instance_failure(
        "instances_outside",
        "eu-1",
        &error,
        &RecoveryContext::new(),
    );
    assert_eq!(action.category, ErrorCategory::Network);
}

struct Escalating {
    fail: bool,
    reliability: Instance,
}

#[reliable(component = "instances_escalating", instance = reliability, strategies = [escalate])]
impl Escalating {
    fn run(&self) -> Result<(), FetchError> {
        if self.fail {
            Err(FetchError::Reset)
        } else {
            Ok(())
        }
    }
}

#[test]
fn an_escalation_flags_its_instance_and_its_component_and_names_the_instance() {
    let bad = Escalating {
        fail: true,
        reliability: Instance::new("bad"),
    };
    let good = Escalating {
        fail: false,
        reliability: Instance::new("good"),
    };
    bad.run().unwrap_err();
    good.run().unwrap();
    let flagged = |id: &str| {
        manager()
            .instance_health("instances_escalating", id)
            .unwrap()
            .needs_attention
    };
    assert!(flagged("bad"));
    assert!(!flagged("good"));
    let component = || manager().component_health("instances_escalating").unwrap();
    assert!(component().needs_attention);
    let session = manager()
        .recovery_history()
        .into_iter()
        .rev()
        .find(|s| s.component == "instances_escalating")
        .unwrap();
    assert_eq!(session.instance.as_deref(), Some("bad"));
    assert!(manager().acknowledge_instance("instances_escalating", "bad"));
    assert!(!flagged("bad"));
    assert!(!component().needs_attention);
    assert!(!manager().acknowledge_instance("instances_escalating", "bad"));
}

/// Every kind of receiver reaches the instance, and recovery's steps run on
/// the same instance.
struct Mirror {
    fail_first: AtomicU32,
    reliability: Instance,
}

#[reliable(
    component = "instances_receivers",
    instance = reliability,
    strategies = [retry, fallback],
    max_attempts = 2,
    backoff = constant,
    base_delay = "0ms",
    fallback = cached
)]
impl Mirror {
    fn get(&self, key: u8) -> Result<u8, FetchError> {
        if self.fail_first.fetch_sub(1, Ordering::Relaxed) > 0 {
            Err(FetchError::Reset)
        } else {
            Ok(key)
        }
    }

    fn cached(&self, key: u8) -> Result<u8, FetchError> {
        Ok(key + 100)
    }

    #[reliable(no_recovery)]
    fn into_id(self) -> Result<String, FetchError> {
        Ok(self.reliability.id().to_owned())
    }

    #[reliable(no_recovery)]
    #[allow(clippy::boxed_local)] // the receiver is what is tested
    fn boxed(self: Box<Self>) -> Result<u8, FetchError> {
        Ok(1)
    }
}

#[test]
fn every_receiver_reaches_the_instance_and_recovery_stays_on_it() {
    let retried = Mirror {
        fail_first: AtomicU32::new(1),
        reliability: Instance::new("retried"),
    };
    assert_eq!(retried.get(1), Ok(1));
    let fell_back = Mirror {
        fail_first: AtomicU32::new(5),
        reliability: Instance::new("fell-back"),
    };
    assert_eq!(fell_back.get(1), Ok(101));
    assert_eq!(fell_back.into_id(), Ok("fell-back".to_owned()));
    let boxed = Box::new(Mirror {
        fail_first: AtomicU32::new(0),
        reliability: Instance::new("boxed"),
    });
    assert_eq!(boxed.boxed(), Ok(1));

    let snapshot = reliability_core::snapshot();
    let component = snapshot.component("instances_receivers").unwrap();
    let retried = component.instance("retried").unwrap();
    assert_eq!(retried.method("get").unwrap().attempts, 2);
    assert!(retried.method("cached").is_none());
    let fell_back = component.instance("fell-back").unwrap();
    assert_eq!(fell_back.method("cached").unwrap().successes, 1);
    assert_eq!(fell_back.method("into_id").unwrap().successes, 1);
    assert_eq!(fell_back.recovery.recovered, 1);
    assert_eq!(
        component
            .instance("boxed")
            .unwrap()
            .method("boxed")
            .unwrap()
            .successes,
        1
    );
    // The component's recovery counts its instances' sessions.
    assert_eq!(component.recovery.recovered, 2);
}

#[test]
fn an_instance_is_judged_by_its_component_thresholds() {
    use reliability_core::{Outcome, Thresholds};
    manager()
        .set_component_thresholds(
            "instances_thresholds",
            Thresholds::new().with_max_consecutive_failures(2),
        )
        .unwrap();
    let ms = Duration::from_millis(1);
    for _ in 0..2 {
        manager().record_instance("instances_thresholds", "a", "get", Outcome::Failure, ms);
    }
    let health = manager()
        .instance_health("instances_thresholds", "a")
        .unwrap();
    assert_eq!(health.status, HealthStatus::Unhealthy, "{health:?}");
}

/// A host with a mirror: its alternative is the mirror's own instance.
struct Host {
    up: bool,
    mirror: Option<Box<Host>>,
    reliability: Instance,
}

#[reliable(
    component = "instances_failover",
    instance = reliability,
    strategies = [circuit_breaker, alternatives],
    alternatives = [via_mirror],
    open_after = 2,
    cool_down = "1h"
)]
impl Host {
    fn get(&self) -> Result<String, FetchError> {
        if self.up {
            Ok(self.reliability.id().to_owned())
        } else {
            Err(FetchError::Reset)
        }
    }

    #[reliable(no_recovery)]
    fn via_mirror(&self) -> Result<String, FetchError> {
        match &self.mirror {
            Some(mirror) => mirror.get(),
            None => Err(FetchError::Reset),
        }
    }
}

#[test]
fn a_call_refused_by_its_instance_circuit_is_served_by_the_other_instance() {
    let primary = Host {
        up: false,
        mirror: Some(Box::new(Host {
            up: true,
            mirror: None,
            reliability: Instance::new("mirror"),
        })),
        reliability: Instance::new("primary"),
    };
    for _ in 0..4 {
        assert_eq!(primary.get(), Ok("mirror".to_owned()));
    }
    let snapshot = reliability_core::snapshot();
    let component = snapshot.component("instances_failover").unwrap();
    let primary = component.instance("primary").unwrap();
    let mirror = component.instance("mirror").unwrap();
    assert_eq!(primary.health.circuit, Some(CircuitState::Open));
    assert_eq!(mirror.health.circuit, Some(CircuitState::Closed));
    // Two attempts opened the circuit; the two calls after it were refused
    // and still served, by the mirror.
    let get = primary.method("get").unwrap();
    assert_eq!((get.attempts, get.rejected, get.successes), (2, 2, 4));
    assert_eq!(mirror.method("get").unwrap().successes, 4);
}
