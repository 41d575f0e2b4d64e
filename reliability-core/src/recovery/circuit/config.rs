//! What opens a circuit and what closes it again.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// When a component's circuit opens, and how it closes again.
///
/// The circuit opens after `open_after` consecutive failed attempts, or when
/// at least `min_calls` of the last `window` attempts completed and the share
/// that failed reaches `failure_rate`. After `cool_down` it lets
/// `half_open_probes` calls through: if they all succeed it closes, if one
/// fails it opens again.
///
/// # Default
///
/// `open_after = 5`, no failure rate, `window = 20`, `min_calls = 10`,
/// `cool_down = 30 s`, `half_open_probes = 1`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CircuitConfig {
    open_after: Option<u32>,
    failure_rate: Option<f64>,
    window: u32,
    min_calls: u32,
    cool_down: Duration,
    half_open_probes: u32,
}

impl CircuitConfig {
    /// The defaults listed above.
    pub const fn new() -> Self {
        CircuitConfig {
            open_after: Some(5),
            failure_rate: None,
            window: 20,
            min_calls: 10,
            cool_down: Duration::from_secs(30),
            half_open_probes: 1,
        }
    }

    /// Consecutive failed attempts that open the circuit; `None` turns the rule off.
    #[must_use]
    pub const fn with_open_after(mut self, failures: Option<u32>) -> Self {
        self.open_after = failures;
        self
    }

    /// Share of failed attempts in the window that opens the circuit; `None` turns the rule off.
    #[must_use]
    pub const fn with_failure_rate(mut self, rate: Option<f64>) -> Self {
        self.failure_rate = rate;
        self
    }

    /// Attempts the failure rate looks back over (1 to 64).
    #[must_use]
    pub const fn with_window(mut self, calls: u32) -> Self {
        self.window = calls;
        self
    }

    /// Attempts in the window before the failure rate applies.
    #[must_use]
    pub const fn with_min_calls(mut self, calls: u32) -> Self {
        self.min_calls = calls;
        self
    }

    /// How long the circuit stays open before it lets a probe through.
    #[must_use]
    pub const fn with_cool_down(mut self, cool_down: Duration) -> Self {
        self.cool_down = cool_down;
        self
    }

    /// Probe calls that must succeed, half open, for the circuit to close.
    #[must_use]
    pub const fn with_half_open_probes(mut self, probes: u32) -> Self {
        self.half_open_probes = probes;
        self
    }

    /// Consecutive failed attempts that open the circuit.
    pub const fn open_after(&self) -> Option<u32> {
        self.open_after
    }

    /// Share of failed attempts in the window that opens the circuit.
    pub const fn failure_rate(&self) -> Option<f64> {
        self.failure_rate
    }

    /// Attempts the failure rate looks back over.
    pub const fn window(&self) -> u32 {
        self.window
    }

    /// Attempts in the window before the failure rate applies.
    pub const fn min_calls(&self) -> u32 {
        self.min_calls
    }

    /// How long the circuit stays open.
    pub const fn cool_down(&self) -> Duration {
        self.cool_down
    }

    /// Probe calls that must succeed for the circuit to close.
    pub const fn half_open_probes(&self) -> u32 {
        self.half_open_probes
    }
}

impl Default for CircuitConfig {
    fn default() -> Self {
        Self::new()
    }
}
