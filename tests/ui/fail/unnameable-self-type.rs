use reliability_core::reliable;

trait Describe {
    fn describe(&self) -> u8;
}

#[reliable]
impl Describe for (u8, u8) {
    fn describe(&self) -> u8 {
        self.0
    }
}

fn main() {
    let _ = (1u8, 2u8).describe();
}
