use reliability_core::Classify;

#[derive(Debug, Classify)]
#[category(source)]
struct Context {
    error: std::io::Error,
    path: String,
}

fn main() {}
