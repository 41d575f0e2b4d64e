use reliability_core::reliable;

struct X;

#[reliable(thresholds(min_calls = 99999999999))]
impl X {
    fn a(&self) {}
}

fn main() {
    X.a();
}
