//! What every component and every recovery is handed, instead of reaching
//! for a global: the shared policy, the event listeners and the bounded
//! history of recovery sessions.

use parking_lot::Mutex;

use super::events::{Listeners, ReliabilityEvent};
use super::policy::Policy;
use crate::recovery::history::{History, RecoverySession, SessionRecord, DEFAULT_HISTORY_CAPACITY};

#[derive(Debug)]
pub(crate) struct Env {
    pub(crate) policy: Policy,
    pub(crate) listeners: Listeners,
    history: Mutex<History>,
}

impl Default for Env {
    fn default() -> Self {
        Env {
            policy: Policy::default(),
            listeners: Listeners::default(),
            history: Mutex::new(History::new(DEFAULT_HISTORY_CAPACITY)),
        }
    }
}

impl Env {
    /// Emits an event built by `event`, if anybody would see it.
    pub(crate) fn emit(&self, event: impl FnOnce() -> ReliabilityEvent) {
        self.listeners.emit_with(event);
    }

    pub(crate) fn push_session(&self, session: SessionRecord) {
        self.history.lock().push(session);
    }

    pub(crate) fn sessions(&self) -> Vec<RecoverySession> {
        self.history.lock().sessions()
    }

    pub(crate) fn set_history_capacity(&self, capacity: usize) {
        self.history.lock().set_capacity(capacity);
    }

    pub(crate) fn clear_history(&self) {
        self.history.lock().clear();
    }
}
