//! What the attribute's expansion calls, by absolute path. Not a public API:
//! it changes without notice. A list of re-exports; the logic lives with its
//! concern.

pub use crate::classify::probe::{classified, CategorySource, ErrorProbe, RetryAfterValue};
pub use crate::classify::Classification;
pub use crate::health::Thresholds;
pub use crate::record::call::{call_once, Call, Observed, Watched};
pub use crate::record::outcome::ErrorRef;
pub use crate::record::probe::Probe;
pub use crate::record::site::{CallSite, SiteMeta};
pub use crate::recovery::driver::{
    judge, reject, rerun_arg, Op, Ran, Recovery, RecoveryMeta, Rejectable, RerunArgument, Verdict,
};
pub use crate::recovery::strategy::{
    Backoff, CircuitConfig, RetryBudget, Strategy, StrategyConfig,
};

/// The probe traits, for the expansion's `use …::__private::probe::*`.
/// Their methods share names; the number of `&` in front of the probe picks
/// the most specific impl.
pub mod probe {
    pub use crate::classify::probe::{
        CategoryByChain, CategoryByClassify, CategoryByDebug, CategoryByDisplay, CategoryOfOpaque,
        CategoryOfValue, ErrorCategoryByChain, ErrorCategoryByClassify, ErrorCategoryByDebug,
        ErrorCategoryByDisplay, ErrorCategoryOfOpaque,
    };
    pub use crate::record::probe::{ObserveDebug, ObserveDisplay, ObserveResult, ObserveValue};
}
