//! Instrumenting code that cannot carry the attribute: a client from
//! another crate is timed with `reliability_core::observe`, and each of its
//! failures is handed to `manager().handle_failure`, which classifies it and
//! says what to do next; the loop below does it.
//!
//! Run it with `cargo run --example observe`.

use std::io;
use std::thread;
use std::time::{Duration, Instant};

use reliability_core::{
    manager, observe, recovery::RecoveryContext, recovery::RecoveryPlan, Strategy, StrategyConfig,
};

/// Stands for a crate we do not own: its methods cannot be annotated.
mod vendor {
    use std::cell::Cell;
    use std::io;

    pub struct BlobStore {
        calls: Cell<u32>,
    }

    impl BlobStore {
        pub fn connect() -> Self {
            BlobStore {
                calls: Cell::new(0),
            }
        }

        /// Every third call is reset, every fourth times out; `secrets/`
        /// is off limits and `missing` does not exist.
        pub fn get(&self, key: &str) -> io::Result<Vec<u8>> {
            let n = self.calls.get() + 1;
            self.calls.set(n);
            if key.starts_with("secrets/") {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "access denied",
                ));
            }
            if key == "missing" {
                return Err(io::Error::new(io::ErrorKind::NotFound, "no such blob"));
            }
            if n.is_multiple_of(3) {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "reset by peer",
                ));
            }
            if n.is_multiple_of(4) {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer"));
            }
            Ok(key.as_bytes().to_vec())
        }
    }
}

/// One blob, retried as the manager advises.
fn fetch(store: &vendor::BlobStore, key: &str) -> io::Result<Vec<u8>> {
    let started = Instant::now();
    let mut context = RecoveryContext::new();
    loop {
        let error = match observe("blob_store", "get", || store.get(key)) {
            Ok(bytes) => return Ok(bytes),
            Err(error) => error,
        };
        let action = manager().handle_failure("blob_store", &error, &context);
        match action.plan {
            RecoveryPlan::Retry { strategy, delay } => {
                println!(
                    "  {key}: {error} [{}] → {strategy} in {delay:?}",
                    action.category
                );
                thread::sleep(delay);
                context = context
                    .with_attempts(context.attempts() + 1)
                    .with_elapsed(started.elapsed());
            }
            RecoveryPlan::Escalate => {
                // Permanent errors are never retried, nor is anything while
                // the component is unhealthy.
                let status = manager()
                    .component_health("blob_store")
                    .map_or("unknown", |h| h.status.as_str());
                println!(
                    "  {key}: {error} [{}] → escalate (blob_store is {status})",
                    action.category
                );
                return Err(error);
            }
            plan => {
                println!(
                    "  {key}: {error} [{}] → give up ({plan:?})",
                    action.category
                );
                return Err(error);
            }
        }
    }
}

fn main() {
    // What `handle_failure` plans with: network retries with short delays, then escalation.
    manager().set_default_strategies(
        StrategyConfig::new()
            .with_strategy(Strategy::Network)
            .with_strategy(Strategy::Escalate)
            .with_max_attempts(4)
            .with_base_delay(Duration::from_millis(5)),
    );
    let store = vendor::BlobStore::connect();
    for key in [
        "models/bert",
        "models/t5",
        "models/vit",
        "secrets/token",
        "models/clip",
        "missing",
        "models/gpt2",
    ] {
        match fetch(&store, key) {
            Ok(bytes) => println!("{key:<14} ok, {} bytes", bytes.len()),
            Err(error) => println!("{key:<14} failed: {error}"),
        }
    }

    let snapshot = reliability_core::snapshot();
    let component = snapshot.component("blob_store").expect("observed");
    let get = component.method("get").expect("observed");
    println!(
        "\nblob_store is {}: get made {} calls, {} failed, p95 {:?}, last error: {}",
        component.health.status,
        get.calls,
        get.failures,
        get.latency.p95,
        get.last_error.as_deref().unwrap_or("-")
    );
}
