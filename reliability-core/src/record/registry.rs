//! The registry that call sites join on their first call, the way
//! tracing-core's call sites do: one compare-and-swap in the site, then a
//! cold look-up by component name here. Nothing in it reaches up into the
//! runtime; the runtime reads it.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::SystemTime;

use parking_lot::{Mutex, RwLock};

use super::outcome::{ErrorRef, ErrorText};
use super::site::{CallSite, SiteMeta};
use crate::classify::ErrorCategory;
use crate::health::Thresholds;

/// What the call sites of one component write in common: the run of
/// consecutive failures, the last error and the failures by category. The
/// runtime's component state reads it; call sites never see that state.
#[derive(Debug)]
pub(crate) struct ComponentRecord {
    pub(crate) name: &'static str,
    sites: RwLock<Vec<&'static CallSite>>,
    consecutive_failures: AtomicU64,
    last_failure: Mutex<LastFailure>,
    categories: [AtomicU64; ErrorCategory::ALL.len()],
    error_text: &'static ErrorText,
}

/// The most recent failure of a component.
#[derive(Debug, Clone, Default)]
pub(crate) struct LastFailure {
    pub(crate) error: Option<Box<str>>,
    pub(crate) at: Option<SystemTime>,
}

impl ComponentRecord {
    pub(crate) fn new(name: &'static str, error_text: &'static ErrorText) -> Self {
        ComponentRecord {
            name,
            sites: RwLock::new(Vec::new()),
            consecutive_failures: AtomicU64::new(0),
            last_failure: Mutex::new(LastFailure::default()),
            categories: [const { AtomicU64::new(0) }; ErrorCategory::ALL.len()],
            error_text,
        }
    }

    /// The component's call sites, in the order they joined.
    pub(crate) fn sites(&self) -> Vec<&'static CallSite> {
        self.sites.read().clone()
    }

    /// Thresholds from the first attribute of this component that set any.
    pub(crate) fn attribute_thresholds(&self) -> Option<Thresholds> {
        self.sites.read().iter().find_map(|s| s.meta().thresholds)
    }

    #[inline(always)]
    pub(crate) fn record_success(&self) {
        // A read in the common case: the line is only written after a failure.
        if self.consecutive_failures.load(Relaxed) != 0 {
            self.consecutive_failures.store(0, Relaxed);
        }
    }

    /// A failed call: counts it in the run and keeps its text, which it
    /// returns. A call made by this component's own recovery (its repair,
    /// an alternative, the fallback) is not a failure in a row of its own:
    /// the call it recovers counts once, when it ends.
    pub(crate) fn record_failure(&self, error: ErrorRef<'_>) -> Box<str> {
        let text: Box<str> = self.error_text.of(error).into();
        if !self.is_recovering_here() {
            self.consecutive_failures.fetch_add(1, Relaxed);
        }
        *self.last_failure.lock() = LastFailure {
            error: Some(text.clone()),
            at: Some(SystemTime::now()),
        };
        text
    }

    pub(crate) fn record_category(&self, category: ErrorCategory) {
        self.categories[category as usize].fetch_add(1, Relaxed);
    }

    /// Runs `f`, a step of this component's own recovery, on this thread.
    pub(crate) fn recovering<R>(&'static self, f: impl FnOnce() -> R) -> R {
        let _scope = RecoveringScope::enter(self);
        f()
    }

    /// Wraps `future`, a step of this component's own recovery: each of its
    /// polls runs as [`recovering`](Self::recovering) does.
    pub(crate) fn recovering_future<F: Future>(&'static self, future: F) -> Recovering<F> {
        Recovering {
            component: self,
            future,
        }
    }

    fn is_recovering_here(&self) -> bool {
        RECOVERING.with(|current| std::ptr::eq(current.get(), self))
    }

    pub(crate) fn consecutive_failures(&self) -> u64 {
        self.consecutive_failures.load(Relaxed)
    }

    pub(crate) fn last_failure(&self) -> LastFailure {
        self.last_failure.lock().clone()
    }

    /// Failures by category, in `ErrorCategory::ALL` order.
    pub(crate) fn categories(&self) -> [u64; ErrorCategory::ALL.len()] {
        std::array::from_fn(|i| self.categories[i].load(Relaxed))
    }

    /// Zeroes what this record holds and every counter of its sites.
    pub(crate) fn reset(&self) {
        for site in self.sites.read().iter() {
            site.reset();
        }
        self.consecutive_failures.store(0, Relaxed);
        *self.last_failure.lock() = LastFailure::default();
        for counter in &self.categories {
            counter.store(0, Relaxed);
        }
    }
}

thread_local! {
    /// The component whose recovery step runs on this thread, if any.
    static RECOVERING: Cell<*const ComponentRecord> = const { Cell::new(std::ptr::null()) };
}

/// Marks this thread as running a recovery step of one component, until dropped.
struct RecoveringScope(*const ComponentRecord);

impl RecoveringScope {
    fn enter(component: &'static ComponentRecord) -> Self {
        RecoveringScope(RECOVERING.with(|current| current.replace(component)))
    }
}

impl Drop for RecoveringScope {
    fn drop(&mut self) {
        RECOVERING.with(|current| current.set(self.0));
    }
}

