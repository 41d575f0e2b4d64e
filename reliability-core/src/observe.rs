//! Calls made outside the attribute: `observe` around a closure, and
//! `record` of a call timed elsewhere. Each goes through a call site made at
//! run time for its component and method.

use std::fmt;
use std::time::Duration;

use crate::manager::ReliabilityManager;
use crate::record::call::{Call, Observed};
use crate::record::outcome::{ErrorRef, Outcome, RecordOutcome};
use crate::record::site::CallSite;
use crate::runtime::registry::runtime;

/// Runs `f` as a call of `method` on `component`, recording its latency and
/// outcome, for code that cannot carry the attribute.
///
/// The attribute's expansion records through the same call guard, with the
/// difference that its call site is a `static` found without a look-up; here
/// the site is looked up by name on every call.
///
/// # Examples
///
/// ```
/// let parsed: Result<u16, std::num::ParseIntError> =
///     reliability_core::observe("config_loader", "parse_port", || "8080".parse());
/// assert_eq!(parsed, Ok(8080));
/// let snap = reliability_core::snapshot();
/// let method = snap.component("config_loader").unwrap().method("parse_port").unwrap();
/// assert_eq!(method.successes, 1);
/// ```
pub fn observe<R: RecordOutcome>(component: &str, method: &str, f: impl FnOnce() -> R) -> R {
    observe_site(runtime().records().dynamic_site(component, method), f)
}

/// [`observe`] for one instance of a component (see [`Instance`](crate::Instance)):
/// the call counts in the instance `instance` and in the component.
///
/// # Examples
///
/// ```
/// let parsed: Result<u16, std::num::ParseIntError> =
///     reliability_core::observe_instance("shard_loader", "eu-1", "parse", || "7".parse());
/// assert_eq!(parsed, Ok(7));
/// let snap = reliability_core::snapshot();
/// let component = snap.component("shard_loader").unwrap();
/// assert_eq!(component.instance("eu-1").unwrap().method("parse").unwrap().successes, 1);
/// assert_eq!(component.method("parse").unwrap().successes, 1);
/// ```
pub fn observe_instance<R: RecordOutcome>(
    component: &str,
    instance: &str,
    method: &str,
    f: impl FnOnce() -> R,
) -> R {
    observe_site(instance_site(component, instance, method), f)
}

fn observe_site<R: RecordOutcome>(site: &'static CallSite, f: impl FnOnce() -> R) -> R {
    let call = Call::start(site);
    let value = f();
    call.finish(match value.failure() {
        None => Observed::Success,
        Some(error) => Observed::Failure(ErrorRef::Display(error), None),
    });
    value
}

impl ReliabilityManager {
    /// Records one call made outside any instrumented method.
    ///
    /// Each distinct `(component, method)` pair keeps a call site for the
    /// life of the process, so use a bounded set of names.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reliability_core::{manager, Outcome};
    ///
    /// manager().record("legacy_queue", "push", Outcome::Success, Duration::from_micros(40));
    /// manager().record("legacy_queue", "push", Outcome::Failure, Duration::from_micros(90));
    /// let health = manager().component_health("legacy_queue").unwrap();
    /// assert_eq!((health.calls, health.failures), (2, 1));
    /// ```
    pub fn record(&self, component: &str, method: &str, outcome: Outcome, duration: Duration) {
        record_on(
            runtime().records().dynamic_site(component, method),
            outcome,
            duration,
        );
    }

    /// [`record`](Self::record) for one instance of a component: the call
    /// counts in the instance `instance` and in the component.
    pub fn record_instance(
        &self,
        component: &str,
        instance: &str,
        method: &str,
        outcome: Outcome,
        duration: Duration,
    ) {
        record_on(
            instance_site(component, instance, method),
            outcome,
            duration,
        );
    }

    /// Records one failed call with its error's text (truncated to 256 bytes).
    pub fn record_error(
        &self,
        component: &str,
        method: &str,
        error: &dyn fmt::Display,
        duration: Duration,
    ) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        runtime()
            .records()
            .dynamic_site(component, method)
            .record_failure(nanos, ErrorRef::Display(error), None);
    }
}

/// The call site of `method` of the instance `instance` of `component`.
fn instance_site(component: &str, instance: &str, method: &str) -> &'static CallSite {
    runtime()
        .records()
        .dynamic_site(component, method)
        .in_instance_id(instance)
}

fn record_on(site: &'static CallSite, outcome: Outcome, duration: Duration) {
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    match outcome {
        Outcome::Success => site.record_success(nanos),
        Outcome::Failure => site.record_failure(nanos, ErrorRef::TypeName("failure"), None),
        Outcome::Panicked => site.record_failure(nanos, ErrorRef::Panic, None),
        Outcome::Cancelled => site.record_cancelled(),
    }
}
