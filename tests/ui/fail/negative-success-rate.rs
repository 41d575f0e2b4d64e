use reliability_core::reliable;

struct X;

#[reliable(thresholds(degraded_success_rate = -0.5))]
impl X {
    fn a(&self) {}
}

fn main() {
    X.a();
}
