//! A recovery that ends without another value gives the caller the last
//! value an operation produced: here the repair method fails, nothing else
//! applies, and the call returns its attempt's error (sync and async), with
//! the session escalated after the failed repair.

mod common;

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

use common::block_on;
use reliability_core::{
    manager, recovery::RecoveryOutcome, recovery::RecoverySession, recovery::StepOutcome, reliable,
    Classify, ErrorCategory, Strategy,
};

#[derive(Debug, Clone, PartialEq)]
enum StoreError {
    Corrupt,
    Locked,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl Classify for StoreError {
    fn category(&self) -> ErrorCategory {
        match self {
            StoreError::Corrupt => ErrorCategory::Validation,
            StoreError::Locked => ErrorCategory::ResourceExhausted,
        }
    }
}

#[derive(Default)]
struct Store {
    reads: AtomicU32,
    rebuilds: AtomicU32,
}

#[reliable(component = "end_sync", strategies = [repair, escalate], repair = rebuild)]
impl Store {
    fn read(&self) -> Result<u32, StoreError> {
        self.reads.fetch_add(1, SeqCst);
        Err(StoreError::Corrupt)
    }

    fn rebuild(&self) -> Result<(), StoreError> {
        self.rebuilds.fetch_add(1, SeqCst);
        Err(StoreError::Locked)
    }
}

#[derive(Default)]
struct AsyncStore {
    reads: AtomicU32,
    rebuilds: AtomicU32,
}

#[reliable(component = "end_async", strategies = [repair, escalate], repair = rebuild)]
impl AsyncStore {
    async fn read(&self) -> Result<u32, StoreError> {
        self.reads.fetch_add(1, SeqCst);
        Err(StoreError::Corrupt)
    }

    async fn rebuild(&self) -> Result<(), StoreError> {
        self.rebuilds.fetch_add(1, SeqCst);
        Err(StoreError::Locked)
    }
}

/// The one session of `component`.
fn only_session(component: &str) -> RecoverySession {
    let mut sessions: Vec<_> = manager()
        .recovery_history()
        .into_iter()
        .filter(|s| s.component == component)
        .collect();
    assert_eq!(sessions.len(), 1, "sessions of {component}: {sessions:?}");
    sessions.remove(0)
}

fn assert_escalated_after_the_repair(component: &str) {
    let session = only_session(component);
    assert_eq!(session.outcome, RecoveryOutcome::Escalated);
    let steps: Vec<_> = session
        .steps
        .iter()
        .map(|s| (s.strategy, s.outcome, s.error.as_deref()))
        .collect();
    assert_eq!(
        steps,
        [
            (Strategy::Repair, StepOutcome::Failed, Some("Locked")),
            (Strategy::Escalate, StepOutcome::Failed, Some("Corrupt")),
        ]
    );
}

#[test]
fn a_failed_repair_ends_the_call_with_its_attempts_error() {
    let store = Store::default();
    assert_eq!(store.read(), Err(StoreError::Corrupt));
    assert_eq!(
        store.reads.load(SeqCst),
        1,
        "no re-run after a failed repair"
    );
    assert_eq!(store.rebuilds.load(SeqCst), 1);
    assert_escalated_after_the_repair("end_sync");
}

#[test]
fn a_failed_repair_ends_an_async_call_with_its_attempts_error() {
    let store = AsyncStore::default();
    assert_eq!(block_on(store.read()), Err(StoreError::Corrupt));
    assert_eq!(
        store.reads.load(SeqCst),
        1,
        "no re-run after a failed repair"
    );
    assert_eq!(store.rebuilds.load(SeqCst), 1);
    assert_escalated_after_the_repair("end_async");
}
