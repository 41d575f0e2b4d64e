use reliability_core::reliable;

struct X;

#[reliable(thresholds(min_success_rate = 0.8, degraded_success_rate = 0.7))]
impl X {
    fn a(&self) {}
}

fn main() {
    X.a();
}
