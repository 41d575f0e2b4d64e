//! Deciding and running recovery: the strategies and their settings, the
//! plan for one failure, the circuit breaker, the retry budget, the driver
//! that runs one call's chain, and the bounded history of sessions.

pub(crate) mod budget;
pub(crate) mod bulkhead;
pub(crate) mod circuit;
pub(crate) mod driver;
pub(crate) mod hedge;
pub(crate) mod history;
pub(crate) mod plan;
pub(crate) mod rate_limit;
pub(crate) mod strategy;
pub(crate) mod timeout;

#[cfg(test)]
mod test_support;
