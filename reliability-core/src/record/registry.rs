//! The registry that call sites join on their first call, the way
//! tracing-core's call sites do: one compare-and-swap in the site, then a
//! cold look-up by component name here. Nothing in it reaches up into the
//! runtime; the runtime reads it.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{LazyLock, OnceLock};
use std::task::{Context, Poll};
use std::time::SystemTime;

use parking_lot::{Mutex, RwLock};

use super::instance::{InstanceSites, MAX_SLOTS};
use super::outcome::{ErrorRef, ErrorText};
use super::site::{CallSite, SiteMeta};
use crate::classify::ErrorCategory;
use crate::health::Thresholds;

/// What the call sites of one component write in common: the run of
/// consecutive failures, the last error and the failures by category. The
/// runtime's component state reads it; call sites never see that state.
///
/// An instance of a component has a record of its own, under its
/// component's: its calls count in both, once each.
#[derive(Debug)]
pub(crate) struct ComponentRecord {
    pub(crate) name: &'static str,
    /// On an instance's record: its component's record.
    parent: Option<&'static ComponentRecord>,
    /// On an instance's record: its id.
    pub(crate) instance_id: Option<&'static str>,
    sites: RwLock<Vec<&'static CallSite>>,
    consecutive_failures: AtomicU64,
    last_failure: Mutex<LastFailure>,
    categories: [AtomicU64; ErrorCategory::ALL.len()],
    error_text: &'static ErrorText,
    /// On a component's record: its instances.
    instances: RwLock<Instances>,
    /// The most instances the component keeps apart.
    instance_limit: AtomicUsize,
    /// On an instance's record: its call sites, by method slot.
    slot_sites: InstanceSites,
}

/// A component's instances, and the slots its methods have in them.
#[derive(Debug, Default)]
struct Instances {
    by_id: HashMap<&'static str, &'static ComponentRecord>,
    /// In the order they were made; the overflow instance included.
    order: Vec<&'static ComponentRecord>,
    /// Where calls of instances past the limit count.
    overflow: Option<&'static ComponentRecord>,
    /// The component's call sites that instances have sites for, by slot.
    slots: Vec<&'static CallSite>,
}

/// The instances a component keeps apart unless told otherwise.
pub(crate) const DEFAULT_INSTANCE_LIMIT: usize = 1_000;

