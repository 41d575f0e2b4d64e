//! Every event is also a `tracing` event with target `reliability` and
//! structured fields, at the level its severity calls for. A binary of its
//! own: it installs the global subscriber.

use std::fmt;
use std::sync::{Arc, Mutex};

use reliability_core::{manager, reliable, Classify, ErrorCategory, ManualClock};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

#[derive(Debug, Clone)]
struct Captured {
    level: Level,
    target: String,
    fields: Vec<(String, String)>,
}

impl Captured {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Collects every event, and the spans' names, entries and exits.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Captured>>>, Arc<Mutex<Spans>>);

#[derive(Default)]
struct Spans {
    opened: Vec<(String, Vec<(String, String)>)>,
    entered: u64,
    exited: u64,
}

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
}

impl Subscriber for Collector {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let mut fields = Vec::new();
        attributes.record(&mut Fields(&mut fields));
        let mut spans = self.1.lock().unwrap();
        spans
            .opened
            .push((attributes.metadata().name().to_owned(), fields));
        Id::from_u64(spans.opened.len() as u64)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Vec::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            fields,
        });
    }
    fn enter(&self, _: &Id) {
        self.1.lock().unwrap().entered += 1;
    }
    fn exit(&self, _: &Id) {
        self.1.lock().unwrap().exited += 1;
    }
}

#[derive(Debug)]
struct Denied;

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("permission denied")
    }
}

impl Classify for Denied {
    fn category(&self) -> ErrorCategory {
        ErrorCategory::Permission
    }
}

struct Vault;

#[reliable(component = "traced_vault", strategies = [escalate], thresholds(max_consecutive_failures = 1))]
impl Vault {
    fn open(&self) -> Result<(), Denied> {
        Err(Denied)
    }
}

/// The tests share the global subscriber and the call-span setting.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn collector() -> Collector {
    static COLLECTOR: std::sync::OnceLock<Collector> = std::sync::OnceLock::new();
    COLLECTOR
        .get_or_init(|| {
            let collector = Collector::default();
            tracing::subscriber::set_global_default(collector.clone()).unwrap();
            collector
        })
        .clone()
}

struct Spanned;

#[reliable(component = "traced_spans")]
impl Spanned {
    fn sync_call(&self) -> u8 {
        1
    }

    async fn async_call(&self) -> u8 {
        2
    }
}

#[test]
fn call_spans_are_off_by_default_and_entered_when_on() {
    let _turn = serial();
    let collector = collector();
    let spans_named = |collector: &Collector| {
        collector
            .1
            .lock()
            .unwrap()
            .opened
            .iter()
            .filter(|(name, fields)| {
                name == "reliable_call"
                    && fields.contains(&("component".to_owned(), "traced_spans".to_owned()))
            })
            .count()
    };
    Spanned.sync_call();
    assert_eq!(spans_named(&collector), 0);
    manager().set_call_spans(true);
    Spanned.sync_call();
    let waker = std::task::Waker::noop();
    let mut context = std::task::Context::from_waker(waker);
    let mut future = std::pin::pin!(Spanned.async_call());
    assert!(std::future::Future::poll(future.as_mut(), &mut context).is_ready());
    manager().set_call_spans(false);
    assert_eq!(spans_named(&collector), 2);
    let spans = collector.1.lock().unwrap();
    assert!(spans.entered >= 2);
    assert_eq!(spans.entered, spans.exited, "every entry is exited");
}

#[test]
fn escalation_and_unhealthy_health_are_error_events_with_fields() {
    let _turn = serial();
    let collector = collector();
    manager().set_clock(Arc::new(ManualClock::new()));
    assert!(Vault.open().is_err());
    manager().check_health();
    let events = collector.0.lock().unwrap().clone();
    let ours: Vec<&Captured> = events
        .iter()
        .filter(|e| e.target == "reliability")
        .collect();
    let escalated = ours
        .iter()
        .find(|e| {
            e.field("status") == Some("escalated") && e.field("component") == Some("traced_vault")
        })
        .expect("an escalation event");
    assert_eq!(escalated.level, Level::ERROR);
    assert_eq!(escalated.field("component"), Some("traced_vault"));
    assert_eq!(escalated.field("method"), Some("open"));
    assert_eq!(escalated.field("category"), Some("permission"));
    assert_eq!(escalated.field("strategy"), Some("escalate"));
    let unhealthy = ours
        .iter()
        .find(|e| {
            e.field("status") == Some("unhealthy") && e.field("component") == Some("traced_vault")
        })
        .expect("a health event");
    assert_eq!(unhealthy.level, Level::ERROR);
    assert_eq!(unhealthy.field("component"), Some("traced_vault"));
}

