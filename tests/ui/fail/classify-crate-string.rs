use reliability_core::Classify;

#[derive(Debug, Classify)]
#[category(network, crate = "reliability_core")]
struct Refused;

fn main() {}
