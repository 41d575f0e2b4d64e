use std::time::Duration;

use reliability_core::Classify;

#[derive(Debug, Classify)]
enum FetchError {
    #[category(resource_exhausted)]
    Throttled {
        #[retry_after]
        wait: Duration,
        #[retry_after]
        reset: Duration,
    },
}

fn main() {}
