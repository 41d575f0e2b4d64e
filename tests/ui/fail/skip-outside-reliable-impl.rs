use reliability_core::reliable;

struct X;

impl X {
    #[reliable(skip)]
    fn a(&self) {}
}

fn main() {
    X.a();
}
