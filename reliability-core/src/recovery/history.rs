//! What each recovery did: sessions, their steps, and the bounded ring that keeps them.

use std::sync::Arc;
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

/// A session as the driver builds it and the history keeps it: names
/// borrowed from the call site, the error text shared with the steps that
/// failed with the same text, the first steps inline. It becomes a
/// [`RecoverySession`] only when the history is read.
///
/// Building the public session on every failure cost six allocations and
/// six frees (component, method, error, the steps, a step's target and
/// error): with the events' strings, about a fifth of the
/// `failure/reliable_escalate` bench in a `perf` profile.
#[derive(Debug)]
pub(crate) struct SessionRecord {
    pub(crate) component: &'static str,
    pub(crate) instance: Option<&'static str>,
    pub(crate) method: &'static str,
    pub(crate) category: ErrorCategory,
    pub(crate) error: Arc<str>,
    pub(crate) steps: Steps,
    pub(crate) outcome: RecoveryOutcome,
    pub(crate) recovered_by: Option<Strategy>,
    pub(crate) started_at: SystemTime,
    pub(crate) duration: Nanos,
    /// Set by the history: increases by one per session.
    pub(crate) id: u64,
}

/// A duration as the history keeps it: whole nanoseconds, in 8 bytes
/// instead of `Duration`'s 16 (it saturates after 584 years). A session is
/// moved a few times on its way into the history, which keeps 1,000 of
/// them: every byte is copied on each failure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Nanos(u64);

impl From<Duration> for Nanos {
    fn from(duration: Duration) -> Self {
        Nanos(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX))
    }
}

impl From<Nanos> for Duration {
    fn from(nanos: Nanos) -> Self {
        Duration::from_nanos(nanos.0)
    }
}

/// A step as the history keeps it (see [`SessionRecord`]).
#[derive(Debug, Clone)]
pub(crate) struct StepRecord {
    pub(crate) strategy: Strategy,
    pub(crate) target: &'static str,
    pub(crate) attempt: Option<u32>,
    pub(crate) rejected_by: Option<crate::recovery::limits::RejectReason>,
    pub(crate) delay: Nanos,
    pub(crate) outcome: StepOutcome,
    pub(crate) duration: Nanos,
    pub(crate) error: Option<Arc<str>>,
}

/// Steps kept inline.  Two cover an escalation or a fallback after the
/// first failure, a refusal and its fallback, one retry and its end; a
/// longer recovery spills the rest into a `Vec`.
const INLINE_STEPS: usize = 2;

/// A session's steps, in order: the first [`INLINE_STEPS`] in place.
#[derive(Debug, Default)]
pub(crate) struct Steps {
    inline: [Option<StepRecord>; INLINE_STEPS],
    spilled: Vec<StepRecord>,
}

impl Steps {
    pub(crate) fn push(&mut self, step: StepRecord) {
        match self.inline.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(step),
            None => self.spilled.push(step),
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &StepRecord> {
        self.inline.iter().flatten().chain(&self.spilled)
    }

    pub(crate) fn last(&self) -> Option<&StepRecord> {
        self.spilled
            .last()
            .or_else(|| self.inline.iter().rev().flatten().next())
    }
}

impl SessionRecord {
    /// The error of a step: the session's own text, shared, when it is
    /// the same (an escalation, a retry that failed alike), else a copy.
    pub(crate) fn share_error(&self, text: &str) -> Arc<str> {
        if *self.error == *text {
            Arc::clone(&self.error)
        } else {
            Arc::from(text)
        }
    }

    /// The public form.
    fn to_session(&self) -> RecoverySession {
        RecoverySession {
            id: self.id,
            component: self.component.to_owned(),
            instance: self.instance.map(str::to_owned),
            method: self.method.to_owned(),
            category: self.category,
            error: self.error.to_string(),
            steps: self.steps.iter().map(StepRecord::to_step).collect(),
            outcome: self.outcome,
            recovered_by: self.recovered_by,
            started_at: self.started_at,
            duration: self.duration.into(),
        }
    }
}

impl StepRecord {
    fn to_step(&self) -> RecoveryStep {
        RecoveryStep {
            strategy: self.strategy,
            target: self.target.to_owned(),
            attempt: self.attempt,
            rejected_by: self.rejected_by,
            delay: self.delay.into(),
            outcome: self.outcome,
            duration: self.duration.into(),
            error: self.error.as_deref().map(str::to_owned),
        }
    }
}

/// The most recent sessions, oldest first, at most `capacity` of them.
#[derive(Debug)]
pub(crate) struct History {
    /// A ring: once full, the oldest session is overwritten where it lies,
    /// so a new one is copied once (`VecDeque`'s `pop_front` moved the
    /// evicted one out first; with the copy in, 5 % of the
    /// `failure/reliable_escalate` bench).
    ring: Vec<SessionRecord>,
    /// The oldest session's index once the ring is full; 0 until then.
    oldest: usize,
    capacity: usize,
    next_id: u64,
}

/// The history's capacity unless set otherwise.
pub(crate) const DEFAULT_HISTORY_CAPACITY: usize = 1_000;

impl History {
    pub(crate) fn new(capacity: usize) -> Self {
        History {
            ring: Vec::new(),
            oldest: 0,
            capacity,
            next_id: 1,
        }
    }

