//! `#[reliable]` with `#[async_trait]`, in either order (issue 13): the
//! future the trait method returns is what is timed and judged, so failures
//! and latency are those of the body, not of building the future.

mod common;

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use common::{block_on, counts, method};
use reliability_core::reliable;

#[derive(Debug, PartialEq)]
struct Error;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection reset")
    }
}

#[async_trait]
trait Fetch {
    async fn fetch(&self, key: u8) -> Result<u8, Error>;
    async fn slow(&self) -> u8;
}

/// How long `slow` takes: long enough to tell from building a future.
const SLOW: Duration = Duration::from_millis(20);

async fn body(key: u8) -> Result<u8, Error> {
    common::YieldOnce::default().await;
    if key == 0 {
        Err(Error)
    } else {
        Ok(key)
    }
}

async fn slow_body() -> u8 {
    common::YieldOnce::default().await;
    std::thread::sleep(SLOW);
    1
}

struct Outer;

// `#[async_trait]` expands first; `#[reliable]` sees `Box::pin(async move { … })`.
#[async_trait]
#[reliable(component = "async_trait_outer")]
impl Fetch for Outer {
    async fn fetch(&self, key: u8) -> Result<u8, Error> {
        body(key).await
    }

    async fn slow(&self) -> u8 {
        slow_body().await
    }
}

struct Inner;

// `#[reliable]` expands first, on the `async fn`s.
#[reliable(component = "async_trait_inner")]
#[async_trait]
impl Fetch for Inner {
    async fn fetch(&self, key: u8) -> Result<u8, Error> {
        body(key).await
    }

    async fn slow(&self) -> u8 {
        slow_body().await
    }
}

fn check(service: &dyn Fetch, component: &str) {
    assert_eq!(block_on(service.fetch(1)), Ok(1));
    assert_eq!(block_on(service.fetch(0)), Err(Error));
    assert_eq!(counts(component, "fetch"), (2, 1, 1), "{component}");
    assert!(method(component, "fetch")
        .last_error
        .is_some_and(|text| text.contains("connection reset")));
    // Built, not yet polled: the call has not started.
    let future = service.slow();
    let snapshot = reliability_core::snapshot();
    let started = snapshot
        .component(component)
        .and_then(|c| c.method("slow"))
        .map_or(0, |m| m.calls);
    assert_eq!(started, 0, "{component}");
    assert_eq!(block_on(future), 1);
    let slow = method(component, "slow");
    assert_eq!(slow.calls, 1);
    assert!(
        slow.total_latency >= SLOW,
        "{component}: {:?}",
        slow.total_latency
    );
}

#[test]
fn async_trait_outside_reliable() {
    check(&Outer, "async_trait_outer");
}

#[test]
fn async_trait_inside_reliable() {
    check(&Inner, "async_trait_inner");
}

/// Fails the first call, then succeeds.
struct Flaky(AtomicU32);

#[async_trait]
#[reliable(component = "async_trait_retry", strategies = [retry], base_delay = "1ms")]
impl Fetch for Flaky {
    async fn fetch(&self, key: u8) -> Result<u8, Error> {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        body(if n == 0 { 0 } else { key }).await
    }

    async fn slow(&self) -> u8 {
        1
    }
}

#[test]
fn recovery_runs_inside_the_boxed_future() {
    common::manual_clock();
    let flaky = Flaky(AtomicU32::new(0));
    assert_eq!(block_on(flaky.fetch(7)), Ok(7));
    assert_eq!(flaky.0.load(Ordering::SeqCst), 2);
    let fetch = method("async_trait_retry", "fetch");
    assert_eq!((fetch.calls, fetch.successes, fetch.attempts), (1, 1, 2));
}

struct OuterInstance(reliability_core::Instance);
struct InnerInstance(reliability_core::Instance);

#[async_trait]
#[reliable(component = "async_trait_outer_instance", instance = 0)]
impl Fetch for OuterInstance {
    async fn fetch(&self, key: u8) -> Result<u8, Error> {
        body(key).await
    }

    async fn slow(&self) -> u8 {
        1
    }
}

#[reliable(component = "async_trait_inner_instance", instance = 0)]
#[async_trait]
impl Fetch for InnerInstance {
    async fn fetch(&self, key: u8) -> Result<u8, Error> {
        body(key).await
    }

    async fn slow(&self) -> u8 {
        1
    }
}

#[test]
fn a_trait_method_reports_to_its_instance_in_either_order() {
    let outer = OuterInstance(reliability_core::Instance::new("o-1"));
    let inner = InnerInstance(reliability_core::Instance::new("i-1"));
    assert_eq!(block_on(outer.fetch(3)), Ok(3));
    assert_eq!(block_on(outer.fetch(0)), Err(Error));
    assert_eq!(block_on(inner.fetch(0)), Err(Error));
    let snapshot = reliability_core::snapshot();
    for (component, id, expected) in [
        ("async_trait_outer_instance", "o-1", (1, 1)),
        ("async_trait_inner_instance", "i-1", (0, 1)),
    ] {
        let fetch = snapshot
            .component(component)
            .and_then(|c| c.instance(id))
            .and_then(|i| i.method("fetch"))
            .unwrap_or_else(|| panic!("{component}/{id}"))
            .clone();
        assert_eq!((fetch.successes, fetch.failures), expected, "{component}");
    }
}
