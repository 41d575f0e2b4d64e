use reliability_core::Classify;

#[derive(Debug, Classify)]
#[category(network)]
struct Refused {
    #[category(network)]
    address: String,
}

fn main() {}
