use reliability_core::Classify;

#[derive(Debug, Classify)]
#[category(network, timeout)]
struct Refused;

fn main() {}
