//! A component's circuit breaker: closed → open → half-open → closed.
//! `breaker.rs` holds the transitions, `ring.rs` the failure-rate window.

mod breaker;
mod config;
mod ring;
mod state;

pub(crate) use breaker::{CircuitBreaker, Permit};
pub use config::CircuitConfig;
pub use state::CircuitState;

#[cfg(test)]
mod tests;
