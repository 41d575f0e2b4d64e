//! The cell a component's policy keeps the clock recovery waits on in: a
//! plain value of this layer, so that a call site's limits can keep a
//! reference to it (`recovery::limit::Gates`) without depending on
//! the runtime.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::record::clock::{Clock, SystemClock};

/// The clock recovery waits on, read without a lock and without touching
/// a reference count: a rate-limited call reads it on every admission, and
/// a `RwLock<Arc<dyn Clock>>` (a read lock and an `Arc` clone and drop) is
/// four atomic read-modify-writes, several times the cost of the call.
///
/// An installed clock is kept until the policy is dropped, so that a
/// reader that loaded it just before the next `set_clock` never holds a
/// freed one. That is one box per `set_clock`, which is configuration (a
/// test installs a clock, a program perhaps once), never per call.
pub(crate) struct ClockCell {
    /// The clock last installed, one of `kept`; null while none is (the
    /// system clock).
    current: AtomicPtr<Arc<dyn Clock>>,
    /// Every clock installed so far; only `install` touches it.
    kept: Mutex<Vec<Kept>>,
    /// What `Policy::clock` hands out while no clock is installed.
    system: Arc<dyn Clock>,
}

/// An installed clock, boxed so that `current` can point at it; freed
/// when the policy drops. (A raw pointer rather than a `Box`: moving a
/// `Box`, as a growing `Vec` does, asserts it is the only way to its
/// contents, which `current` is not.)
struct Kept(NonNull<Arc<dyn Clock>>);

// SAFETY: `Kept` owns a `Box<Arc<dyn Clock>>`, and `Arc<dyn Clock>` is
// `Send` (`Clock: Send + Sync`).
unsafe impl Send for Kept {}

impl Drop for Kept {
    fn drop(&mut self) {
        // SAFETY: made by `Box::into_raw` in `install`, freed only here.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

impl Default for ClockCell {
    fn default() -> Self {
        ClockCell {
            current: AtomicPtr::new(std::ptr::null_mut()),
            kept: Mutex::new(Vec::new()),
            system: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for ClockCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClockCell")
            .field("installed", &self.installed_clock().is_some())
            .finish()
    }
}

impl ClockCell {
    /// The installed clock, if any: one acquire load (a plain `mov` on
    /// x86).
    #[inline]
    pub(crate) fn installed(&self) -> Option<&Arc<dyn Clock>> {
        let current = self.current.load(Ordering::Acquire);
        // SAFETY: a non-null `current` is one of `kept`, which are freed
        // only when `self` drops, and the reference borrows `self`. The
        // acquire load pairs with the release store of `install`, so the
        // box's contents are seen.
        unsafe { current.as_ref() }
    }

    /// The clock installed in place of the system clock; `None` while it
    /// is the system clock (a rate limit then reads the call clock).
    #[inline]
    pub(crate) fn installed_clock(&self) -> Option<&dyn Clock> {
        self.installed().map(|clock| &**clock)
    }

    /// The clock now, borrowed.
    #[inline]
    pub(crate) fn current_clock(&self) -> &dyn Clock {
        match self.installed() {
            Some(clock) => &**clock,
            None => &SystemClock,
        }
    }

    /// The clock now, as an `Arc` to keep.
    pub(crate) fn shared(&self) -> Arc<dyn Clock> {
        Arc::clone(self.installed().unwrap_or(&self.system))
    }

    pub(crate) fn install(&self, clock: Arc<dyn Clock>) {
        let current = NonNull::from(Box::leak(Box::new(clock)));
        // Stored under the lock: of two racing installs, the one kept
        // last is the one in use.
        let mut kept = self.kept.lock();
        kept.push(Kept(current));
        self.current.store(current.as_ptr(), Ordering::Release);
    }
}
