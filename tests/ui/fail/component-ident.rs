use reliability_core::reliable;

struct X;

#[reliable(component = foo)]
impl X {
    fn a(&self) {}
}

fn main() {
    X.a();
}
