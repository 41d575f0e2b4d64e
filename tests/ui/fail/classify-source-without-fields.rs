use reliability_core::Classify;

#[derive(Debug, Classify)]
enum FetchError {
    #[category(source)]
    Refused,
}

fn main() {
    let _ = FetchError::Refused.category();
}
