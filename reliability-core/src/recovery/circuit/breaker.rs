//! The breaker: the closed state is one atomic load, outcomes go into the
//! lock-free [`Ring`] and a run counter, and transitions take a short lock.
//!
//! Each half-open spell has a number, and a probe carries the number of the
//! spell that admitted it, so a late result of an earlier spell changes
//! nothing. Transitions are queued under the lock and handed to listeners
//! in that order by one thread at a time (`publish`).

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use super::config::CircuitConfig;
use super::ring::Ring;
use super::state::CircuitState;
use crate::sync::atomic::{AtomicU32, AtomicU8, Ordering::Relaxed};
use crate::sync::Mutex;

/// Whether an attempt may run, and in what role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Permit {
    /// The circuit was closed.
    Normal,
    /// One of the probes of the half-open spell with this number.
    Probe(u64),
    /// The circuit refused the attempt.
    Rejected,
}

impl Permit {
    pub(crate) fn is_probe(self) -> bool {
        matches!(self, Permit::Probe(_))
    }
}

pub(crate) struct CircuitBreaker {
    config: CircuitConfig,
    state: AtomicU8,
    consecutive: AtomicU32,
    ring: Ring,
    transitions: Mutex<Transitions>,
    /// Held by the thread handing queued transitions to listeners.
    publishing: Mutex<()>,
}

