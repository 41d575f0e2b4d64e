//! The downloader component again, with `async fn` methods on tokio: the
//! backoff between retries is awaited, not slept, so the other downloads
//! keep going meanwhile. At most two downloads run at once (`bulkhead`);
//! an attempt that runs past `timeout` is dropped and retried like any
//! timeout; a download the caller abandons counts as cancelled.
//!
//! Run it with `cargo run --example async_downloader`.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reliability_core::{manager, reliable, Classify};

#[derive(Debug, Classify)]
enum FetchError {
    #[category(network)]
    Reset,
    #[category(resource_exhausted)]
    Busy {
        #[retry_after]
        wait: Duration,
    },
    #[category(permission)]
    Forbidden,
    #[category(not_found)]
    NotCached,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Reset => f.write_str("connection reset"),
            FetchError::Busy { wait } => write!(f, "503, retry after {wait:?}"),
            FetchError::Forbidden => f.write_str("403 forbidden"),
            FetchError::NotCached => f.write_str("not in the local cache"),
        }
    }
}

/// A stand-in for the hub: every third request is reset, every fifth is
/// turned away with a `Retry-After`, and one model is gated everywhere.
struct AsyncDownloader {
    requests: AtomicU32,
    stalled: AtomicBool,
}

#[reliable(
    component = "async_downloader",
    strategies = [network, alternatives, fallback, escalate],
    alternatives = [mirror],
    fallback = local_cache,
    max_attempts = 3,
    base_delay = "5ms",
    bulkhead(max_concurrent = 2, max_wait = "1s")
)]
impl AsyncDownloader {
    #[reliable(timeout = "30ms")]
    async fn download(&self, name: &str) -> Result<Vec<u8>, FetchError> {
        let stall = match name {
            "huge" => 50,
            // Its first attempt stalls past the timeout; the retry is quick.
            "phi-2" if !self.stalled.swap(true, Ordering::Relaxed) => 1000,
            _ => 3,
        };
        tokio::time::sleep(Duration::from_millis(stall)).await;
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        match name {
            "llama-2-7b" => Err(FetchError::Forbidden),
            _ if n.is_multiple_of(3) => Err(FetchError::Reset),
            _ if n.is_multiple_of(5) => Err(FetchError::Busy {
                wait: Duration::from_millis(10),
            }),
            _ => Ok(name.as_bytes().to_vec()),
        }
    }

    async fn mirror(&self, name: &str) -> Result<Vec<u8>, FetchError> {
        tokio::time::sleep(Duration::from_millis(10)).await;
        match name {
            "llama-2-7b" => Err(FetchError::Forbidden),
            _ => Ok(name.as_bytes().to_vec()),
        }
    }

    async fn local_cache(&self, name: &str) -> Result<Vec<u8>, FetchError> {
        match name {
            "bert-base" | "t5-small" => Ok(name.as_bytes().to_vec()),
            _ => Err(FetchError::NotCached),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    manager().set_jitter_seed(1);
    let downloader = Arc::new(AsyncDownloader {
        requests: AtomicU32::new(0),
        stalled: AtomicBool::new(false),
    });
    let mut downloads = tokio::task::JoinSet::new();
    for name in [
        "bert-base",
        "resnet-50",
        "t5-small",
        "llama-2-7b",
        "phi-2",
        "whisper-tiny",
    ] {
        let downloader = Arc::clone(&downloader);
        downloads.spawn(async move { (name, downloader.download(name).await) });
    }
    while let Some(Ok((name, result))) = downloads.join_next().await {
        match result {
            Ok(bytes) => println!("{name:<13} ok, {} bytes", bytes.len()),
            Err(error) => println!("{name:<13} failed: {error}"),
        }
    }
    // Dropped by the timeout before it completes: neither a success nor a failure.
    let late = tokio::time::timeout(Duration::from_millis(5), downloader.download("huge")).await;
    println!(
        "{:<13} {}",
        "huge",
        if late.is_err() {
            "abandoned after 5ms"
        } else {
            "done"
        }
    );

    println!();
    for session in manager().recovery_history() {
        let steps: Vec<String> = session
            .steps
            .iter()
            .map(|step| format!("{}:{} {:?}", step.strategy, step.target, step.outcome))
            .collect();
        println!(
            "recovery #{} [{}] {:?}: {}",
            session.id,
            session.category,
            session.outcome,
            steps.join(" → ")
        );
    }
    let snapshot = reliability_core::snapshot();
    let download = snapshot
        .component("async_downloader")
        .and_then(|c| c.method("download"))
        .expect("download was called");
    println!(
        "\ndownload: {} calls ({} succeeded, {} failed, {} cancelled), {} attempts, {} timed out, p95 {:?}",
        download.calls,
        download.successes,
        download.failures,
        download.cancelled,
        download.attempts,
        download.timeouts,
        download.latency.p95
    );
}
