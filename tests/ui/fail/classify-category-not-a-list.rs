use reliability_core::Classify;

#[derive(Debug, Classify)]
#[category = "network"]
struct Refused;

fn main() {}
