use reliability_core::reliable;

struct X;

#[reliable(thresholds(slow_call = "250"))]
impl X {
    fn a(&self) {}
}

fn main() {
    X.a();
}
