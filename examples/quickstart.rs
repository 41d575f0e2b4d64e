//! Instruments a small component, makes it fail and succeed, and prints the
//! snapshot as a table and as JSON.
//!
//! Run it with `cargo run --example quickstart`.

use std::fmt;
use std::time::Duration;

use reliability_core::{reliable, HealthStatus};

#[derive(Debug)]
enum FetchError {
    ConnectionReset,
    NotFound(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::ConnectionReset => f.write_str("connection reset by peer"),
            FetchError::NotFound(name) => write!(f, "model `{name}` not found"),
        }
    }
}

/// A stand-in for a network client: every `fail_every`-th call is reset.
struct ModelDownloader {
    calls: u32,
    fail_every: u32,
}

#[reliable(component = "model_downloader")]
impl ModelDownloader {
    fn download(&mut self, name: &str) -> Result<Vec<u8>, FetchError> {
        self.calls += 1;
        std::thread::sleep(Duration::from_millis(u64::from(self.calls % 4)));
        if name.starts_with("missing") {
            return Err(FetchError::NotFound(name.to_owned()));
        }
        if self.calls.is_multiple_of(self.fail_every) {
            return Err(FetchError::ConnectionReset);
        }
        Ok(name.bytes().rev().collect())
    }

    async fn manifest(&self) -> std::io::Result<String> {
        Ok(format!("{} models", self.calls))
    }

    #[reliable(skip)]
    fn reset(&mut self) {
        self.calls = 0;
    }
}

fn main() {
    let mut downloader = ModelDownloader {
        calls: 0,
        fail_every: 4,
    };
    for name in [
        "bert",
        "gpt2",
        "t5",
        "llama",
        "missing-model",
        "whisper",
        "clip",
        "vit",
    ] {
        match downloader.download(name) {
            Ok(bytes) => println!("downloaded {name:<14} {} bytes", bytes.len()),
            Err(error) => println!("failed     {name:<14} {error}"),
        }
    }
    let manifest = block_on(downloader.manifest());
    println!("manifest: {}", manifest.unwrap_or_default());
    downloader.reset();

    // Three failures in a row make the component unhealthy...
    let mut flaky = ModelDownloader {
        calls: 0,
        fail_every: 1,
    };
    for _ in 0..3 {
        let _ = flaky.download("bert");
    }
    let health = reliability_core::manager()
        .component_health("model_downloader")
        .expect("registered on the first call");
    println!(
        "\nafter three resets in a row: {} ({})",
        health.status,
        health.reason.unwrap_or_default()
    );
    assert_eq!(health.status, HealthStatus::Unhealthy);

    // ...and one success is enough to end the run of consecutive failures.
    flaky.fail_every = 1000;
    let _ = flaky.download("bert");
    let health = reliability_core::manager()
        .component_health("model_downloader")
        .expect("registered");
    println!("after one success: {}", health.status);

    let snapshot = reliability_core::snapshot();
    println!("\n{snapshot}\n");
    println!("{}", snapshot.to_json());
}

/// Polls a future on this thread: the example needs no async runtime.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(value) => return value,
            Poll::Pending => std::thread::park(),
        }
    }
}
