//! Threads calling the same instrumented methods at once lose no update.

use std::panic::catch_unwind;
use std::thread;

use reliability_core::reliable;

struct Shared;

#[reliable(component = "concurrency_shared")]
impl Shared {
    fn work(&self, i: u64) -> Result<u64, String> {
        match i % 10 {
            0 => Err(format!("call {i} failed")),
            7 => panic!("call {i} panicked"),
            _ => Ok(i),
        }
    }

    fn plain(&self) -> u64 {
        1
    }
}

const THREADS: u64 = 4;
const CALLS: u64 = if cfg!(debug_assertions) {
    20_000
} else {
    250_000
};

#[test]
fn counts_are_exact_under_contention() {
    // Panics are expected here; keep the test output readable.
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            thread::spawn(|| {
                for i in 0..CALLS {
                    let _ = catch_unwind(|| Shared.work(i));
                    Shared.plain();
                }
            })
        })
        .collect();
    // Snapshots taken while the threads run never go backwards.
    let mut last = 0;
    while !handles.iter().all(|h| h.is_finished()) {
        let snapshot = reliability_core::snapshot();
        if let Some(work) = snapshot
            .component("concurrency_shared")
            .and_then(|c| c.method("work"))
        {
            assert!(work.calls >= last, "{} < {last}", work.calls);
            assert_eq!(work.calls, work.successes + work.failures + work.cancelled);
            last = work.calls;
        }
    }
    for handle in handles {
        handle.join().unwrap();
    }
    std::panic::set_hook(quiet);

    let snapshot = reliability_core::snapshot();
    let component = snapshot.component("concurrency_shared").unwrap();
    let work = component.method("work").unwrap();
    let total = THREADS * CALLS;
    assert_eq!(work.calls, total);
    assert_eq!(work.failures, total / 10 * 2);
    assert_eq!(work.panics, total / 10);
    assert_eq!(work.successes, total / 10 * 8);
    assert_eq!(component.method("plain").unwrap().successes, total);
}
