use reliability_core::reliable;

struct X;

#[reliable(componnet = "x")]
impl X {
    fn a(&self) {}
}

fn main() {
    X.a();
}
