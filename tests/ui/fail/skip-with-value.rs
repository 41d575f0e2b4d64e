use reliability_core::reliable;

struct X;

#[reliable]
impl X {
    #[reliable(skip = true)]
    fn a(&self) {}
}

fn main() {
    X.a();
}
