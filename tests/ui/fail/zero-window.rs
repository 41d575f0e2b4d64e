use reliability_core::reliable;

struct X;

#[reliable(thresholds(window = "0s"))]
impl X {
    fn a(&self) {}
}

fn main() {
    X.a();
}
