use reliability_core::reliable;

struct X;

#[reliable(thresholds(min_success_rate = 1.5))]
impl X {
    fn a(&self) {}
}

fn main() {
    X.a();
}
