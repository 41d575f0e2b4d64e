//! The runtime's state: each component's counters and health inputs, the
//! registry that call sites join, the policy they share, and the event
//! listeners.

pub(crate) mod component;
pub(crate) mod events;