/// Called once per component, the first time an instance past its limit is
/// counted under the overflow id: the runtime turns it into an event.
static ON_INSTANCE_LIMIT: OnceLock<fn(&'static ComponentRecord, usize)> = OnceLock::new();

/// Sets what [`ON_INSTANCE_LIMIT`] calls; the first setting stays.
pub(crate) fn on_instance_limit(hook: fn(&'static ComponentRecord, usize)) {
    let _ = ON_INSTANCE_LIMIT.set(hook);
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
            parent: None,
            instance_id: None,
            sites: RwLock::new(Vec::new()),
            consecutive_failures: AtomicU64::new(0),
            last_failure: Mutex::new(LastFailure::default()),
            categories: [const { AtomicU64::new(0) }; ErrorCategory::ALL.len()],
            error_text,
            instances: RwLock::new(Instances::default()),
            instance_limit: AtomicUsize::new(DEFAULT_INSTANCE_LIMIT),
            slot_sites: InstanceSites::new(),
        }
    }

    /// Whether this is an instance's record under `component`.
    #[inline(always)]
    pub(crate) fn parent_is(&self, component: &ComponentRecord) -> bool {
        self.parent
            .is_some_and(|parent| std::ptr::eq(parent, component))
    }

    /// The component's record, on an instance's record.
    pub(crate) fn parent(&self) -> Option<&'static ComponentRecord> {
        self.parent
    }

    /// The record of the instance called `id`, made on first use; past the
    /// component's limit, the overflow instance's.
    pub(crate) fn instance(&'static self, id: &str) -> &'static ComponentRecord {
        if let Some(record) = self.instances.read().by_id.get(id) {
            return record;
        }
        let mut instances = self.instances.write();
        if let Some(record) = instances.by_id.get(id) {
            return record;
        }
        let limit = self.instance_limit.load(Relaxed);
        let kept = instances.order.len() - usize::from(instances.overflow.is_some());
        if kept >= limit {
            if let Some(overflow) = instances.overflow {
                return overflow;
            }
            let overflow = self.make_instance(&mut instances, crate::Instance::OVERFLOW_ID);
            instances.overflow = Some(overflow);
            drop(instances);
            match ON_INSTANCE_LIMIT.get() {
                Some(hook) => hook(self, limit),
                None => tracing::warn!(
                    target: "reliability",
                    component = self.name,
                    limit,
                    "instance limit reached: further instances count under `{}`",
                    crate::Instance::OVERFLOW_ID
                ),
            }
            return overflow;
        }
        self.make_instance(&mut instances, id)
    }

    fn make_instance(
        &'static self,
        instances: &mut Instances,
        id: &str,
    ) -> &'static ComponentRecord {
        if let Some(record) = instances.by_id.get(id) {
            return record;
        }
        // Instance records live as long as the process, as components' do.
        let id: &'static str = Box::leak(id.to_owned().into_boxed_str());
        let mut record = ComponentRecord::new(self.name, self.error_text);
        record.parent = Some(self);
        record.instance_id = Some(id);
        let record: &'static ComponentRecord = Box::leak(Box::new(record));
        instances.by_id.insert(id, record);
        instances.order.push(record);
        record
    }

    /// The record of the instance called `id`, if it has been made.
    pub(crate) fn find_instance(&self, id: &str) -> Option<&'static ComponentRecord> {
        self.instances.read().by_id.get(id).copied()
    }

    /// The component's instances, in the order they were made.
    pub(crate) fn instances(&self) -> Vec<&'static ComponentRecord> {
        self.instances.read().order.clone()
    }

    /// Sets the most instances the component keeps apart (for instances made from now on).
    pub(crate) fn set_instance_limit(&self, limit: usize) {
        self.instance_limit.store(limit, Relaxed);
    }

    /// The instance's own site for the component's `site`, if made.
    #[inline(always)]
    pub(crate) fn instance_site(&self, slot: usize) -> Option<&'static CallSite> {
        self.slot_sites.get(slot)
    }

    /// Makes `instance`'s site for `site`, a call site of this component
    /// (giving `site` a slot first if it has none). A component with more
    /// than `MAX_SLOTS` methods counts the rest on itself alone.
    #[cold]
    #[inline(never)]
    pub(crate) fn make_instance_site(
        &'static self,
        site: &'static CallSite,
        instance: &'static ComponentRecord,
    ) -> &'static CallSite {
        let mut instances = self.instances.write();
        let slot = match site.slot() {
            Some(slot) => slot,
            None => {
                let slot = instances.slots.len();
                instances.slots.push(site);
                site.set_slot(slot);
                slot
            }
        };
        if slot >= MAX_SLOTS {
            return site;
        }
        if let Some(made) = instance.slot_sites.get(slot) {
            return made;
        }
        let made: &'static CallSite = Box::leak(Box::new(CallSite::new(site.meta())));
        let _ = made.link().set(instance);
        instance.sites.write().push(made);
        instance.slot_sites.set(slot, made);
        made
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
        self.end_run();
        if let Some(parent) = self.parent {
            parent.end_run();
        }
    }

    #[inline(always)]
    fn end_run(&self) {
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
        let at = SystemTime::now();
        self.note_failure(&text, at);
        if let Some(parent) = self.parent {
            parent.note_failure(&text, at);
        }
        text
    }

    fn note_failure(&self, text: &str, at: SystemTime) {
        if !self.is_recovering_here() {
            self.consecutive_failures.fetch_add(1, Relaxed);
        }
        *self.last_failure.lock() = LastFailure {
            error: Some(text.into()),
            at: Some(at),
        };
    }

    pub(crate) fn record_category(&self, category: ErrorCategory) {
        self.categories[category as usize].fetch_add(1, Relaxed);
        if let Some(parent) = self.parent {
            parent.categories[category as usize].fetch_add(1, Relaxed);
        }
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

    /// Whether this thread runs a recovery step of this record, or of one
    /// of its instances.
    fn is_recovering_here(&self) -> bool {
        RECOVERING.with(|current| {
            let current = current.get();
            // SAFETY: the pointer is null or came from a `&'static ComponentRecord`.
            std::ptr::eq(current, self)
                || unsafe { current.as_ref() }.is_some_and(|record| record.parent_is(self))
        })
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

    /// Zeroes what this record holds and every counter of its sites (not
    /// its instances': the runtime resets each).
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
#[derive(Debug)]
pub(crate) struct Registry {
    components: RwLock<HashMap<&'static str, &'static ComponentRecord>>,
    /// The instance limit of components made from now on.
    instance_limit: AtomicUsize,
    /// Call sites made at run time, by component and method.
    dynamic_sites: RwLock<HashMap<(String, String), &'static CallSite>>,
    error_text: ErrorText,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            components: RwLock::default(),
            instance_limit: AtomicUsize::new(DEFAULT_INSTANCE_LIMIT),
            dynamic_sites: RwLock::default(),
            error_text: ErrorText::default(),
        }
    }
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
        component.set_instance_limit(self.instance_limit.load(Relaxed));
        components.insert(name, component);
        component
    }

    /// Sets the instance limit of every component, those to come included.
    pub(crate) fn set_instance_limit(&self, limit: usize) {
        let components = self.components.read();
        self.instance_limit.store(limit, Relaxed);
        for component in components.values() {
            component.set_instance_limit(limit);
        }
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
            may_cancel: true,
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
