//! The errors the library itself returns when it refuses a call: they
//! classify themselves.

use std::fmt;

use super::{Classify, ErrorCategory};

/// The error an open circuit returns when the method has no fallback: the
/// call was not made. Give your error type a `From<CircuitOpen>` to use
/// `circuit_breaker` without a fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitOpen {
    component: &'static str,
}

impl CircuitOpen {
    pub(crate) const fn new(component: &'static str) -> Self {
        CircuitOpen { component }
    }

    /// The component whose circuit is open.
    pub const fn component(&self) -> &'static str {
        self.component
    }
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "circuit open for `{}`: the call was not made",
            self.component
        )
    }
}

impl std::error::Error for CircuitOpen {}

impl Classify for CircuitOpen {
    fn category(&self) -> ErrorCategory {
        // Like a 503: the service is (deliberately) unavailable for now.
        ErrorCategory::ResourceExhausted
    }
}
