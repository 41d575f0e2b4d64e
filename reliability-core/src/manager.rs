//! The global manager: the registry of components and the entry points that read it.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use once_cell::sync::Lazy;
use parking_lot::RwLock;

use crate::call::{Call, Observed};
use crate::component::ComponentState;
use crate::health::{ComponentHealth, ThresholdError, Thresholds};
use crate::outcome::{ErrorRef, Outcome, RecordOutcome};
use crate::site::{CallSite, SiteMeta};
use crate::snapshot::MetricsSnapshot;

/// The process-wide registry of components, their call sites and their health.
///
/// Reach it with [`manager()`]. Instrumented methods register themselves on
/// their first call; nothing has to be set up.
pub struct ReliabilityManager {
    components: RwLock<Registry>,
    /// Call sites made at run time for [`observe`] and [`record`](Self::record).
    dynamic_sites: RwLock<HashMap<String, HashMap<String, &'static CallSite>>>,
    thresholds: RwLock<Thresholds>,
}

#[derive(Default)]
struct Registry {
    by_name: HashMap<&'static str, &'static ComponentState>,
}

impl fmt::Debug for ReliabilityManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.components.read().by_name.keys().copied().collect();
        names.sort_unstable();
        f.debug_struct("ReliabilityManager")
            .field("components", &names)
            .field("thresholds", &*self.thresholds.read())
            .finish_non_exhaustive()
    }
}

static MANAGER: Lazy<ReliabilityManager> = Lazy::new(|| ReliabilityManager {
    components: RwLock::new(Registry::default()),
    dynamic_sites: RwLock::new(HashMap::new()),
    thresholds: RwLock::new(Thresholds::new()),
});

/// The global [`ReliabilityManager`], created on first use.
pub fn manager() -> &'static ReliabilityManager {
    &MANAGER
}

/// A snapshot of every component: shorthand for `manager().snapshot()`.
pub fn snapshot() -> MetricsSnapshot {
    manager().snapshot()
}

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
    let call = Call::start(manager().dynamic_site(component, method));
    let value = f();
    call.finish(match value.failure() {
        None => Observed::Success,
        Some(error) => Observed::Failure(ErrorRef::Display(error)),
    });
    value
}

impl ReliabilityManager {
    /// Registers a call site under its component, creating the component on first sight.
    pub(crate) fn attach(&self, site: &'static CallSite) -> &'static ComponentState {
        let component = self.component(site.meta().component);
        component.attach(site);
        component
    }

    fn component(&self, name: &str) -> &'static ComponentState {
        if let Some(component) = self.components.read().by_name.get(name) {
            return component;
        }
        let mut registry = self.components.write();
        if let Some(component) = registry.by_name.get(name) {
            return component;
        }
        // Components live as long as the process: call sites are statics that point at them.
        let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
        let component: &'static ComponentState = Box::leak(Box::new(ComponentState::new(name)));
        registry.by_name.insert(name, component);
        component
    }

    pub(crate) fn dynamic_site(&self, component: &str, method: &str) -> &'static CallSite {
        if let Some(site) = self
            .dynamic_sites
            .read()
            .get(component)
            .and_then(|methods| methods.get(method))
        {
            return site;
        }
        let mut sites = self.dynamic_sites.write();
        let methods = sites.entry(component.to_owned()).or_default();
        if let Some(site) = methods.get(method) {
            return site;
        }
        let meta: &'static SiteMeta = Box::leak(Box::new(SiteMeta {
            component: Box::leak(component.to_owned().into_boxed_str()),
            method: Box::leak(method.to_owned().into_boxed_str()),
            thresholds: None,
        }));
        let site: &'static CallSite = Box::leak(Box::new(CallSite::new(meta)));
        methods.insert(method.to_owned(), site);
        site
    }

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
        let site = self.dynamic_site(component, method);
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        match outcome {
            Outcome::Success => site.record_success(nanos),
            Outcome::Failure => site.record_failure(nanos, ErrorRef::TypeName("failure")),
            Outcome::Panicked => site.record_failure(nanos, ErrorRef::Panic),
            Outcome::Cancelled => site.record_cancelled(),
        }
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
        self.dynamic_site(component, method)
            .record_failure(nanos, ErrorRef::Display(error));
    }

    /// The health of the component called `name`, if it has been seen.
    pub fn component_health(&self, name: &str) -> Option<ComponentHealth> {
        let component = *self.components.read().by_name.get(name)?;
        let defaults = *self.thresholds.read();
        Some(component.snapshot(&defaults, Instant::now()).health)
    }

    /// The health of every component, sorted by name.
    pub fn all_component_health(&self) -> Vec<ComponentHealth> {
        self.snapshot()
            .components
            .into_iter()
            .map(|c| c.health)
            .collect()
    }

    /// Every component's counters and health at this moment.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let components: Vec<&'static ComponentState> =
            self.components.read().by_name.values().copied().collect();
        let defaults = *self.thresholds.read();
        let now = Instant::now();
        let mut snapshots: Vec<_> = components
            .iter()
            .map(|c| c.snapshot(&defaults, now))
            .collect();
        snapshots.sort_by(|a, b| a.name.cmp(&b.name));
        MetricsSnapshot::new(SystemTime::now(), snapshots)
    }

    /// The thresholds of components that set none of their own.
    pub fn thresholds(&self) -> Thresholds {
        *self.thresholds.read()
    }

    /// Sets the thresholds of every component that sets none of its own.
    pub fn set_thresholds(&self, thresholds: Thresholds) -> Result<(), ThresholdError> {
        thresholds.validate()?;
        *self.thresholds.write() = thresholds;
        Ok(())
    }

    /// Sets one component's thresholds, overriding the attribute's and the global ones.
    pub fn set_component_thresholds(
        &self,
        component: &str,
        thresholds: Thresholds,
    ) -> Result<(), ThresholdError> {
        thresholds.validate()?;
        self.component(component).set_thresholds(thresholds);
        Ok(())
    }

    /// Zeroes every counter and forgets every error, keeping the components
    /// registered. Meant for tests; calls made while it runs may be lost.
    pub fn reset(&self) {
        let components: Vec<&'static ComponentState> =
            self.components.read().by_name.values().copied().collect();
        for component in components {
            component.reset();
        }
    }
}
