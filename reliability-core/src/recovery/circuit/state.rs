//! The three states of a circuit breaker, as reported and exported.

use std::fmt;

use serde::{Deserialize, Serialize};

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

    pub(crate) fn from_number(n: u8) -> Self {
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

/// Panics unless `states`, published from a new (closed) circuit, is a
/// sequence of transitions that can happen: closed → open → half open →
/// closed or open.
#[cfg(test)]
pub(crate) fn assert_valid_sequence(states: &[CircuitState]) {
    use CircuitState::*;
    let mut before = Closed;
    for (i, &state) in states.iter().enumerate() {
        let follows = matches!(
            (before, state),
            (Closed, Open) | (Open, HalfOpen) | (HalfOpen, Closed) | (HalfOpen, Open)
        );
        assert!(
            follows,
            "transition {i} of {states:?}: {before:?} -> {state:?}"
        );
        before = state;
    }
}
