//! What each recovery did: sessions, their steps, and the bounded ring that keeps them.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::classify::ErrorCategory;
use crate::recovery::strategy::Strategy;

/// How a recovery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryOutcome {
    /// A strategy produced a success; the caller got it.
    Recovered,
    /// Every strategy failed and the failure was escalated.
    Escalated,
    /// Every strategy failed (or none applied); the caller got the error.
    Failed,
}

/// How one step of a recovery went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// The step succeeded.
    Succeeded,
    /// The step failed.
    Failed,
    /// The circuit was open: the call did not run.
    Rejected,
}

impl StepOutcome {
    pub(crate) fn of(success: bool) -> Self {
        if success {
            StepOutcome::Succeeded
        } else {
            StepOutcome::Failed
        }
    }
}

/// One step of a recovery: a strategy tried once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RecoveryStep {
    /// The strategy. For a call refused before it ran (`rejected_by` set),
    /// what refused it: `circuit_breaker`, `bulkhead` or `rate_limit`.
    pub strategy: Strategy,
    /// The method the step called (the method itself, an alternative, the
    /// repair method or the fallback).
    pub target: String,
    /// The call's attempt number when the step ran (the first attempt is 1);
    /// `None` for a refused call, which made no attempt.
    pub attempt: Option<u32>,
    /// What refused the call, for a step whose outcome is `Rejected`.
    #[serde(default)]
    pub rejected_by: Option<crate::recovery::limits::RejectReason>,
    /// How long the step waited before it ran.
    pub delay: Duration,
    /// How it went.
    pub outcome: StepOutcome,
    /// How long it ran, the delay not included.
    pub duration: Duration,
    /// The step's error, truncated, when it failed.
    pub error: Option<String>,
}

/// One call's recovery, from its first failure to its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RecoverySession {
    /// Increases by one per session in this process.
    pub id: u64,
    /// The component.
    pub component: String,
    /// The instance, when the call was an instance's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The method called.
    pub method: String,
    /// The category of the failure that started the recovery.
    pub category: ErrorCategory,
    /// That failure's text, truncated to 256 bytes.
    pub error: String,
    /// Each strategy tried, in order.
    pub steps: Vec<RecoveryStep>,
    /// How it ended.
    pub outcome: RecoveryOutcome,
    /// The strategy that produced the success, when it recovered.
    pub recovered_by: Option<Strategy>,
    /// When the call began.
    pub started_at: SystemTime,
    /// How long the whole call took, waits included.
    pub duration: Duration,
}

/// The most recent sessions, oldest first, at most `capacity` of them.
#[derive(Debug)]
pub(crate) struct History {
    sessions: VecDeque<RecoverySession>,
    capacity: usize,
    next_id: u64,
}

/// The history's capacity unless set otherwise.
pub(crate) const DEFAULT_HISTORY_CAPACITY: usize = 1_000;

impl History {
    pub(crate) fn new(capacity: usize) -> Self {
        History {
            sessions: VecDeque::new(),
            capacity,
            next_id: 1,
        }
    }

    pub(crate) fn push(&mut self, mut session: RecoverySession) -> u64 {
        session.id = self.next_id;
        self.next_id += 1;
        if self.capacity == 0 {
            return session.id;
        }
        while self.sessions.len() >= self.capacity {
            self.sessions.pop_front();
        }
        let id = session.id;
        self.sessions.push_back(session);
        id
    }

    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        while self.sessions.len() > capacity {
            self.sessions.pop_front();
        }
    }

    pub(crate) fn sessions(&self) -> Vec<RecoverySession> {
        self.sessions.iter().cloned().collect()
    }

    pub(crate) fn clear(&mut self) {
        self.sessions.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(method: &str) -> RecoverySession {
        RecoverySession {
            id: 0,
            component: "c".into(),
            instance: None,
            method: method.into(),
            category: ErrorCategory::Network,
            error: "e".into(),
            steps: Vec::new(),
            outcome: RecoveryOutcome::Failed,
            recovered_by: None,
            started_at: SystemTime::UNIX_EPOCH,
            duration: Duration::ZERO,
        }
    }

    #[test]
    fn ring_keeps_the_newest_and_numbers_every_session() {
        let mut history = History::new(3);
        for i in 0..5 {
            history.push(session(&i.to_string()));
        }
        let kept = history.sessions();
        assert_eq!(
            kept.iter().map(|s| s.method.as_str()).collect::<Vec<_>>(),
            ["2", "3", "4"]
        );
        assert_eq!(kept.iter().map(|s| s.id).collect::<Vec<_>>(), [3, 4, 5]);
        history.set_capacity(1);
        assert_eq!(history.sessions().len(), 1);
        history.set_capacity(0);
        assert_eq!(history.push(session("x")), 6);
        assert!(history.sessions().is_empty());
    }
}