#[derive(Debug, Default)]
struct Transitions {
    opened_at: Option<Instant>,
    /// The current (or last) half-open spell.
    spell: u64,
    probes_started: u32,
    probes_succeeded: u32,
    times_opened: u64,
    /// Transitions not yet handed to listeners, oldest first.
    unpublished: VecDeque<CircuitState>,
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
            state: AtomicU8::new(CircuitState::Closed.as_number()),
            consecutive: AtomicU32::new(0),
            ring: Ring::new(config.window()),
            transitions: Mutex::new(Transitions::default()),
            publishing: Mutex::new(()),
        }
    }

    #[inline(always)]
    pub(crate) fn state(&self) -> CircuitState {
        CircuitState::from_number(self.state.load(Relaxed))
    }

    /// Asks to run an attempt at `now`. A transition it makes (open → half
    /// open) reaches `publish`, in order with every other.
    pub(crate) fn acquire(&self, now: Instant, publish: impl Fn(CircuitState)) -> Permit {
        if self.state() == CircuitState::Closed {
            return Permit::Normal;
        }
        let mut t = self.transitions.lock();
        match self.state() {
            CircuitState::Closed => return Permit::Normal,
            CircuitState::HalfOpen if t.probes_started < self.config.half_open_probes() => {
                t.probes_started += 1;
                return Permit::Probe(t.spell);
            }
            CircuitState::HalfOpen => return Permit::Rejected,
            CircuitState::Open => {
                let cooled = t
                    .opened_at
                    .is_none_or(|at| now.saturating_duration_since(at) >= self.config.cool_down());
                if !cooled {
                    return Permit::Rejected;
                }
            }
        }
        t.spell = t.spell.wrapping_add(1);
        t.probes_started = 1;
        t.probes_succeeded = 0;
        self.transition(&mut t, CircuitState::HalfOpen);
        let permit = Permit::Probe(t.spell);
        drop(t);
        self.publish(publish);
        permit
    }

    /// Records how an attempt ended. A transition it makes reaches
    /// `publish`, in order with every other.
    pub(crate) fn record(
        &self,
        permit: Permit,
        success: bool,
        now: Instant,
        publish: impl Fn(CircuitState),
    ) {
        let changed = match permit {
            Permit::Rejected => false,
            Permit::Probe(spell) => self.record_probe(spell, success, now),
            Permit::Normal => {
                let consecutive = if success {
                    self.clear_run();
                    0
                } else {
                    self.consecutive.fetch_add(1, Relaxed).saturating_add(1)
                };
                let rate_reached = match self.config.failure_rate() {
                    Some(rate) => self
                        .ring
                        .push(!success)
                        .reaches(rate, self.config.min_calls()),
                    None => false,
                };
                let run_reached = !success
                    && self
                        .config
                        .open_after()
                        .is_some_and(|limit| consecutive >= limit);
                (rate_reached || run_reached) && self.open_if_closed(now)
            }
        };
        if changed {
            self.publish(publish);
        }
    }

    /// Records a success of an attempt made with [`Permit::Normal`], like
    /// `record(Permit::Normal, true, ..)`, but reads the clock only when the
    /// circuit opens: the success path of a call with a circuit breaker
    /// reads no clock.
    #[inline(always)]
    pub(crate) fn record_normal_success(
        &self,
        now: impl FnOnce() -> Instant,
        publish: impl Fn(CircuitState),
    ) {
        self.clear_run();
        if let Some(rate) = self.config.failure_rate() {
            self.ring_success(rate, now, publish);
        }
    }

    #[inline(always)]
    fn clear_run(&self) {
        if self.consecutive.load(Relaxed) != 0 {
            self.consecutive.store(0, Relaxed);
        }
    }

    /// A success written into the ring of a failure-rate rule: it opens the
    /// circuit only while the window fills, as the share it leaves may
    /// still reach the rate.
    #[inline(never)]
    fn ring_success(
        &self,
        rate: f64,
        now: impl FnOnce() -> Instant,
        publish: impl Fn(CircuitState),
    ) {
        if self.ring.push(false).reaches(rate, self.config.min_calls())
            && self.open_if_closed(now())
        {
            self.publish(publish);
        }
    }

    fn record_probe(&self, spell: u64, success: bool, now: Instant) -> bool {
        let mut t = self.transitions.lock();
        if self.state() != CircuitState::HalfOpen || t.spell != spell {
            return false;
        }
        if !success {
            self.open(&mut t, now);
            return true;
        }
        t.probes_succeeded += 1;
        if t.probes_succeeded < self.config.half_open_probes() {
            return false;
        }
        self.clear_counts();
        self.transition(&mut t, CircuitState::Closed);
        true
    }

    fn open_if_closed(&self, now: Instant) -> bool {
        let mut t = self.transitions.lock();
        if self.state() != CircuitState::Closed {
            return false;
        }
        self.open(&mut t, now);
        true
    }

    fn open(&self, t: &mut Transitions, now: Instant) {
        t.opened_at = Some(now);
        t.probes_started = 0;
        t.probes_succeeded = 0;
        t.times_opened = t.times_opened.saturating_add(1);
        self.transition(t, CircuitState::Open);
    }

    /// Under the lock: the new state, and its place in the queue to listeners.
    fn transition(&self, t: &mut Transitions, state: CircuitState) {
        self.state.store(state.as_number(), Relaxed);
        t.unpublished.push_back(state);
    }

    /// Hands every queued transition to `publish`, oldest first. One thread
    /// publishes at a time, outside the transitions' lock (a listener may
    /// call the component again); a thread that finds another publishing
    /// leaves its transitions to it, and that thread looks once more after
    /// it stops, so none is left behind.
    fn publish(&self, publish: impl Fn(CircuitState)) {
        loop {
            let Some(publishing) = self.publishing.try_lock() else {
                return;
            };
            loop {
                let next = self.transitions.lock().unpublished.pop_front();
                match next {
                    Some(state) => publish(state),
                    None => break,
                }
            }
            drop(publishing);
            if self.transitions.lock().unpublished.is_empty() {
                return;
            }
        }
    }

    fn clear_counts(&self) {
        self.consecutive.store(0, Relaxed);
        self.ring.clear();
    }

    /// Closes the circuit and forgets everything (for `reset`).
    pub(crate) fn reset(&self) {
        let mut t = self.transitions.lock();
        let spell = t.spell;
        *t = Transitions::default();
        // A probe still running from before the reset must not count.
        t.spell = spell.wrapping_add(1);
        self.clear_counts();
        self.state.store(CircuitState::Closed.as_number(), Relaxed);
    }
}
