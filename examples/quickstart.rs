//! Instruments a small component, makes it fail, lets it recover, and prints
//! the snapshot as a table, as JSON and as Prometheus text.
//!
//! Run it with `cargo run --example quickstart`.

use std::cell::Cell;
use std::fmt;

use reliability_core::{manager, reliable, Classify, ErrorCategory};

#[derive(Debug, Clone)]
enum FetchError {
    ConnectionReset,
    Forbidden(String),
    NotFound(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::ConnectionReset => f.write_str("connection reset by peer"),
            FetchError::Forbidden(name) => write!(f, "403 forbidden: `{name}`"),
            FetchError::NotFound(name) => write!(f, "model `{name}` not found"),
        }
    }
}

impl Classify for FetchError {
    fn category(&self) -> ErrorCategory {
        match self {
            FetchError::ConnectionReset => ErrorCategory::Network,
            FetchError::Forbidden(_) => ErrorCategory::Permission,
            FetchError::NotFound(_) => ErrorCategory::NotFound,
        }
    }
}

/// A stand-in for a network client: every third request is reset, one model
/// is forbidden on the primary, one exists nowhere.
struct ModelDownloader {
    requests: Cell<u32>,
}

#[reliable(
    component = "model_downloader",
    strategies = [network, escalate],
    fallback = mirror,
    max_attempts = 3,
    base_delay = "2ms"
)]
impl ModelDownloader {
    fn download(&self, name: &str) -> Result<Vec<u8>, FetchError> {
        let n = self.requests.get() + 1;
        self.requests.set(n);
        match name {
            "llama" => Err(FetchError::Forbidden(name.to_owned())),
            "ghost" => Err(FetchError::NotFound(name.to_owned())),
            _ if n.is_multiple_of(3) => Err(FetchError::ConnectionReset),
            _ => Ok(name.bytes().rev().collect()),
        }
    }

    fn mirror(&self, name: &str) -> Result<Vec<u8>, FetchError> {
        if name == "ghost" {
            return Err(FetchError::NotFound(name.to_owned()));
        }
        Ok(name.bytes().collect())
    }

    async fn manifest(&self) -> std::io::Result<String> {
        Ok(format!("{} requests so far", self.requests.get()))
    }
}

fn main() {
    let downloader = ModelDownloader {
        requests: Cell::new(0),
    };
    for name in [
        "bert", "gpt2", "t5", "llama", "whisper", "clip", "ghost", "vit",
    ] {
        let last = manager().recovery_history().last().map_or(0, |s| s.id);
        let result = downloader.download(name);
        let session = manager()
            .recovery_history()
            .into_iter()
            .find(|s| s.id > last);
        let how = match (&result, session) {
            (Ok(_), None) => "ok".to_owned(),
            (Ok(_), Some(s)) => format!(
                "recovered by {} after \"{}\" ({} attempts)",
                s.recovered_by.map_or("?", |x| x.as_str()),
                s.error,
                s.steps.last().and_then(|step| step.attempt).unwrap_or(1)
            ),
            (Err(error), Some(s)) => format!("{:?}: {error}", s.outcome),
            (Err(error), None) => format!("failed: {error}"),
        };
        println!("download {name:<8} {how}");
    }
    println!(
        "manifest: {}",
        block_on(downloader.manifest()).unwrap_or_default()
    );

    let health = manager()
        .component_health("model_downloader")
        .expect("registered");
    println!(
        "\nmodel_downloader is {}; needs attention: {}",
        health.status, health.needs_attention
    );
    for session in manager().recovery_history() {
        let steps: Vec<String> = session
            .steps
            .iter()
            .map(|s| format!("{}({}) {:?}", s.strategy, s.target, s.outcome))
            .collect();
        println!(
            "  recovery #{} {}::{} [{}] {:?}: {}",
            session.id,
            session.component,
            session.method,
            session.category,
            session.outcome,
            steps.join(" → ")
        );
    }

    let snapshot = reliability_core::snapshot();
    println!("\n{snapshot}\n");
    println!("{}", snapshot.to_json());
    println!("{}", snapshot.to_prometheus());
}

/// Polls a future on this thread: the example needs no async runtime.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return value;
        }
    }
}
