use reliability_core::reliable;

struct X;

#[reliable]
impl X {
    #[reliable(skipp)]
    fn a(&self) -> u8 {
        1
    }

    fn b(&self) -> u8 {
        2
    }
}

fn main() {
    let _ = X.a() + X.b();
}
