use reliability_core::reliable;

struct X;

#[reliable]
impl X {
    #[reliable(skip, skip)]
    fn a(&self) {}
}

fn main() {
    X.a();
}
