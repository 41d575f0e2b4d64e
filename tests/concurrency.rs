//! Load: 16 threads calling 4 components with a known mix of successes,
//! errors and panics. Sixteen is more than the 12 stripe slots, so some
//! threads count in stripes of their own (plain stores) and the others on
//! the shared stripe (atomic adds), at once. Afterwards every counter is
//! exact; while it runs, snapshots never go backwards. Debug builds make
//! 12,500 calls per thread; `cargo test --release --test concurrency` makes
//! the full 500,000 (8,000,000 in all).

use std::panic::catch_unwind;
use std::thread;

use reliability_core::{reliable, MetricsSnapshot};

macro_rules! component {
    ($ty:ident, $name:literal) => {
        struct $ty;

        #[reliable(component = $name)]
        impl $ty {
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
    };
}

component!(Alpha, "load_alpha");
component!(Beta, "load_beta");
component!(Gamma, "load_gamma");
component!(Delta, "load_delta");

const THREADS: u64 = 16;
const CALLS: u64 = if cfg!(debug_assertions) {
    12_500
} else {
    500_000
};
const NAMES: [&str; 4] = ["load_alpha", "load_beta", "load_gamma", "load_delta"];

fn call(component: u64, i: u64) {
    let _ = catch_unwind(|| match component {
        0 => Alpha.work(i),
        1 => Beta.work(i),
        2 => Gamma.work(i),
        _ => Delta.work(i),
    });
    match component {
        0 => Alpha.plain(),
        1 => Beta.plain(),
        2 => Gamma.plain(),
        _ => Delta.plain(),
    };
}

/// Each component's counts, `None` before it has registered: snapshots
/// taken while the threads start see the components appear one by one, so
/// counts are compared component by component, not by position.
fn totals(snapshot: &MetricsSnapshot) -> Vec<Option<(u64, u64, u64)>> {
    NAMES
        .iter()
        .map(|name| {
            let m = snapshot.component(name)?.method("work")?;
            Some((m.calls, m.successes, m.failures))
        })
        .collect()
}

#[test]
fn counts_are_exact_under_contention() {
    // The bodies' panics are expected here: keep them quiet, and any other
    // (a failed assertion) as loud as ever.
    let quiet = std::sync::Arc::new(std::panic::take_hook());
    let loud = std::sync::Arc::clone(&quiet);
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload().downcast_ref::<String>();
        if !message.is_some_and(|m| m.starts_with("call ") && m.ends_with(" panicked")) {
            loud(info);
        }
    }));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            thread::spawn(move || {
                for i in 0..CALLS {
                    // Each thread spreads its calls over the four components.
                    call((i + t) % 4, i);
                }
            })
        })
        .collect();
    let mut last = reliability_core::snapshot();
    while !handles.iter().all(|h| h.is_finished()) {
        let now = reliability_core::snapshot();
        for (before, after) in totals(&last).iter().zip(totals(&now).iter()) {
            match (before, after) {
                (Some(before), Some(after)) => assert!(
                    after.0 >= before.0 && after.1 >= before.1 && after.2 >= before.2,
                    "{before:?} -> {after:?}"
                ),
                (Some(_), None) => panic!("a component disappeared"),
                (None, _) => {}
            }
        }
        for component in &now.components {
            assert!((0.0..=1.0).contains(&component.health.success_rate));
            for method in &component.methods {
                assert_eq!(
                    method.calls,
                    method.successes + method.failures + method.cancelled
                );
            }
        }
        last = now;
    }
    for handle in handles {
        handle.join().unwrap();
    }
    std::panic::set_hook(Box::new(move |info| quiet(info)));

    let snapshot = reliability_core::snapshot();
    let mut all = 0;
    for name in NAMES {
        let component = snapshot.component(name).unwrap();
        let work = component.method("work").unwrap();
        let plain = component.method("plain").unwrap();
        // Every thread gives each component a quarter of its calls; i % 10
        // is spread evenly when CALLS is a multiple of 40.
        let per_component = THREADS * CALLS / 4;
        assert_eq!(work.calls, per_component, "{name}");
        assert_eq!(work.failures, per_component / 10 * 2, "{name}");
        assert_eq!(work.panics, per_component / 10, "{name}");
        assert_eq!(work.successes, per_component / 10 * 8, "{name}");
        assert_eq!(plain.successes, per_component, "{name}");
        all += work.calls + plain.calls;
    }
    assert_eq!(snapshot.system.calls, all);
}
