use reliability_core::reliable;

struct X;

#[reliable(component = "x", component = "y")]
impl X {
    fn a(&self) {}
}

fn main() {
    X.a();
}
