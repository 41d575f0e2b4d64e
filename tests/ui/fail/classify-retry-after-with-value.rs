use reliability_core::Classify;

#[derive(Debug, Classify)]
#[category(resource_exhausted)]
struct Throttled {
    #[retry_after = "5s"]
    wait: std::time::Duration,
}

fn main() {}
