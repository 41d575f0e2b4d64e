//! What the primitives' tests share: an executor of a few lines, a waker
//! that counts its wakes, and a future that says when it is dropped.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// Runs a future to completion on the calling thread, parking between
/// polls: no runtime, only `std::task::Wake`. Panics if nothing wakes it
/// for ten seconds, so a lost wake-up fails the test instead of hanging it.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark {
        thread: Thread,
        woken: AtomicBool,
    }
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.woken.store(true, SeqCst);
            self.thread.unpark();
        }
    }
    let unpark = Arc::new(Unpark {
        thread: thread::current(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(Arc::clone(&unpark));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        let give_up = Instant::now() + Duration::from_secs(10);
        while !unpark.woken.swap(false, SeqCst) {
            assert!(Instant::now() < give_up, "the future was never woken");
            thread::park_timeout(Duration::from_millis(100));
        }
    }
}

/// A waker that counts how often it was woken.
#[derive(Debug, Default)]
pub(crate) struct CountingWaker(AtomicUsize);

impl CountingWaker {
    pub(crate) fn new() -> (Arc<Self>, Waker) {
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(Arc::clone(&counter));
        (counter, waker)
    }

    pub(crate) fn wakes(&self) -> usize {
        self.0.load(SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Sets its flag when dropped: put one inside a future to see when the
/// future is dropped.
#[derive(Debug)]
pub(crate) struct DropFlag(pub(crate) Arc<AtomicBool>);

impl DropFlag {
    pub(crate) fn new() -> (Self, Arc<AtomicBool>) {
        let flag = Arc::new(AtomicBool::new(false));
        (DropFlag(Arc::clone(&flag)), flag)
    }
}

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

/// A future that never completes and flags its drop.
pub(crate) async fn never<T>(flag: DropFlag) -> T {
    let _flag = flag;
    std::future::pending().await
}

/// Compiles only if `T` is `Send`: the futures of the primitives must not
/// keep a user's future off a multi-threaded executor.
pub(crate) fn assert_send<T: Send>(_: &T) {}
