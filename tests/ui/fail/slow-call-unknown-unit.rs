use reliability_core::reliable;

struct X;

#[reliable(thresholds(slow_call = "5 parsecs"))]
impl X {
    fn a(&self) {}
}

fn main() {
    X.a();
}
