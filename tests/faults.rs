//! Faults the library must survive: panics in user code it calls (a
//! fallback, a `Classify` impl), shutdown while calls run, and the monitor
//! started and stopped from several threads at once.

use std::fmt;
use std::panic::catch_unwind;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reliability_core::{manager, monitor::MonitorConfig, reliable, Classify, ErrorCategory};

#[derive(Debug)]
struct Boom;

impl fmt::Display for Boom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("boom")
    }
}

/// A `Classify` impl with a bug.
#[derive(Debug)]
struct BadlyClassified;

impl fmt::Display for BadlyClassified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("badly classified")
    }
}

impl Classify for BadlyClassified {
    fn category(&self) -> ErrorCategory {
        panic!("classify bug")
    }
}

struct Service;

#[reliable(component = "faults_fallback", fallback = broken_fallback)]
impl Service {
    fn fetch(&self) -> Result<u8, Boom> {
        Err(Boom)
    }

    fn broken_fallback(&self) -> Result<u8, Boom> {
        panic!("fallback bug")
    }
}

struct Classified;

#[reliable(component = "faults_classify")]
impl Classified {
    fn fetch(&self) -> Result<u8, BadlyClassified> {
        Err(BadlyClassified)
    }
}

fn quietly<R>(f: impl FnOnce() -> R) -> R {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = f();
    std::panic::set_hook(hook);
    result
}

#[test]
fn a_panicking_fallback_is_the_callers_panic_and_counts_stay_right() {
    let payload = quietly(|| catch_unwind(|| Service.fetch())).unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"fallback bug"));
    let snapshot = reliability_core::snapshot();
    let component = snapshot.component("faults_fallback").unwrap();
    let fetch = component.method("fetch").unwrap();
    assert_eq!((fetch.calls, fetch.failures, fetch.panics), (1, 1, 1));
    let fallback = component.method("broken_fallback").unwrap();
    assert_eq!((fallback.calls, fallback.panics), (1, 1));
    // The manager still works.
    assert!(quietly(|| catch_unwind(|| Service.fetch())).is_err());
    assert_eq!(
        reliability_core::snapshot()
            .component("faults_fallback")
            .unwrap()
            .method("fetch")
            .unwrap()
            .calls,
        2
    );
}

#[test]
fn a_panicking_classify_impl_propagates_and_the_call_still_counts() {
    let result = quietly(|| catch_unwind(|| Classified.fetch()));
    assert!(result.is_err(), "the user's own bug surfaces as a panic");
    let fetch = reliability_core::snapshot()
        .component("faults_classify")
        .unwrap()
        .method("fetch")
        .unwrap()
        .clone();
    assert_eq!(fetch.calls, 1);
    assert_eq!(fetch.failures, 1);
}

struct Busy;

#[reliable(component = "faults_busy")]
impl Busy {
    fn work(&self, i: u64) -> Result<u64, Boom> {
        if i.is_multiple_of(5) {
            Err(Boom)
        } else {
            Ok(i)
        }
    }
}

#[test]
fn shutdown_while_calls_run_and_racing_start_stop_are_safe() {
    let running = Arc::new(AtomicBool::new(true));
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let running = Arc::clone(&running);
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut i = 0;
                while running.load(Ordering::Relaxed) {
                    let _ = Busy.work(i);
                    i += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let config = MonitorConfig::new().with_interval(Duration::from_millis(1));
    let togglers: Vec<_> = (0..4)
        .map(|t| {
            let config = config.clone();
            std::thread::spawn(move || {
                for round in 0..50 {
                    if (round + t) % 2 == 0 {
                        manager().start_monitoring(config.clone()).unwrap();
                    } else {
                        manager().stop_monitoring();
                    }
                }
            })
        })
        .collect();
    for toggler in togglers {
        toggler.join().unwrap();
    }
    manager().start_monitoring(config).unwrap();
    assert!(
        manager().shutdown().unwrap().is_none(),
        "no final report configured"
    );
    assert!(!manager().is_monitoring());
    running.store(false, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }
    let work = reliability_core::snapshot()
        .component("faults_busy")
        .unwrap()
        .method("work")
        .unwrap()
        .clone();
    assert_eq!(work.calls, done.load(Ordering::Relaxed));
    assert_eq!(work.calls, work.successes + work.failures);
}
