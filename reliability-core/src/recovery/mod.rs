//! Deciding and running recovery: the strategies and their settings, the
//! plan for one failure, the circuit breaker, the retry budget, the driver
//! that runs one call's chain, and the bounded history of sessions.
//!
//! # The order of the chain
//!
//! One call goes through these steps, each only when configured:
//!
//! 1. **rate limit** ([`RateLimiter`](crate::limit::RateLimiter)): a token, or
//!    `RateLimited` (after waiting up to `max_wait` on the clock);
//! 2. **bulkhead** ([`Bulkhead`](crate::limit::Bulkhead)): a place, held by a
//!    `BulkheadPermit` until the chain ends, or `BulkheadFull` (sync callers
//!    wait on a condvar, on the real clock; async callers on a delay of the
//!    clock);
//! 3. **circuit** ([`CircuitConfig`](crate::limit::CircuitConfig)): closed, a probe, or `CircuitOpen`;
//! 4. **attempt**, an `async` one inside [`timeout`](crate::limit::timeout()) (`TimedOut`,
//!    category `timeout`, its future dropped);
//! 5. **repair / retry / network** on the attempt's failure (a timeout
//!    included);
//! 6. **alternatives**, run by [`hedge`](crate::limit::hedge()) when hedging (the
//!    alternatives start beside the slow attempt) or one after another;
//! 7. **fallback**, then **escalate**.
//!
//! A refusal in steps 1 to 3 never runs the body: the call goes to the
//! fallback if there is one, else returns the refusal as `E::from(..)`;
//! the driver records a session step naming what refused it, with no
//! attempt number.
//!
//! The rate limit comes first so that a call it refuses never holds a
//! bulkhead place; the bulkhead before the circuit so that a half-open
//! probe is only let through by a call that will run. Both are outside the
//! retries: a call takes one token and holds one place however many
//! attempts it makes (its backoff included).
//!
//! Every limit is in `limit/`, behind one admission interface: a call takes
//! a permit or a refusal from each, and its `Recovery` holds the permits
//! until it ends, so dropping it gives every place back. The expansion's
//! loop passes them in `Recovery::op` (sync, blocking its thread) or
//! `Recovery::wait` (async, awaited); `limit::timeout` puts one attempt
//! inside its timeout and `limit::hedge` races the first attempt against its
//! alternatives. The attempt's call guard lives outside the future given to
//! `timeout`, so that the drop is recorded as a timeout and not as a
//! cancellation. A test of a timeout or hedge uses
//! `ManualClock::with_held_delays(true)`: by default a manual delay is over
//! as soon as it is made, so an attempt pending on its first poll would time
//! out (or be hedged) at once (`tests/primitives.rs`).
//!
//! # Scope
//!
//! Each primitive is a plain value with no global state: [`Bulkhead`] and
//! [`RateLimiter`] are `const`-constructible structs that count, refuse and
//! queue on their own, [`timeout`](crate::limit::timeout()) and
//! [`hedge`](crate::limit::hedge()) are combinators over futures, and all of them
//! take the clock as an argument. Wired in, a component's state owns one
//! bulkhead and one rate limiter (made from the first configuration seen,
//! as its circuit breaker is); giving each instance its own is then a
//! matter of which state owns them, not a change to the primitives.
//!
//! [`Bulkhead`]: crate::limit::Bulkhead
//! [`RateLimiter`]: crate::limit::RateLimiter

pub(crate) mod budget;
pub(crate) mod bulkhead;
pub(crate) mod call_loop;
pub(crate) mod circuit;
pub(crate) mod driver;
pub(crate) mod hedge;
pub(crate) mod history;
pub(crate) mod limit;
pub(crate) mod limits;
pub(crate) mod plan;
pub(crate) mod rate_limit;
pub(crate) mod strategy;
pub(crate) mod timeout;
mod token_bucket;
pub(crate) mod verdict;

#[cfg(test)]
mod test_support;

pub use history::{RecoveryOutcome, RecoverySession, RecoveryStep, StepOutcome};
pub use plan::{RecoveryAction, RecoveryContext, RecoveryPlan};
pub use strategy::{Backoff, RetryBudget, Strategy, StrategyConfig, StrategySet};
