//! Helpers shared by the behaviour tests.

#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use std::sync::{Arc, OnceLock};

use reliability_core::{manager, ManualClock, MethodSnapshot};

/// A manual clock installed as the manager's clock, once per test binary.
pub fn manual_clock() -> Arc<ManualClock> {
    static CLOCK: OnceLock<Arc<ManualClock>> = OnceLock::new();
    CLOCK
        .get_or_init(|| {
            let clock = Arc::new(ManualClock::new());
            manager().set_clock(clock.clone());
            clock
        })
        .clone()
}

/// The snapshot of one method, which must have been called.
pub fn method(component: &str, method: &str) -> MethodSnapshot {
    let snapshot = reliability_core::snapshot();
    let found = snapshot
        .component(component)
        .unwrap_or_else(|| panic!("no component `{component}`"))
        .method(method)
        .unwrap_or_else(|| panic!("no method `{component}::{method}`"))
        .clone();
    assert_eq!(
        found.calls,
        found.successes + found.failures + found.cancelled,
        "calls must add up for {component}::{method}"
    );
    found
}

/// The snapshot of one method, or zeros before its first call.
pub fn method_or_default(component: &str, name: &str) -> (u64, u64, u64, u64) {
    let snapshot = reliability_core::snapshot();
    snapshot
        .component(component)
        .and_then(|c| c.method(name))
        .map_or((0, 0, 0, 0), |m| {
            (m.timeouts, m.hedges_won, m.hedges_lost, m.rejected)
        })
}

/// `(calls, successes, failures)` of one method.
pub fn counts(component: &str, name: &str) -> (u64, u64, u64) {
    let m = method(component, name);
    (m.calls, m.successes, m.failures)
}

/// Polls a future to completion on this thread, with no runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return value;
        }
    }
}

/// A future that is pending on its first poll and ready on the second.
#[derive(Default)]
pub struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}
