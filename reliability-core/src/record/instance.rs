//! Instances: one component, many identities.
//!
//! A component is a type; an instance is one value of it with an identity of
//! its own (a downloader per host, a client per shard). Each instance has a
//! [`ComponentRecord`] of its own under its component's, and a call site of
//! its own per method, made the first time the instance calls the method.
//! The [`Instance`] a value holds caches its record, and the record keeps its
//! sites in an array indexed by the method's slot in the component, so a call
//! finds its site with a few loads: no lock, no look-up by name.

use std::fmt;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering::Acquire, Ordering::Release};
use std::sync::Arc;

use once_cell::race::OnceBox;

use super::registry::ComponentRecord;
use super::site::CallSite;

/// The identity of one instance of a component, held by the value it names.
///
/// Give a struct an `Instance` field and name it in the attribute with
/// `instance = field`: every method with a `self` then reports to the
/// instance as well as to the component, and the instance has its own health,
/// circuit breaker, retry budget and limits. Two `Instance`s with one id in
/// one component are one instance, as named instances are in a registry.
///
/// ```
/// use reliability_core::{reliable, Instance};
///
/// struct Downloader {
///     host: String,
///     reliability: Instance,
/// }
///
/// impl Downloader {
///     fn new(host: &str) -> Self {
///         Downloader { host: host.into(), reliability: Instance::new(host) }
///     }
/// }
///
/// #[reliable(component = "doc_instance_downloader", instance = reliability)]
/// impl Downloader {
///     fn fetch(&self, name: &str) -> Result<String, std::io::Error> {
///         Ok(format!("{}/{name}", self.host))
///     }
/// }
///
/// let mirror = Downloader::new("mirror-1");
/// mirror.fetch("model.bin").unwrap();
/// let snapshot = reliability_core::snapshot();
/// let component = snapshot.component("doc_instance_downloader").unwrap();
/// let instance = component.instance("mirror-1").unwrap();
/// assert_eq!(instance.method("fetch").unwrap().calls, 1);
/// assert_eq!(component.method("fetch").unwrap().calls, 1);
/// ```
///
/// A component keeps at most 1,000 instances by default
/// ([`ReliabilityManager::set_instance_limit`](crate::ReliabilityManager::set_instance_limit));
/// calls of instances past the limit are counted under
/// [`Instance::OVERFLOW_ID`], and a warning is emitted once.
pub struct Instance {
    id: Arc<str>,
    /// The instance's record in the component it last reported to.
    cached: AtomicPtr<ComponentRecord>,
}

impl Instance {
    /// The id under which calls of instances past a component's limit are counted.
    pub const OVERFLOW_ID: &'static str = "_overflow";

    /// The instance called `id`.
    pub fn new(id: impl Into<String>) -> Self {
        Instance {
            id: Arc::from(id.into()),
            cached: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The instance's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The record of this instance in `component`, made on first use.
    #[inline(always)]
    pub(crate) fn record_in(
        &self,
        component: &'static ComponentRecord,
    ) -> &'static ComponentRecord {
        let cached = self.cached.load(Acquire);
        // SAFETY: the pointer is null or came from a `&'static ComponentRecord`.
        if let Some(record) = unsafe { cached.as_ref() } {
            if record.parent_is(component) {
                return record;
            }
        }
        self.resolve(component)
    }

    #[cold]
    #[inline(never)]
    fn resolve(&self, component: &'static ComponentRecord) -> &'static ComponentRecord {
        let record = component.instance(&self.id);
        self.cached.store(ptr::from_ref(record).cast_mut(), Release);
        record
    }
}

impl Clone for Instance {
    fn clone(&self) -> Self {
        Instance {
            id: Arc::clone(&self.id),
            cached: AtomicPtr::new(self.cached.load(Acquire)),
        }
    }
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Instance").field(&&*self.id).finish()
    }
}

impl PartialEq for Instance {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Instance {}

impl From<&str> for Instance {
    fn from(id: &str) -> Self {
        Instance::new(id)
    }
}

impl From<String> for Instance {
    fn from(id: String) -> Self {
        Instance::new(id)
    }
}

/// Methods per segment of an instance's site table.
const SEGMENT: usize = 32;
/// Segments: a component's first `SEGMENT * SEGMENTS` methods get a site
/// per instance; calls of any further method count on the component alone.
const SEGMENTS: usize = 32;

/// The most methods of one component that are counted per instance.
pub(crate) const MAX_SLOTS: usize = SEGMENT * SEGMENTS;

/// An instance's call sites, by the method's slot in its component;
/// segments are allocated as slots are used.
pub(crate) struct InstanceSites {
    segments: [OnceBox<[AtomicPtr<CallSite>; SEGMENT]>; SEGMENTS],
}

impl InstanceSites {
    pub(crate) fn new() -> Self {
        InstanceSites {
            segments: [const { OnceBox::new() }; SEGMENTS],
        }
    }

    /// The site in `slot`, if it has been made.
    #[inline(always)]
    pub(crate) fn get(&self, slot: usize) -> Option<&'static CallSite> {
        let segment = self.segments.get(slot / SEGMENT)?.get()?;
        // SAFETY: the pointer is null or came from a `&'static CallSite`.
        unsafe { segment[slot % SEGMENT].load(Acquire).as_ref() }
    }

    /// Puts `site` in `slot` (`slot < MAX_SLOTS`; the caller holds the lock
    /// that makes sites, so a slot is set once).
    pub(crate) fn set(&self, slot: usize, site: &'static CallSite) {
        let segment = self.segments[slot / SEGMENT]
            .get_or_init(|| Box::new([const { AtomicPtr::new(ptr::null_mut()) }; SEGMENT]));
        segment[slot % SEGMENT].store(ptr::from_ref(site).cast_mut(), Release);
    }
}

impl fmt::Debug for InstanceSites {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstanceSites").finish_non_exhaustive()
    }
}
