use reliability_core::reliable;

struct X;

#[reliable]
impl X {
    fn a(&self) -> u8 {
        5u16
    }
}

fn main() {
    X.a();
}
