use reliability_core::reliable;

struct X;

#[reliable]
impl X {
    #[reliable(skip)]
    const LIMIT: u8 = 3;

    fn a(&self) -> u8 {
        Self::LIMIT
    }
}

fn main() {
    X.a();
}
