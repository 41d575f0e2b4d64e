//! Async recovery when no timer can wake a backoff: the recovery fails at
//! once with a clear error instead of waiting forever or retrying at once.

mod common;

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reliability_core::{
    clock::Delay, manager, recovery::RecoveryOutcome, recovery::StepOutcome, reliable, Clock,
};

/// A clock whose timer never started: every delay is unavailable.
#[derive(Debug)]
struct NoTimer;

impl Clock for NoTimer {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, _: Duration) {}

    fn delay(&self, _: Duration) -> Delay {
        Delay::unavailable()
    }
}

#[derive(Debug)]
struct Reset;

impl fmt::Display for Reset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection reset by peer")
    }
}

struct Flaky {
    attempts: AtomicU32,
}

#[reliable(component = "no_timer", strategies = [network], max_attempts = 5, base_delay = "10ms")]
impl Flaky {
    async fn fetch(&self) -> Result<u8, Reset> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        Err(Reset)
    }
}

#[test]
fn async_backoff_without_a_timer_fails_the_recovery_with_the_reason() {
    manager().set_clock(Arc::new(NoTimer));
    let flaky = Flaky {
        attempts: AtomicU32::new(0),
    };
    let result = common::block_on(flaky.fetch());
    assert!(result.is_err());
    // The first attempt ran; no retry followed, since none could wait.
    assert_eq!(flaky.attempts.load(Ordering::SeqCst), 1);
    let session = manager()
        .recovery_history()
        .into_iter()
        .rev()
        .find(|s| s.component == "no_timer")
        .expect("a recovery session");
    assert_eq!(session.outcome, RecoveryOutcome::Failed);
    let step = session.steps.last().expect("the retry that could not wait");
    assert_eq!(step.outcome, StepOutcome::Failed);
    let error = step.error.as_deref().unwrap_or_default();
    assert!(error.contains("timer"), "{error}");
}
