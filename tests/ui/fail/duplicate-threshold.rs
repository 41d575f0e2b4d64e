use reliability_core::reliable;

struct X;

#[reliable(thresholds(min_calls = 5, min_calls = 10))]
impl X {
    fn a(&self) {}
}

fn main() {
    X.a();
}
