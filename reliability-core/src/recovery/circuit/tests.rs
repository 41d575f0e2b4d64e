use std::cell::RefCell;
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use super::breaker::{CircuitBreaker, Permit};
use super::state::assert_valid_sequence;
use super::{CircuitConfig, CircuitState};
use std::time::Instant;

/// Collects what a breaker publishes.
#[derive(Default)]
struct Published(RefCell<Vec<CircuitState>>);

impl Published {
    fn sink(&self) -> impl Fn(CircuitState) + '_ {
        |state| self.0.borrow_mut().push(state)
    }

    fn take(&self) -> Vec<CircuitState> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

fn ignore(_: CircuitState) {}

#[test]
fn opens_after_consecutive_failures_and_recovers_through_half_open() {
    let t0 = Instant::now();
    let seen = Published::default();
    let cb = CircuitBreaker::new(
        CircuitConfig::new()
            .with_open_after(Some(3))
            .with_cool_down(Duration::from_secs(10)),
    );
    for _ in 0..2 {
        assert_eq!(cb.acquire(t0, seen.sink()), Permit::Normal);
        cb.record(Permit::Normal, false, t0, seen.sink());
    }
    // A success in between resets the run.
    cb.record(Permit::Normal, true, t0, seen.sink());
    for _ in 0..2 {
        cb.record(Permit::Normal, false, t0, seen.sink());
    }
    assert_eq!(seen.take(), []);
    cb.record(Permit::Normal, false, t0, seen.sink());
    assert_eq!(seen.take(), [CircuitState::Open]);
    let early = t0 + Duration::from_secs(9);
    assert_eq!(cb.acquire(early, seen.sink()), Permit::Rejected);
    // Cooled down: one probe, others rejected meanwhile.
    let later = t0 + Duration::from_secs(10);
    let probe = cb.acquire(later, seen.sink());
    assert!(probe.is_probe());
    assert_eq!(seen.take(), [CircuitState::HalfOpen]);
    assert_eq!(cb.acquire(later, seen.sink()), Permit::Rejected);
    cb.record(probe, true, later, seen.sink());
    assert_eq!(seen.take(), [CircuitState::Closed]);
    assert_eq!(cb.state(), CircuitState::Closed);
}

#[test]
fn a_failed_probe_opens_again() {
    let t0 = Instant::now();
    let cb = CircuitBreaker::new(
        CircuitConfig::new()
            .with_open_after(Some(1))
            .with_cool_down(Duration::from_secs(1)),
    );
    cb.record(Permit::Normal, false, t0, ignore);
    assert_eq!(cb.state(), CircuitState::Open);
    let t1 = t0 + Duration::from_secs(1);
    let probe = cb.acquire(t1, ignore);
    cb.record(probe, false, t1, ignore);
    assert_eq!(cb.state(), CircuitState::Open);
    // The cool-down starts again from the failed probe.
    let almost = t1 + Duration::from_millis(999);
    assert_eq!(cb.acquire(almost, ignore), Permit::Rejected);
    assert!(cb.acquire(t1 + Duration::from_secs(1), ignore).is_probe());
}

#[test]
fn several_probes_must_all_succeed() {
    let t0 = Instant::now();
    let cb = CircuitBreaker::new(
        CircuitConfig::new()
            .with_open_after(Some(1))
            .with_cool_down(Duration::ZERO)
            .with_half_open_probes(2),
    );
    cb.record(Permit::Normal, false, t0, ignore);
    let first = cb.acquire(t0, ignore);
    let second = cb.acquire(t0, ignore);
    assert!(first.is_probe() && second.is_probe());
    assert_eq!(cb.acquire(t0, ignore), Permit::Rejected);
    cb.record(first, true, t0, ignore);
    assert_eq!(cb.state(), CircuitState::HalfOpen);
    cb.record(second, true, t0, ignore);
    assert_eq!(cb.state(), CircuitState::Closed);
}

/// A probe of an earlier spell that ends late neither closes the current
/// spell (the former breaker closed after one of its two probes) nor opens
/// it again, and each spell admits its own `half_open_probes`.
#[test]
fn a_late_probe_of_an_earlier_spell_changes_nothing() {
    let t0 = Instant::now();
    let cb = CircuitBreaker::new(
        CircuitConfig::new()
            .with_open_after(Some(1))
            .with_cool_down(Duration::ZERO)
            .with_half_open_probes(2),
    );
    cb.record(Permit::Normal, false, t0, ignore);
    let (a, b) = (cb.acquire(t0, ignore), cb.acquire(t0, ignore));
    cb.record(a, false, t0, ignore);
    assert_eq!(cb.state(), CircuitState::Open);
    // The second spell: its own two probes, and no third.
    let (c, d) = (cb.acquire(t0, ignore), cb.acquire(t0, ignore));
    assert!(c.is_probe() && d.is_probe());
    assert_eq!(cb.acquire(t0, ignore), Permit::Rejected);
    // `b` belongs to the first spell.
    cb.record(b, true, t0, ignore);
    cb.record(c, true, t0, ignore);
    assert_eq!(
        cb.state(),
        CircuitState::HalfOpen,
        "one of this spell's two probes"
    );
    let late_failure = b;
    cb.record(late_failure, false, t0, ignore);
    assert_eq!(
        cb.state(),
        CircuitState::HalfOpen,
        "an earlier spell's failure"
    );
    cb.record(d, true, t0, ignore);
    assert_eq!(cb.state(), CircuitState::Closed);
}

