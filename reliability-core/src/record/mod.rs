//! What one call leaves behind: the guard that times it, the clock it reads,
//! its outcome, and the per-method call site where the counts land.

pub(crate) mod call;
pub(crate) mod clock;
pub(crate) mod clock_cell;
pub(crate) mod histogram;
pub(crate) mod instance;
pub(crate) mod outcome;
pub(crate) mod probe;
pub(crate) mod registry;
pub(crate) mod site;
pub(crate) mod stripe;
mod stripe_slots;
mod timer;
