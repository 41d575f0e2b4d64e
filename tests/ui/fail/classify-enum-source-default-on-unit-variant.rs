use reliability_core::Classify;

// The enum's `source` default cannot apply to a variant without a field.
#[derive(Debug, Classify)]
#[category(source)]
enum FetchError {
    Io(std::io::Error),
    Cancelled,
}

fn main() {
    let _ = FetchError::Cancelled.category();
}
