//! What the attribute's expansion calls, by absolute path. Not a public API:
//! it changes without notice. Re-exports, and the three macros that write
//! what depends on the method's own types (its call site, the probes of its
//! return value), so that the expansion itself stays a few lines per method.

pub use crate::classify::probe::{classified, CategorySource, ErrorProbe, RetryAfterValue};
pub use crate::classify::Classification;
pub use crate::health::Thresholds;
pub use crate::record::call::{
    branch, call_once, from_residual, Branch, Call, FromResidual, Observed, Watched,
};
pub use crate::record::outcome::ErrorRef;
pub use crate::record::probe::Probe;
pub use crate::record::site::{CallSite, SiteMeta};
pub use crate::recovery::bulkhead::BulkheadConfig;
pub use crate::recovery::call_loop::{
    reject, rerun_arg, step, step_async, Ended, Recovery, Rejectable, RerunArgument,
};
pub use crate::recovery::driver::Op;
pub use crate::recovery::hedge::{HedgeAfter, HedgeConfig};
pub use crate::recovery::limit::{
    hedge, hedge_future, refuse, timed, timed_value, timeout, untimed, HedgeFuture, Refusable,
};
pub use crate::recovery::limits::{Limits, Refused};
pub use crate::recovery::rate_limit::RateLimitConfig;
pub use crate::recovery::strategy::{
    Backoff, CircuitConfig, RecoveryMeta, RetryBudget, Strategy, StrategyConfig,
};
pub use crate::recovery::verdict::{judge, Verdict};
pub use crate::{
    __reliable_judge as judge, __reliable_observe as observe, __reliable_report as report,
    __reliable_start as start,
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

/// `start!(start "component" "method" …)`: the method's one `static`
/// [`CallSite`] (its [`SiteMeta`] and [`RecoveryMeta`] are promoted
/// constants inside it), and a [`Call`] of it started with
/// `Call::start` or `Call::start_async` (the first word).
///
/// After the names, optionally `instance(&self.field)` (the call then
/// reports to the instance's own site for the method), optionally `thresholds(EXPR)`, then optionally
/// `recovery [Retry Network …] (.with_max_attempts(3) …)` followed by
/// `repair("m")`, `alternatives("a" "b")`, `fallback("f")`,
/// `budget(.with_ratio(0.2) …)`, `limits(timeout(NANOS) bulkhead(N NANOS)
/// rate_limit(N BURST NANOS) hedge(NANOS|p95 N))`, each optional, in this order.
#[doc(hidden)]
#[macro_export]
macro_rules! __reliable_start {
    ($start:ident $component:literal $method:literal
        $(instance($instance:expr))?
        $(thresholds($thresholds:expr))?
        $(recovery [$($strategy:ident)*] ($($setting:tt)*)
            $(repair($repair:literal))?
            $(alternatives($($alternative:literal)*))?
            $(fallback($fallback:literal))?
            $(budget($($budget:tt)*))?
            $(limits(
                $(timeout($timeout:literal))?
                $(bulkhead($max_concurrent:literal $bulkhead_wait:literal))?
                $(rate_limit($per_second:literal $burst:literal $rate_wait:literal))?
                $(hedge($after:tt $max_extra:literal))?
            ))?
        )?
    ) => {{
        static __RELIABLE_SITE: $crate::__private::CallSite =
            $crate::__private::CallSite::new(&$crate::__private::SiteMeta {
                component: $component,
                method: $method,
                thresholds: $crate::__reliable_option!($($thresholds)?),
                recovery: $crate::__reliable_option!($(&$crate::__private::RecoveryMeta {
                    config: $crate::__private::StrategyConfig::new()
                        $(.with_strategy($crate::__private::Strategy::$strategy))*
                        $($setting)*,
                    repair: $crate::__reliable_option!($($repair)?),
                    alternatives: &[$($($alternative),*)?],
                    fallback: $crate::__reliable_option!($($fallback)?),
                    budget: $crate::__reliable_option!(
                        $($crate::__private::RetryBudget::new() $($budget)*)?
                    ),
                    limits: $crate::__private::Limits::new() $(
                        $(.with_timeout(::core::time::Duration::from_nanos($timeout)))?
                        $(.with_bulkhead($crate::__private::BulkheadConfig::new($max_concurrent)
                            .with_max_wait(::core::time::Duration::from_nanos($bulkhead_wait))))?
                        $(.with_rate_limit($crate::__private::RateLimitConfig::new($per_second)
                            .with_burst($burst)
                            .with_max_wait(::core::time::Duration::from_nanos($rate_wait))))?
                        $(.with_hedge($crate::__private::HedgeConfig::new(
                            $crate::__reliable_hedge_after!($after)).with_max_extra($max_extra)))?
                    )?,
                })?),
                may_cancel: $crate::__reliable_may_cancel!($start),
            });
        let __reliable_site: &'static $crate::__private::CallSite = &__RELIABLE_SITE;
        $(let __reliable_site = __reliable_site.in_instance($instance);)?
        $crate::__private::Call::$start(__reliable_site)
    }};
}

/// Whether a call started with `$start` can end cancelled: the async starts'.
#[doc(hidden)]
#[macro_export]
macro_rules! __reliable_may_cancel {
    (start_async) => {
        true
    };
    ($start:ident) => {
        false
    };
}

/// A hedge's `after`: `p95`, or nanoseconds.
#[doc(hidden)]
#[macro_export]
macro_rules! __reliable_hedge_after {
    (p95) => {
        $crate::__private::HedgeAfter::RecentP95
    };
    ($nanos:literal) => {
        $crate::__private::HedgeAfter::Fixed(::core::time::Duration::from_nanos($nanos))
    };
}

/// `Some(value)`, or `None` when no value is given.
#[doc(hidden)]
#[macro_export]
macro_rules! __reliable_option {
    () => {
        ::core::option::Option::None
    };
    ($value:expr) => {
        ::core::option::Option::Some($value)
    };
}

/// `observe!(value)`: how a call that returned `value` ended
/// ([`Observed`]), read by the outcome and category probes, which pick
/// their impl from `value`'s type at the call site.
#[doc(hidden)]
#[macro_export]
macro_rules! __reliable_observe {
    ($value:ident) => {
        $crate::__private::classified(
            $crate::__reliable_probes!(text $value),
            $crate::__reliable_probes!(category $value),
        )
    };
}

/// `judge!(value)`: the [`Verdict`] recovery decides on, read by the same probes.
#[doc(hidden)]
#[macro_export]
macro_rules! __reliable_judge {
    ($value:ident) => {
        $crate::__private::judge(
            $crate::__reliable_probes!(text $value),
            $crate::__reliable_probes!(category $value),
        )
    };
}

/// `report!(recovery value)`: tells the recovery how `value` went, and
/// breaks out of the method's loop with the call's end when nothing follows.
#[doc(hidden)]
#[macro_export]
macro_rules! __reliable_report {
    ($recovery:ident $value:ident) => {
        if let ::core::option::Option::Some(ended) =
            $recovery.report($crate::__reliable_judge!($value), $value)
        {
            break ended;
        }
    };
}

/// The two probes of a return value: its outcome and error text, and where
/// its error's category comes from.
#[doc(hidden)]
#[macro_export]
macro_rules! __reliable_probes {
    (text $value:ident) => {{
        use $crate::__private::probe::*;
        (&&&&$crate::__private::Probe(&$value)).__reliable_observe()
    }};
    (category $value:ident) => {{
        use $crate::__private::probe::*;
        (&&&&&&$crate::__private::Probe(&$value)).__reliable_category()
    }};
}