struct Limited;

#[reliable(component = "traced_limits", fallback = shed)]
impl Limited {
    #[reliable(rate_limit(per_second = 1, burst = 1))]
    fn call(&self) -> Result<u8, Denied> {
        Ok(1)
    }

    #[reliable(skip)]
    fn shed(&self) -> Result<u8, Denied> {
        Ok(0)
    }
}

impl Limited {
    async fn shed_async(&self) -> Result<u8, Denied> {
        Ok(0)
    }
}

#[reliable(component = "traced_limits_async", fallback = shed_async)]
impl Limited {
    #[reliable(timeout = "1s")]
    async fn stall_async(&self) -> Result<u8, Denied> {
        std::future::pending::<()>().await;
        Ok(1)
    }
}

#[test]
fn refusals_and_timeouts_are_events_with_their_reason() {
    let _turn = serial();
    let collector = collector();
    // Not held: a delay is over as soon as it is made, so a pending
    // attempt times out at its first poll.
    manager().set_clock(Arc::new(ManualClock::new()));
    assert!(matches!(Limited.call(), Ok(1)));
    assert!(
        matches!(Limited.call(), Ok(0)),
        "no token: the fallback answers"
    );
    let waker = std::task::Waker::noop();
    let mut context = std::task::Context::from_waker(waker);
    let mut future = std::pin::pin!(Limited.stall_async());
    let polled = std::future::Future::poll(future.as_mut(), &mut context);
    assert!(matches!(polled, std::task::Poll::Ready(Ok(0))));
    let events = collector.0.lock().unwrap().clone();
    let rejected = events
        .iter()
        .find(|e| {
            e.field("component") == Some("traced_limits") && e.field("status") == Some("rejected")
        })
        .expect("a rejection event");
    assert_eq!(rejected.field("reason"), Some("rate_limited"));
    assert_eq!(rejected.field("method"), Some("call"));
    let timed_out = events
        .iter()
        .find(|e| e.field("status") == Some("timed_out"))
        .expect("a timeout event");
    assert_eq!(timed_out.level, Level::WARN);
    assert_eq!(timed_out.field("component"), Some("traced_limits_async"));
    assert_eq!(timed_out.field("timeout_ms"), Some("1000"));
}

struct InstanceVault {
    reliability: reliability_core::Instance,
}

#[reliable(component = "traced_instances", instance = reliability, strategies = [escalate])]
impl InstanceVault {
    fn open(&self) -> Result<(), Denied> {
        Err(Denied)
    }
}

#[test]
fn an_instance_call_names_its_instance_in_its_span_and_events() {
    let _turn = serial();
    let collector = collector();
    let vault = InstanceVault {
        reliability: reliability_core::Instance::new("vault-7"),
    };
    manager().set_call_spans(true);
    assert!(vault.open().is_err());
    manager().set_call_spans(false);
    let spans = collector.1.lock().unwrap().opened.clone();
    assert!(
        spans.iter().any(|(name, fields)| name == "reliable_call"
            && fields.contains(&("component".to_owned(), "traced_instances".to_owned()))
            && fields.contains(&("instance".to_owned(), "vault-7".to_owned()))),
        "{spans:?}"
    );
    let events = collector.0.lock().unwrap().clone();
    let escalated = events
        .iter()
        .find(|e| {
            e.field("component") == Some("traced_instances")
                && e.field("status") == Some("escalated")
        })
        .expect("an escalation event");
    assert_eq!(escalated.field("instance"), Some("vault-7"));
}
