use reliability_core::Classify;

#[derive(Debug, Classify)]
#[category(resource_exhausted)]
struct Throttled {
    #[retry_after]
    wait_ms: u64,
}

fn main() {}
