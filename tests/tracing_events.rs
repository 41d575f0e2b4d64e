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

/// Collects every event; spans are not used by the library.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Captured>>>);

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
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
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
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
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

#[test]
fn escalation_and_unhealthy_health_are_error_events_with_fields() {
    let collector = Collector::default();
    tracing::subscriber::set_global_default(collector.clone()).unwrap();
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
        .find(|e| e.field("status") == Some("escalated"))
        .expect("an escalation event");
    assert_eq!(escalated.level, Level::ERROR);
    assert_eq!(escalated.field("component"), Some("traced_vault"));
    assert_eq!(escalated.field("method"), Some("open"));
    assert_eq!(escalated.field("category"), Some("permission"));
    assert_eq!(escalated.field("strategy"), Some("escalate"));
    let unhealthy = ours
        .iter()
        .find(|e| e.field("status") == Some("unhealthy"))
        .expect("a health event");
    assert_eq!(unhealthy.level, Level::ERROR);
    assert_eq!(unhealthy.field("component"), Some("traced_vault"));
}
