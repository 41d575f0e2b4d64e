use reliability_core::reliable;

struct X;

#[reliable(thresholds(min_calls = 10), thresholds(window = "30s"))]
impl X {
    fn a(&self) {}
}

fn main() {
    X.a();
}
