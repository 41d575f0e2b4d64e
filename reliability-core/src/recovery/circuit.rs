//! A component's circuit breaker: closed → open → half-open → closed.
//!
//! The closed state is checked with one atomic load. With a failure-rate
//! rule, every attempt also writes one slot of a ring of outcomes (lock
//! free); transitions take a short lock.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::time::Instant;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::recovery::strategy::CircuitConfig;

/// The state of a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    /// Calls go through.
    Closed,
    /// Calls are rejected without running.
    Open,
    /// A few probe calls go through to test whether the component is back.
    HalfOpen,
}

impl CircuitState {
    /// The snake_case name used in reports and exports.
    pub const fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }

    /// 0 closed, 1 open, 2 half open: the value exported as a gauge.
    pub const fn as_number(self) -> u8 {
        match self {
            CircuitState::Closed => 0,
            CircuitState::Open => 1,
            CircuitState::HalfOpen => 2,
        }
    }

    fn from_number(n: u8) -> Self {
        match n {
            1 => CircuitState::Open,
            2 => CircuitState::HalfOpen,
            _ => CircuitState::Closed,
        }
    }
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an attempt may run, and in what role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Permit {
    Normal,
    Probe,
    Rejected,
}

const MAX_WINDOW: usize = 64;

pub(crate) struct CircuitBreaker {
    config: CircuitConfig,
    state: AtomicU8,
    consecutive: AtomicU32,
    cursor: AtomicU64,
    ring: [AtomicU8; MAX_WINDOW],
    failures_in_ring: AtomicU32,
    transitions: Mutex<Transitions>,
}

