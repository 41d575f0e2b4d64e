use reliability_core::reliable;

struct X;

#[reliable]
impl X {
    #[reliable]
    fn a(&self) {}
}

fn main() {
    X.a();
}
