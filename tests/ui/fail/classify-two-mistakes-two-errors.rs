// Two independent mistakes: both are reported, in one pass, and nothing else.

use reliability_core::Classify;

#[derive(Debug, Classify)]
enum FetchError {
    #[category(timeuot)]
    TimedOut,
    Refused,
}

fn main() {
    let _ = FetchError::TimedOut.category();
}
