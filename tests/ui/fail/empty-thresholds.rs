use reliability_core::reliable;

struct X;

#[reliable(thresholds())]
impl X {
    fn a(&self) {}
}

fn main() {
    X.a();
}
