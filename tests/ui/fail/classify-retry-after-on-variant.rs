use reliability_core::Classify;

#[derive(Debug, Classify)]
enum FetchError {
    #[category(resource_exhausted)]
    #[retry_after]
    Throttled(std::time::Duration),
}

fn main() {}
