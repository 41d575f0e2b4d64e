use reliability_core::reliable;

struct X;

#[reliable(thresholds = 3)]
impl X {
    fn a(&self) {}
}

fn main() {
    X.a();
}
