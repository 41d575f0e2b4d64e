use reliability_core::reliable;

struct X;

#[reliable(crate = "x")]
impl X {
    fn a(&self) {}
}

fn main() {
    X.a();
}