/// A recovery step's future: polled inside its component's recovering scope.
#[doc(hidden)]
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Recovering<F> {
    component: &'static ComponentRecord,
    future: F,
}

impl<F: Future> Future for Recovering<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: never moved out, no
        // `Drop` impl here, `Unpin` only when `F` is.
        let this = unsafe { self.get_unchecked_mut() };
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        this.component.recovering(|| future.poll(cx))
    }
}

/// Every component's record by name, and the call sites made at run time
/// for code that cannot carry the attribute.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    components: RwLock<HashMap<&'static str, &'static ComponentRecord>>,
    /// Call sites made at run time, by component and method.
    dynamic_sites: RwLock<HashMap<(String, String), &'static CallSite>>,
    error_text: ErrorText,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::default);

/// The registry that the attribute's `static` call sites join.
pub(crate) fn registry() -> &'static Registry {
    &REGISTRY
}

impl Registry {
    /// A registry of its own, for tests that must not share the global one.
    #[cfg(test)]
    pub(crate) fn leaked() -> &'static Registry {
        Box::leak(Box::new(Registry::default()))
    }

    /// Joins a call site to its component, creating the component on first
    /// sight; a site that has joined one keeps it.
    pub(crate) fn attach(&'static self, site: &'static CallSite) -> &'static ComponentRecord {
        site.link().get_or_init(|| {
            let component = self.component(site.meta().component);
            component.sites.write().push(site);
            component
        })
    }

    /// The record of the component called `name`, created on first use.
    pub(crate) fn component(&'static self, name: &str) -> &'static ComponentRecord {
        if let Some(component) = self.find(name) {
            return component;
        }
        let mut components = self.components.write();
        if let Some(component) = components.get(name) {
            return component;
        }
        // Records live as long as the process: call sites are statics that point at them.
        let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
        let component: &'static ComponentRecord =
            Box::leak(Box::new(ComponentRecord::new(name, &self.error_text)));
        components.insert(name, component);
        component
    }

    pub(crate) fn find(&self, name: &str) -> Option<&'static ComponentRecord> {
        self.components.read().get(name).copied()
    }

    /// Every component seen so far, in no particular order.
    pub(crate) fn components(&self) -> Vec<&'static ComponentRecord> {
        self.components.read().values().copied().collect()
    }

    /// The call site for `method` of `component`, made on first use; it
    /// joins its component on its first call, like any other.
    pub(crate) fn dynamic_site(&self, component: &str, method: &str) -> &'static CallSite {
        let key = (component.to_owned(), method.to_owned());
        if let Some(site) = self.dynamic_sites.read().get(&key) {
            return site;
        }
        let mut sites = self.dynamic_sites.write();
        if let Some(site) = sites.get(&key) {
            return site;
        }
        let meta: &'static SiteMeta = Box::leak(Box::new(SiteMeta {
            component: Box::leak(component.to_owned().into_boxed_str()),
            method: Box::leak(method.to_owned().into_boxed_str()),
            thresholds: None,
            recovery: None,
        }));
        let site: &'static CallSite = Box::leak(Box::new(CallSite::new(meta)));
        sites.insert(key, site);
        site
    }

    /// What is kept of error texts, for every component of this registry.
    pub(crate) fn error_text(&self) -> &ErrorText {
        &self.error_text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_name_is_one_record_and_sites_join_it() {
        let registry = Registry::leaked();
        let a = registry.component("registry_tests");
        let b = registry.component("registry_tests");
        assert!(std::ptr::eq(a, b));
        let site = registry.dynamic_site("registry_tests", "get");
        assert!(std::ptr::eq(
            site,
            registry.dynamic_site("registry_tests", "get")
        ));
        let joined = registry.attach(site);
        assert!(std::ptr::eq(joined, a));
        assert_eq!(a.sites().len(), 1);
        assert!(registry.find("registry_tests_other").is_none());
    }

    #[test]
    fn a_recovery_step_does_not_add_to_the_run_of_failures() {
        let registry = Registry::leaked();
        let record = registry.component("registry_tests_recovering");
        let other = registry.component("registry_tests_recovering_other");
        record.record_failure(ErrorRef::Display(&"attempt"));
        record.recovering(|| {
            record.record_failure(ErrorRef::Display(&"fallback"));
            // Only this component's steps are exempt.
            other.record_failure(ErrorRef::Display(&"elsewhere"));
        });
        assert_eq!(record.consecutive_failures(), 1);
        assert_eq!(other.consecutive_failures(), 1);
        assert_eq!(
            record.last_failure().error.as_deref(),
            Some("fallback"),
            "the step's failure is still its last error"
        );
        // The scope ends with the step.
        record.record_failure(ErrorRef::Display(&"next call"));
        assert_eq!(record.consecutive_failures(), 2);
    }

    #[test]
    fn a_failure_keeps_its_text_under_the_registry_policy() {
        let registry = Registry::leaked();
        let record = registry.component("registry_tests_text");
        registry.error_text().keep(false);
        let kept = record.record_failure(ErrorRef::Display(&"secret"));
        assert_eq!(&*kept, "(error text not kept)");
        assert_eq!(record.consecutive_failures(), 1);
        record.record_success();
        assert_eq!(record.consecutive_failures(), 0);
    }
}
