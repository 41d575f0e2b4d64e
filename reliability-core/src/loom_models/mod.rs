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

mod bulkhead;
mod circuit;
mod state_index;
mod stripe;
mod token_bucket;

/// The models of the stripes, the state table and the token bucket run
/// with a preemption bound of their own and report their run time.
#[cfg(test)]
mod explore {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::sync::Arc;
    use std::time::Instant;

    /// Runs `model` under every interleaving loom finds with at most
    /// `preemptions` preemptions per run (the bound keeps each model to
    /// seconds), and prints how many runs that took and how long.
    pub(crate) fn explore(
        name: &str,
        preemptions: usize,
        model: impl Fn() + Sync + Send + 'static,
    ) {
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&runs);
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(preemptions);
        let started = Instant::now();
        builder.check(move || {
            counted.fetch_add(1, Relaxed);
            model();
        });
        println!(
            "loom model {name}: {} iterations in {:.2?}, preemption bound {preemptions}",
            runs.load(Relaxed),
            started.elapsed()
        );
    }

    /// A reader yields before it reads. Loom's search (0.7) misses the
    /// interleavings where a writer that loads before it stores (a bump, a
    /// `OnceBox`'s look before its compare-and-swap) runs before the
    /// reader's load, when the writer's own load is the object's last
    /// access (tokio-rs/loom#166, #392): without the yield, no model's
    /// reader ever sees a write. After a yield the writers run first, and
    /// the search then puts the reader's load back before each write it
    /// depends on.
    pub(crate) fn reader_yield() {
        loom::thread::yield_now();
    }
}
