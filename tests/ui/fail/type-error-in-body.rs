use reliability_core::reliable;

struct X;

#[reliable]
impl X {
    fn a(&self) -> u8 {
        let x: u8 = "s";
        x
    }
}

fn main() {
    X.a();
}