    pub(crate) fn push(&mut self, mut session: SessionRecord) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if self.capacity == 0 {
            return id;
        }
        session.id = id;
        if self.ring.len() < self.capacity {
            self.ring.push(session);
        } else {
            self.ring[self.oldest] = session;
            self.oldest += 1;
            if self.oldest == self.ring.len() {
                self.oldest = 0;
            }
        }
        id
    }

    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        // Oldest first again, so the ring can grow at its end or lose its front.
        self.ring.rotate_left(self.oldest);
        self.oldest = 0;
        let excess = self.ring.len().saturating_sub(capacity);
        self.ring.drain(..excess);
        self.capacity = capacity;
    }

    pub(crate) fn sessions(&self) -> Vec<RecoverySession> {
        let (newer, older) = self.ring.split_at(self.oldest);
        older
            .iter()
            .chain(newer)
            .map(SessionRecord::to_session)
            .collect()
    }

    pub(crate) fn clear(&mut self) {
        self.ring.clear();
        self.oldest = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(method: &'static str) -> SessionRecord {
        SessionRecord {
            component: "c",
            instance: None,
            method,
            category: ErrorCategory::Network,
            error: "e".into(),
            steps: Steps::default(),
            outcome: RecoveryOutcome::Failed,
            recovered_by: None,
            started_at: SystemTime::UNIX_EPOCH,
            duration: Nanos::default(),
            id: 0,
        }
    }

    #[test]
    fn ring_keeps_the_newest_and_numbers_every_session() {
        let mut history = History::new(3);
        for method in ["0", "1", "2", "3", "4"] {
            history.push(session(method));
        }
        let kept = history.sessions();
        assert_eq!(
            kept.iter().map(|s| s.method.as_str()).collect::<Vec<_>>(),
            ["2", "3", "4"]
        );
        assert_eq!(kept.iter().map(|s| s.id).collect::<Vec<_>>(), [3, 4, 5]);
        history.set_capacity(4);
        history.push(session("5"));
        history.push(session("6"));
        let kept = history.sessions();
        assert_eq!(
            kept.iter().map(|s| s.method.as_str()).collect::<Vec<_>>(),
            ["3", "4", "5", "6"]
        );
        history.set_capacity(1);
        let kept = history.sessions();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].method, "6");
        history.set_capacity(0);
        assert_eq!(history.push(session("x")), 8);
        assert!(history.sessions().is_empty());
    }

    fn step(strategy: Strategy, error: Option<Arc<str>>) -> StepRecord {
        StepRecord {
            strategy,
            target: "get",
            attempt: Some(1),
            rejected_by: None,
            delay: Nanos::default(),
            outcome: StepOutcome::Failed,
            duration: Duration::from_millis(3).into(),
            error,
        }
    }

    #[test]
    fn a_session_is_kept_in_at_most_256_bytes() {
        // Moved on its way into the history, and 1,000 kept: see `Nanos`.
        assert!(std::mem::size_of::<SessionRecord>() <= 256);
    }

    #[test]
    fn steps_keep_their_order_inline_and_spilled() {
        let order = [
            Strategy::Retry,
            Strategy::Network,
            Strategy::Fallback,
            Strategy::Escalate,
        ];
        let mut steps = Steps::default();
        assert!(steps.last().is_none());
        for (n, strategy) in order.into_iter().enumerate() {
            steps.push(step(strategy, None));
            assert_eq!(steps.last().map(|s| s.strategy), Some(strategy));
            assert_eq!(steps.iter().count(), n + 1);
        }
        let kept: Vec<_> = steps.iter().map(|s| s.strategy).collect();
        assert_eq!(kept, order);
    }

    #[test]
    fn a_step_shares_the_sessions_text_when_it_is_the_same() {
        let mut record = session("get");
        record.error = "connection refused".into();
        let same = record.share_error("connection refused");
        assert!(Arc::ptr_eq(&same, &record.error));
        let other = record.share_error("timed out");
        assert!(!Arc::ptr_eq(&other, &record.error));
        assert_eq!(&*other, "timed out");
        record.steps.push(step(Strategy::Escalate, Some(same)));
        record.id = 7;
        let public = record.to_session();
        assert_eq!(public.id, 7);
        assert_eq!(public.steps[0].duration, Duration::from_millis(3));
        assert_eq!(public.error, "connection refused");
        assert_eq!(public.steps[0].error.as_deref(), Some("connection refused"));
        assert_eq!(public.steps[0].target, "get");
    }
}
