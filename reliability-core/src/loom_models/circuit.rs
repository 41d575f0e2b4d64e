//! The circuit breaker: its ring, its spells and the order of its transitions.

// The parts have more than their models use.
#![allow(dead_code)]

#[path = "../recovery/circuit/breaker.rs"]
mod breaker;
#[path = "../recovery/circuit/config.rs"]
mod config;
#[path = "../recovery/circuit/ring.rs"]
mod ring;
#[path = "../recovery/circuit/state.rs"]
mod state;

use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use loom::sync::Arc;
use loom::thread;

use breaker::{CircuitBreaker, Permit};
use config::CircuitConfig;
use ring::Ring;
use state::{assert_valid_sequence, CircuitState};

/// Two threads push into a window of three: every reading counts no
/// more failures than outcomes, and the ring ends holding exactly the
/// failures pushed.
#[test]
fn ring_pushes_are_exact() {
    super::model(|| {
        let ring = Arc::new(Ring::new(3));
        let other = Arc::clone(&ring);
        let t = thread::spawn(move || {
            let a = other.push(true);
            let b = other.push(false);
            [a, b]
        });
        let c = ring.push(true);
        for r in t.join().unwrap().into_iter().chain([c]) {
            assert!(r.failures <= r.filled && r.filled <= 3, "{r:?}");
        }
        let end = ring.push(false);
        // Four outcomes in a window of three: the oldest left. Either
        // failure may have been the oldest, or the success.
        assert!(
            end.filled == 3 && (1..=2).contains(&end.failures),
            "{end:?}"
        );
    });
}

/// A clear racing with pushes leaves a ring whose readings still count
/// no more failures than outcomes, and never overflows.
#[test]
fn ring_clear_races_with_pushes() {
    super::model(|| {
        let ring = Arc::new(Ring::new(2));
        let other = Arc::clone(&ring);
        let t = thread::spawn(move || [other.push(true), other.push(true)]);
        ring.clear();
        let mine = ring.push(false);
        for r in t.join().unwrap().into_iter().chain([mine]) {
            assert!(r.failures <= r.filled && r.filled <= 2, "{r:?}");
        }
    });
}

fn flapping(probes: u32) -> CircuitBreaker {
    CircuitBreaker::new(
        CircuitConfig::new()
            .with_open_after(Some(1))
            .with_cool_down(Duration::ZERO)
            .with_half_open_probes(probes),
    )
}

/// Two threads each take a permit of an open circuit and report: no
/// spell admits more than its one probe, a probe only counts in its own
/// spell, and listeners see a valid sequence that ends in the state
/// the circuit is in.
#[test]
fn spells_and_the_order_of_transitions() {
    super::model(|| {
        let now = Instant::now();
        let cb = Arc::new(flapping(1));
        let seen = Arc::new(StdMutex::new(Vec::new()));
        let sink = |seen: &Arc<StdMutex<Vec<CircuitState>>>| {
            let seen = Arc::clone(seen);
            move |state| seen.lock().unwrap().push(state)
        };
        cb.record(Permit::Normal, false, now, sink(&seen));
        let run = move |cb: Arc<CircuitBreaker>, publish, success| {
            let permit = cb.acquire(now, &publish);
            cb.record(permit, success, now, &publish);
            permit
        };
        let (other, publish) = (Arc::clone(&cb), sink(&seen));
        let t = thread::spawn(move || run(other, publish, true));
        let mine = run(Arc::clone(&cb), sink(&seen), false);
        let theirs = t.join().unwrap();
        if let (Permit::Probe(a), Permit::Probe(b)) = (mine, theirs) {
            assert_ne!(a, b, "two probes in a spell of one");
        }
        let seen = seen.lock().unwrap();
        assert_valid_sequence(&seen);
        assert_eq!(seen.last().copied(), Some(cb.state()), "{seen:?}");
    });
}

/// A success and a failure race into a window of two with a 50 % rule: in
/// every order the circuit opens exactly once, by whichever outcome
/// completes the window (a success on the path that reads no clock, too).
#[test]
fn the_outcome_that_completes_the_window_opens_it() {
    super::model(|| {
        let cb = Arc::new(CircuitBreaker::new(
            CircuitConfig::new()
                .with_open_after(None)
                .with_failure_rate(Some(0.5))
                .with_window(2)
                .with_min_calls(2),
        ));
        let seen = Arc::new(StdMutex::new(Vec::new()));
        let (other, sink) = (Arc::clone(&cb), Arc::clone(&seen));
        let t = thread::spawn(move || {
            other.record_normal_success(Instant::now, |s| sink.lock().unwrap().push(s));
        });
        let sink = Arc::clone(&seen);
        cb.record(Permit::Normal, false, Instant::now(), |s| {
            sink.lock().unwrap().push(s)
        });
        t.join().unwrap();
        assert_eq!(*seen.lock().unwrap(), [CircuitState::Open]);
        assert_eq!(cb.state(), CircuitState::Open);
    });
}

/// A success and a failure race into an empty window of two with a 50 %
/// rule: whichever comes second sees both, so one of them reaches the rate.
/// (A success that skipped its write when it read an empty word could miss
/// a failure that had already ended.)
#[test]
fn the_second_of_two_pushes_sees_both() {
    super::model(|| {
        let ring = Arc::new(Ring::new(2));
        let other = Arc::clone(&ring);
        let t = thread::spawn(move || other.push(false));
        let b = ring.push(true);
        let a = t.join().unwrap();
        assert!(a.reaches(0.5, 2) || b.reaches(0.5, 2), "{a:?} {b:?}");
    });
}
