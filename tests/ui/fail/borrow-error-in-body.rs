use reliability_core::reliable;

struct X {
    items: Vec<u8>,
}

#[reliable]
impl X {
    fn a(&mut self) -> u8 {
        let first = &self.items[0];
        self.items.push(1);
        *first
    }
}

fn main() {
    X { items: vec![1] }.a();
}