#[test]
fn a_probe_from_before_a_reset_does_not_count() {
    let t0 = Instant::now();
    let cb = CircuitBreaker::new(
        CircuitConfig::new()
            .with_open_after(Some(1))
            .with_cool_down(Duration::ZERO),
    );
    cb.record(Permit::Normal, false, t0, ignore);
    let before = cb.acquire(t0, ignore);
    cb.reset();
    cb.record(Permit::Normal, false, t0, ignore);
    let current = cb.acquire(t0, ignore);
    assert_ne!(before, current);
    cb.record(before, true, t0, ignore);
    assert_eq!(cb.state(), CircuitState::HalfOpen);
}

#[test]
fn failure_rate_over_a_window() {
    let t0 = Instant::now();
    let cb = CircuitBreaker::new(
        CircuitConfig::new()
            .with_open_after(None)
            .with_failure_rate(Some(0.5))
            .with_window(10)
            .with_min_calls(4),
    );
    // One failure in four calls, then six successes: the window of ten
    // holds one failure.
    cb.record(Permit::Normal, false, t0, ignore);
    for _ in 0..9 {
        cb.record_normal_success(Instant::now, ignore);
    }
    // Four more failures (the first replaces the old one) make 40 %, the
    // fifth 50 %.
    for _ in 0..4 {
        cb.record(Permit::Normal, false, t0, ignore);
    }
    assert_eq!(cb.state(), CircuitState::Closed);
    cb.record(Permit::Normal, false, t0, ignore);
    assert_eq!(cb.state(), CircuitState::Open);
}

#[test]
fn a_success_that_fills_the_window_to_min_calls_can_open() {
    let cb = CircuitBreaker::new(
        CircuitConfig::new()
            .with_open_after(None)
            .with_failure_rate(Some(0.5))
            .with_window(10)
            .with_min_calls(4),
    );
    for _ in 0..3 {
        cb.record(Permit::Normal, false, Instant::now(), ignore);
    }
    assert_eq!(cb.state(), CircuitState::Closed);
    cb.record_normal_success(Instant::now, ignore);
    assert_eq!(cb.state(), CircuitState::Open, "3 of 4 failed");
}

/// 24 threads on 2 cores, 2 % of attempts failing, a 50 % rule over 64: no
/// 64 consecutive attempts hold more than a few failures, so the circuit
/// never opens. The former ring's failure count could lose a +1 and wrap
/// (and panicked on the subtraction in a debug build).
#[test]
fn a_two_percent_failure_share_never_opens_a_fifty_percent_rule() {
    let cb = CircuitBreaker::new(
        CircuitConfig::new()
            .with_open_after(None)
            .with_failure_rate(Some(0.5))
            .with_window(64)
            .with_min_calls(64),
    );
    let opened = StdMutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..24u64 {
            let (cb, opened) = (&cb, &opened);
            s.spawn(move || {
                let publish = |state| opened.lock().unwrap().push(state);
                for i in 0..20_000u64 {
                    if (i * 24 + t) % 50 == 0 {
                        cb.record(Permit::Normal, false, Instant::now(), publish);
                    } else {
                        cb.record_normal_success(Instant::now, publish);
                    }
                }
            });
        }
    });
    assert_eq!(*opened.lock().unwrap(), []);
    assert_eq!(cb.state(), CircuitState::Closed);
}

/// Many threads drive the circuit through its states at once; listeners see
/// the transitions in the order they happened, which alternate
/// closed → open → half open → (closed or open).
#[test]
fn transitions_are_published_in_order() {
    let cb = CircuitBreaker::new(
        CircuitConfig::new()
            .with_open_after(Some(1))
            .with_cool_down(Duration::ZERO)
            .with_half_open_probes(1),
    );
    let published = StdMutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..16u64 {
            let (cb, published) = (&cb, &published);
            s.spawn(move || {
                let publish = |state| published.lock().unwrap().push(state);
                for i in 0..5_000u64 {
                    let now = Instant::now();
                    let permit = cb.acquire(now, publish);
                    cb.record(permit, (i + t) % 2 == 0, now, publish);
                }
            });
        }
    });
    let published = published.into_inner().unwrap();
    assert!(published.len() > 100, "{} transitions", published.len());
    assert_valid_sequence(&published);
}

/// A listener that calls the breaker again (it reads the component, or
/// makes a call) neither deadlocks nor loses the transition it causes.
#[test]
fn a_listener_may_cause_a_transition() {
    let t0 = Instant::now();
    let cb = CircuitBreaker::new(
        CircuitConfig::new()
            .with_open_after(Some(1))
            .with_cool_down(Duration::ZERO),
    );
    let seen = RefCell::new(Vec::new());
    fn publish<'a>(
        cb: &'a CircuitBreaker,
        seen: &'a RefCell<Vec<CircuitState>>,
        t0: Instant,
    ) -> impl Fn(CircuitState) + 'a {
        move |state| {
            seen.borrow_mut().push(state);
            if state == CircuitState::Open && seen.borrow().len() == 1 {
                // Probe at once, from inside the listener.
                let probe = cb.acquire(t0, |s| seen.borrow_mut().push(s));
                assert!(probe.is_probe());
            }
        }
    }
    cb.record(Permit::Normal, false, t0, publish(&cb, &seen, t0));
    assert_eq!(*seen.borrow(), [CircuitState::Open, CircuitState::HalfOpen]);
}
