//! Every option of the attribute together.

#![deny(warnings)]

mod deps {
    pub use reliability_core as rc;
}

use reliability_core::reliable;

struct Downloader;

#[reliable(
    component = "all_options_downloader",
    crate = crate::deps::rc,
    thresholds(
        max_consecutive_failures = 5,
        min_success_rate = 0.5,
        degraded_success_rate = 0.9,
        slow_call = "250ms",
        window = "1.5m",
        min_calls = 10,
    )
)]
impl Downloader {
    fn download(&self, name: &str) -> Result<usize, String> {
        if name.is_empty() {
            Err("empty name".to_owned())
        } else {
            Ok(name.len())
        }
    }

    #[reliable(skip)]
    fn mirror(&self) -> &'static str {
        "mirror.invalid"
    }
}

fn main() {
    assert_eq!(Downloader.download("bert"), Ok(4));
    assert!(Downloader.download("").is_err());
    assert_eq!(Downloader.mirror(), "mirror.invalid");

    let snapshot = reliability_core::snapshot();
    let component = snapshot.component("all_options_downloader").unwrap();
    let download = component.method("download").unwrap();
    assert_eq!(
        (download.calls, download.successes, download.failures),
        (2, 1, 1)
    );
    assert!(
        component.method("mirror").is_none(),
        "a skipped method is not recorded"
    );
}
