use reliability_core::reliable;

struct X;

#[reliable(component = 5)]
impl X {
    fn a(&self) {}
}

fn main() {
    X.a();
}
