use reliability_core::reliable;

struct X;

#[reliable(thresholds(max_consecutive_failures = -1))]
impl X {
    fn a(&self) {}
}

fn main() {
    X.a();
}
