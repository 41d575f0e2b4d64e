use reliability_core::Classify;

#[derive(Debug, Classify)]
enum FetchError {
    #[category(network)]
    #[category(timeout)]
    Refused,
}

fn main() {
    let _ = FetchError::Refused.category();
}
