use reliability_core::Classify;

#[derive(Debug, Classify)]
enum FetchError {
    #[category(source)]
    Io(std::io::Error, String),
}

fn main() {}
