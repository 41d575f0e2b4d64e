use reliability_core::Classify;

#[derive(Debug, Classify)]
enum FetchError {
    #[category(network)]
    Refused,
    TimedOut,
}

fn main() {
    let _ = FetchError::Refused.category();
}
