//! A call and a panic: its own panic is a panic (sync, async, dropped during
//! the unwinding or later); a future dropped while its thread unwinds from a
//! panic elsewhere is a cancellation, not a panic of its method.

mod common;

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::task::{Context, Waker};

use common::{method, YieldOnce};
use reliability_core::{reliable, MethodSnapshot};

struct Worker;

#[reliable(component = "unwinding")]
impl Worker {
    /// Waits once, then succeeds.
    async fn parked(&self) -> Result<u8, String> {
        YieldOnce::default().await;
        Ok(1)
    }

    /// Waits once, then panics.
    async fn panics_after_a_wait(&self) -> Result<u8, String> {
        YieldOnce::default().await;
        panic!("its own panic")
    }

    /// The same, for the test that drops the future later.
    async fn panics_then_dropped_later(&self) -> Result<u8, String> {
        YieldOnce::default().await;
        panic!("its own panic")
    }

    /// Never polled.
    async fn never_polled(&self) -> Result<u8, String> {
        Ok(4)
    }

    fn panics(&self) -> u8 {
        panic!("its own panic")
    }

    fn completes(&self) -> u8 {
        2
    }
}

struct Retried;

#[reliable(component = "unwinding_recovery", strategies = [retry], max_attempts = 3)]
impl Retried {
    /// Waits once, then succeeds: parked inside recovery's watched body.
    async fn parked(&self) -> Result<u8, String> {
        YieldOnce::default().await;
        Ok(3)
    }
}

/// Polls `future` once, which must leave it pending.
fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) {
    let mut cx = Context::from_waker(Waker::noop());
    assert!(future.poll(&mut cx).is_pending());
}

/// Runs `f`, which panics; the panic stops here.
fn unwind(f: impl FnOnce()) {
    assert!(catch_unwind(AssertUnwindSafe(f)).is_err());
}

fn outcome(m: &MethodSnapshot) -> (u64, u64, u64, u64, u64) {
    (m.calls, m.successes, m.failures, m.panics, m.cancelled)
}

#[test]
fn a_future_dropped_while_an_unrelated_panic_unwinds_is_cancelled() {
    unwind(|| {
        let mut parked = pin!(Worker.parked());
        poll_once(parked.as_mut());
        // The future is still on this frame: dropped by the unwinding.
        panic!("somebody else's panic");
    });
    assert_eq!(outcome(&method("unwinding", "parked")), (1, 0, 0, 0, 1));
}

#[test]
fn a_future_parked_inside_recovery_and_dropped_by_an_unrelated_panic_is_cancelled() {
    unwind(|| {
        let mut parked = pin!(Retried.parked());
        poll_once(parked.as_mut());
        panic!("somebody else's panic");
    });
    let parked = method("unwinding_recovery", "parked");
    assert_eq!(outcome(&parked), (1, 0, 0, 0, 1));
}

#[test]
fn a_future_whose_own_poll_panics_is_a_panic_when_dropped_by_that_unwinding() {
    unwind(|| {
        let mut future = pin!(Worker.panics_after_a_wait());
        poll_once(future.as_mut());
        // The second poll panics; the future is dropped as that unwinds.
        let _ = future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
    });
    let m = method("unwinding", "panics_after_a_wait");
    assert_eq!(outcome(&m), (1, 0, 1, 1, 0));
    assert_eq!(m.last_error.as_deref(), Some("panicked"));
}

#[test]
fn a_future_whose_own_poll_panicked_is_a_panic_when_dropped_later() {
    let mut future = Box::pin(Worker.panics_then_dropped_later());
    poll_once(future.as_mut());
    // An executor that catches a task's panic drops the task afterwards,
    // when the thread is no longer panicking.
    unwind(|| {
        let _ = future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
    });
    assert!(!std::thread::panicking());
    drop(future);
    let m = method("unwinding", "panics_then_dropped_later");
    assert_eq!(outcome(&m), (1, 0, 1, 1, 0));
}

#[test]
fn a_sync_panic_is_a_panic() {
    unwind(|| {
        Worker.panics();
    });
    assert_eq!(outcome(&method("unwinding", "panics")), (1, 0, 1, 1, 0));
}

/// Calls a method from its destructor.
struct CallsOnDrop;

impl Drop for CallsOnDrop {
    fn drop(&mut self) {
        assert_eq!(Worker.completes(), 2);
    }
}

#[test]
fn a_call_that_completes_during_an_unrelated_unwinding_is_a_success() {
    unwind(|| {
        let _guard = CallsOnDrop;
        panic!("somebody else's panic");
    });
    assert_eq!(outcome(&method("unwinding", "completes")), (1, 1, 0, 0, 0));
}

#[test]
fn a_future_never_polled_records_nothing_when_an_unrelated_panic_drops_it() {
    unwind(|| {
        let _never_polled = Worker.never_polled();
        panic!("somebody else's panic");
    });
    let snapshot = reliability_core::snapshot();
    let calls = snapshot
        .component("unwinding")
        .and_then(|c| c.method("never_polled"))
        .map_or(0, |m| m.calls);
    assert_eq!(calls, 0);
}
