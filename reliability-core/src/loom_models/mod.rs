//! The loom models of the lock-free parts, built only by `.ci/loom` (the
//! unit tests with `--cfg loom`). Each part's core is a file of its own that
//! uses `crate::sync` alone, so it is included here unchanged.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Explores every interleaving of `f` (up to `LOOM_MAX_PREEMPTIONS`
/// preemptions, 3 in CI) and prints how many it ran, for the record.
#[cfg(test)]
fn model(f: impl Fn() + Sync + Send + 'static) {
    let runs = std::sync::Arc::new(AtomicU64::new(0));
    let counted = std::sync::Arc::clone(&runs);
    loom::model(move || {
        counted.fetch_add(1, Relaxed);
        f();
    });
    let name = std::thread::current().name().unwrap_or("?").to_owned();
    println!("{name}: {} interleavings", runs.load(Relaxed));
}

mod circuit;
