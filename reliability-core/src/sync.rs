//! The atomics and the lock the lock-free parts are written against: std's
//! and parking_lot's in a normal build, loom's under `cfg(loom)`, so the same
//! code runs in the model checker (`.ci/loom`, see `loom_models.rs`).
#![allow(unused_imports, unused_macros)] // until every part is moved onto it

#[cfg(not(loom))]
pub(crate) use std::sync::atomic;

#[cfg(loom)]
pub(crate) use loom::sync::atomic;

#[cfg(not(loom))]
pub(crate) use parking_lot::{Mutex, MutexGuard};

#[cfg(loom)]
pub(crate) use self::loom_mutex::{Mutex, MutexGuard};

/// Writes `fn` as `const fn` in a normal build (so the type can live in a
/// `static`) and as a plain `fn` under loom, whose atomics are built at run
/// time.
macro_rules! const_fn {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($args:tt)*) -> $ret:ty $body:block) => {
        #[cfg(not(loom))]
        $(#[$meta])* $vis const fn $name($($args)*) -> $ret $body
        #[cfg(loom)]
        $(#[$meta])* $vis fn $name($($args)*) -> $ret $body
    };
}
pub(crate) use const_fn;

/// `[value; N]` for a value that is not `Copy`: a `const` block in a normal
/// build (so the array can live in a `static`), `std::array::from_fn` under
/// loom.
macro_rules! repeat {
    ($value:expr; $count:expr) => {{
        #[cfg(not(loom))]
        let array = [const { $value }; $count];
        #[cfg(loom)]
        let array = ::std::array::from_fn(|_| $value);
        array
    }};
}
pub(crate) use repeat;

#[cfg(not(loom))]
pub(crate) use once_cell::race::OnceBox;

#[cfg(loom)]
pub(crate) use self::loom_once_box::OnceBox;

#[cfg(loom)]
#[allow(dead_code)] // until every part is moved onto it
mod loom_mutex {
    /// parking_lot's shape over loom's mutex: `lock` returns the guard.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }

        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.0.try_lock().ok()
        }
    }
}

#[cfg(loom)]
mod loom_once_box {
    use std::ptr;

    use loom::sync::atomic::{AtomicPtr, Ordering};

    /// `once_cell::race::OnceBox` (1.21) over loom's pointer, with its
    /// orderings: an acquire load to read, a release compare-and-swap from
    /// null to publish, and the loser of a race dropping its own box.
    #[derive(Debug)]
    pub(crate) struct OnceBox<T> {
        inner: AtomicPtr<T>,
    }

    impl<T> OnceBox<T> {
        pub(crate) fn new() -> Self {
            OnceBox {
                inner: AtomicPtr::new(ptr::null_mut()),
            }
        }

        pub(crate) fn get(&self) -> Option<&T> {
            let ptr = self.inner.load(Ordering::Acquire);
            // SAFETY: a non-null pointer came from `Box::into_raw` and is
            // freed only by `drop`, which has `&mut self`.
            (!ptr.is_null()).then(|| unsafe { &*ptr })
        }

        pub(crate) fn get_or_init(&self, make: impl FnOnce() -> Box<T>) -> &T {
            if let Some(value) = self.get() {
                return value;
            }
            let mut ptr = Box::into_raw(make());
            let exchange = self.inner.compare_exchange(
                ptr::null_mut(),
                ptr,
                Ordering::Release,
                Ordering::Acquire,
            );
            if let Err(old) = exchange {
                // SAFETY: ours, never published.
                drop(unsafe { Box::from_raw(ptr) });
                ptr = old;
            }
            // SAFETY: as in `get`.
            unsafe { &*ptr }
        }
    }

    impl<T> Drop for OnceBox<T> {
        fn drop(&mut self) {
            let ptr = self.inner.with_mut(|ptr| *ptr);
            if !ptr.is_null() {
                // SAFETY: published by `get_or_init`, freed once, here.
                drop(unsafe { Box::from_raw(ptr) });
            }
        }
    }
}
