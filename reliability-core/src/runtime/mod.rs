//! The runtime's state: each component's health inputs, circuit and
//! recovery records, the registry that makes them, the policy they share,
//! and the event listeners; `Env` is what each of them is handed.

pub(crate) mod component;
pub(crate) mod env;
pub(crate) mod events;
pub(crate) mod policy;
pub(crate) mod registry;
mod state_index;
