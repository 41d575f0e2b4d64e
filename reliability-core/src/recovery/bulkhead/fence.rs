//! Asymmetric fences: a free one on the path every call takes, and a costly
//! one on the path a caller takes before it waits.
//!
//! A caller leaving the bulkhead stores that it left, then loads whether
//! anyone waits; a caller about to wait stores that it waits, then loads
//! how many left. Each needs its store ordered before its load (a
//! store-load barrier), or both can miss the other and the waiter sleeps
//! through a free place. A `lock`ed instruction or `mfence` on every leave
//! is what the bulkhead's success path cost most (a `perf` profile put a
//! third of its overhead on the one `lock` of the leave). So the leave only
//! keeps the compiler from reordering once [`light_is_free`] said so (the
//! bulkhead asks once and keeps the answer in its queue word, so a leave
//! reads nothing more), and the caller about to wait, already on its slow
//! path, makes every running thread of the process pass a full barrier with
//! Linux's `membarrier` ([`heavy`]): after
//! it, either the waiter sees the leave or the leaver sees the waiter. This
//! is the pairing of RCU and of folly's `asymmetric_thread_fence_*`.
//!
//! Where `membarrier` is missing (another OS, a kernel before 4.14, a
//! sandbox that forbids it) both sides are full fences, as a symmetric
//! Dekker pairing needs.

use std::sync::atomic::{fence, AtomicU8, Ordering};

/// Not yet asked for.
const UNKNOWN: u8 = 0;
/// Registered: [`heavy`] is `membarrier`, a leave's fence a compiler fence.
const EXPEDITED: u8 = 1;
/// Not available: both sides are full fences.
const SYMMETRIC: u8 = 2;

/// Moves only from `UNKNOWN` to one of the two others, once: a side that
/// saw `EXPEDITED` may rely on the other side's `membarrier` from then on.
static MODE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Whether the fence of the frequent side, a leave, may be a compiler
/// fence from now on (otherwise a full fence). Settles the mode: a leave
/// asks first, so the process registers on its first leave rather than on
/// its first wait, and leaves stop paying the full fence early.
pub(super) fn light_is_free() -> bool {
    mode() == EXPEDITED
}

/// The fence of the rare side (a caller about to wait): pairs with every
/// leave's fence of any thread.
#[cold]
pub(super) fn heavy() {
    // A side that registers here makes later leaves' fences free at once: so the
    // mode is settled before it is acted on, never read as `UNKNOWN`.
    if mode() == EXPEDITED {
        membarrier::private_expedited();
    } else {
        fence(Ordering::SeqCst);
    }
}

/// The mode, registering with the kernel on first use.
fn mode() -> u8 {
    match MODE.load(Ordering::Acquire) {
        UNKNOWN => {
            let mode = if membarrier::register() {
                EXPEDITED
            } else {
                SYMMETRIC
            };
            // Two first callers may both register (the call is idempotent)
            // and both find the same answer.
            MODE.store(mode, Ordering::Release);
            mode
        }
        mode => mode,
    }
}

#[cfg(target_os = "linux")]
mod membarrier {
    // From `linux/membarrier.h`.
    const QUERY: libc::c_int = 0;
    const PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
    const REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

    fn call(command: libc::c_int) -> libc::c_long {
        // SAFETY: `membarrier(cmd, flags)` takes two integers and touches no
        // memory of ours; an unknown command fails with EINVAL.
        unsafe { libc::syscall(libc::SYS_membarrier, command, 0 as libc::c_uint) }
    }

    /// Registers the process for expedited private barriers; `false` when
    /// the kernel (or a sandbox) does not offer them.
    pub(super) fn register() -> bool {
        let supported = call(QUERY);
        supported >= 0
            && supported & libc::c_long::from(PRIVATE_EXPEDITED) != 0
            && call(REGISTER_PRIVATE_EXPEDITED) == 0
    }

    /// Every running thread of the process passes a full barrier before
    /// this returns. It cannot fail once registered (the kernel's
    /// contract). Were it to, a leave could go unseen by this waiter: it
    /// would then get in at the next leave, which sees it queued, or be
    /// refused at its `max_wait`; never wait forever.
    pub(super) fn private_expedited() {
        if call(PRIVATE_EXPEDITED) != 0 {
            std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod membarrier {
    pub(super) fn register() -> bool {
        false
    }

    pub(super) fn private_expedited() {
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mode_is_settled_once_and_both_sides_run_in_it() {
        let first = light_is_free();
        heavy();
        assert_eq!(light_is_free(), first);
        assert_ne!(MODE.load(Ordering::Relaxed), UNKNOWN);
        #[cfg(not(target_os = "linux"))]
        assert!(!first, "membarrier exists only on Linux");
    }
}