#[derive(Debug, Default)]
struct Transitions {
    opened_at: Option<Instant>,
    probes_started: u32,
    probes_succeeded: u32,
    times_opened: u64,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("state", &self.state())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl CircuitBreaker {
    pub(crate) fn new(config: CircuitConfig) -> Self {
        CircuitBreaker {
            config,
            state: AtomicU8::new(0),
            consecutive: AtomicU32::new(0),
            cursor: AtomicU64::new(0),
            ring: [const { AtomicU8::new(0) }; MAX_WINDOW],
            failures_in_ring: AtomicU32::new(0),
            transitions: Mutex::new(Transitions::default()),
        }
    }

    #[inline(always)]
    pub(crate) fn state(&self) -> CircuitState {
        CircuitState::from_number(self.state.load(Relaxed))
    }

    /// Asks to run an attempt at `now`. Returns the permit and, if the state
    /// changed (open → half open), the new state.
    pub(crate) fn acquire(&self, now: Instant) -> (Permit, Option<CircuitState>) {
        if self.state() == CircuitState::Closed {
            return (Permit::Normal, None);
        }
        let mut t = self.transitions.lock();
        match self.state() {
            CircuitState::Closed => (Permit::Normal, None),
            CircuitState::Open => {
                let cooled = t
                    .opened_at
                    .is_none_or(|at| now.saturating_duration_since(at) >= self.config.cool_down());
                if !cooled {
                    return (Permit::Rejected, None);
                }
                self.state
                    .store(CircuitState::HalfOpen.as_number(), Relaxed);
                t.probes_started = 1;
                t.probes_succeeded = 0;
                (Permit::Probe, Some(CircuitState::HalfOpen))
            }
            CircuitState::HalfOpen => {
                if t.probes_started < self.config.half_open_probes() {
                    t.probes_started += 1;
                    (Permit::Probe, None)
                } else {
                    (Permit::Rejected, None)
                }
            }
        }
    }

    /// Records how an attempt ended; returns the new state if it changed.
    pub(crate) fn record(
        &self,
        permit: Permit,
        success: bool,
        now: Instant,
    ) -> Option<CircuitState> {
        match permit {
            Permit::Rejected => None,
            Permit::Probe => {
                let mut t = self.transitions.lock();
                if self.state() != CircuitState::HalfOpen {
                    return None;
                }
                if !success {
                    return Some(self.open(&mut t, now));
                }
                t.probes_succeeded += 1;
                if t.probes_succeeded >= self.config.half_open_probes() {
                    self.clear_counts();
                    self.state.store(CircuitState::Closed.as_number(), Relaxed);
                    return Some(CircuitState::Closed);
                }
                None
            }
            Permit::Normal => {
                let consecutive = if success {
                    if self.consecutive.load(Relaxed) != 0 {
                        self.consecutive.store(0, Relaxed);
                    }
                    0
                } else {
                    self.consecutive.fetch_add(1, Relaxed) + 1
                };
                let rate_tripped = self.record_in_ring(success);
                let count_tripped = !success
                    && self
                        .config
                        .open_after()
                        .is_some_and(|limit| consecutive >= limit);
                if !(rate_tripped || count_tripped) {
                    return None;
                }
                let mut t = self.transitions.lock();
                if self.state() != CircuitState::Closed {
                    return None;
                }
                Some(self.open(&mut t, now))
            }
        }
    }

    /// Records a success of an attempt made with [`Permit::Normal`], like
    /// `record(Permit::Normal, true, now)`, but reads the clock only when
    /// the success still leaves the failure rate at its limit (the circuit
    /// opens): the success path of a call with a circuit breaker reads no clock.
    #[inline(always)]
    pub(crate) fn record_normal_success(
        &self,
        now: impl FnOnce() -> Instant,
    ) -> Option<CircuitState> {
        if self.consecutive.load(Relaxed) != 0 {
            self.consecutive.store(0, Relaxed);
        }
        self.config.failure_rate()?;
        self.ring_success(now)
    }

    /// A success written into the ring of a failure-rate rule.
    #[inline(never)]
    fn ring_success(&self, now: impl FnOnce() -> Instant) -> Option<CircuitState> {
        if !self.record_in_ring(true) {
            return None;
        }
        let mut t = self.transitions.lock();
        if self.state() != CircuitState::Closed {
            return None;
        }
        Some(self.open(&mut t, now()))
    }

    /// Writes the outcome into the ring; returns whether the failure rate is reached.
    fn record_in_ring(&self, success: bool) -> bool {
        let Some(threshold) = self.config.failure_rate() else {
            return false;
        };
        let window = (self.config.window() as usize).clamp(1, MAX_WINDOW);
        let position = self.cursor.fetch_add(1, Relaxed);
        let slot = &self.ring[(position % window as u64) as usize];
        // 0: empty, 1: success, 2: failure. Each swap returns exactly what it
        // replaced, so the failure count matches the ring once writers settle.
        let new = if success { 1 } else { 2 };
        let old = slot.swap(new, Relaxed);
        let failures = match (old == 2, new == 2) {
            (false, true) => self.failures_in_ring.fetch_add(1, Relaxed) + 1,
            (true, false) => self.failures_in_ring.fetch_sub(1, Relaxed) - 1,
            _ => self.failures_in_ring.load(Relaxed),
        };
        let filled = (position + 1).min(window as u64);
        filled >= u64::from(self.config.min_calls())
            && f64::from(failures) / filled as f64 >= threshold
    }

    fn open(&self, t: &mut Transitions, now: Instant) -> CircuitState {
        t.opened_at = Some(now);
        t.probes_started = 0;
        t.probes_succeeded = 0;
        t.times_opened += 1;
        self.state.store(CircuitState::Open.as_number(), Relaxed);
        CircuitState::Open
    }

    fn clear_counts(&self) {
        self.consecutive.store(0, Relaxed);
        for slot in &self.ring {
            slot.store(0, Relaxed);
        }
        self.failures_in_ring.store(0, Relaxed);
        self.cursor.store(0, Relaxed);
    }

    /// Closes the circuit and forgets everything (for `reset`).
    pub(crate) fn reset(&self) {
        let mut t = self.transitions.lock();
        *t = Transitions::default();
        self.clear_counts();
        self.state.store(CircuitState::Closed.as_number(), Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn breaker(config: CircuitConfig) -> CircuitBreaker {
        CircuitBreaker::new(config)
    }

    #[test]
    fn opens_after_consecutive_failures_and_recovers_through_half_open() {
        let t0 = Instant::now();
        let cb = breaker(
            CircuitConfig::new()
                .with_open_after(Some(3))
                .with_cool_down(Duration::from_secs(10)),
        );
        for _ in 0..2 {
            assert_eq!(cb.acquire(t0).0, Permit::Normal);
            assert_eq!(cb.record(Permit::Normal, false, t0), None);
        }
        // A success in between resets the run.
        assert_eq!(cb.record(Permit::Normal, true, t0), None);
        for _ in 0..2 {
            assert_eq!(cb.record(Permit::Normal, false, t0), None);
        }
        assert_eq!(
            cb.record(Permit::Normal, false, t0),
            Some(CircuitState::Open)
        );
        assert_eq!(cb.acquire(t0 + Duration::from_secs(9)).0, Permit::Rejected);
        // Cooled down: one probe, others rejected meanwhile.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(
            cb.acquire(later),
            (Permit::Probe, Some(CircuitState::HalfOpen))
        );
        assert_eq!(cb.acquire(later).0, Permit::Rejected);
        assert_eq!(
            cb.record(Permit::Probe, true, later),
            Some(CircuitState::Closed)
        );
        assert_eq!(cb.state(), CircuitState::Closed);
    }

    #[test]
    fn a_failed_probe_opens_again() {
        let t0 = Instant::now();
        let cb = breaker(
            CircuitConfig::new()
                .with_open_after(Some(1))
                .with_cool_down(Duration::from_secs(1)),
        );
        assert_eq!(
            cb.record(Permit::Normal, false, t0),
            Some(CircuitState::Open)
        );
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(cb.acquire(t1).0, Permit::Probe);
        assert_eq!(
            cb.record(Permit::Probe, false, t1),
            Some(CircuitState::Open)
        );
        // The cool-down starts again from the failed probe.
        assert_eq!(
            cb.acquire(t1 + Duration::from_millis(999)).0,
            Permit::Rejected
        );
        assert_eq!(cb.acquire(t1 + Duration::from_secs(1)).0, Permit::Probe);
    }

    #[test]
    fn several_probes_must_all_succeed() {
        let t0 = Instant::now();
        let cb = breaker(
            CircuitConfig::new()
                .with_open_after(Some(1))
                .with_cool_down(Duration::ZERO)
                .with_half_open_probes(2),
        );
        cb.record(Permit::Normal, false, t0);
        assert_eq!(cb.acquire(t0).0, Permit::Probe);
        assert_eq!(cb.acquire(t0).0, Permit::Probe);
        assert_eq!(cb.acquire(t0).0, Permit::Rejected);
        assert_eq!(cb.record(Permit::Probe, true, t0), None);
        assert_eq!(
            cb.record(Permit::Probe, true, t0),
            Some(CircuitState::Closed)
        );
    }

    #[test]
    fn failure_rate_over_a_window() {
        let t0 = Instant::now();
        let cb = breaker(
            CircuitConfig::new()
                .with_open_after(None)
                .with_failure_rate(Some(0.5))
                .with_window(10)
                .with_min_calls(4),
        );
        // Alternating outcomes stay at 50 % only once 4 calls are in.
        assert_eq!(cb.record(Permit::Normal, false, t0), None);
        assert_eq!(cb.record(Permit::Normal, true, t0), None);
        assert_eq!(cb.record(Permit::Normal, true, t0), None);
        assert_eq!(cb.record(Permit::Normal, true, t0), None);
        for _ in 0..6 {
            assert_eq!(cb.record(Permit::Normal, true, t0), None);
        }
        // The window holds one failure and nine successes. Four more failures
        // (the first replaces the old one) make 40 %, the fifth 50 %.
        for _ in 0..4 {
            assert_eq!(cb.record(Permit::Normal, false, t0), None);
        }
        assert_eq!(
            cb.record(Permit::Normal, false, t0),
            Some(CircuitState::Open)
        );
    }
}
