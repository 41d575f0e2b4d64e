//! The expansion contains no `unsafe`, so a crate that forbids it can use the attribute.

#![forbid(unsafe_code)]
#![deny(warnings)]

use reliability_core::reliable;

struct Store {
    items: Vec<u8>,
}

#[reliable(component = "forbid_unsafe_store")]
impl Store {
    fn push(&mut self, item: u8) {
        self.items.push(item);
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    async fn first(&self) -> Option<u8> {
        self.items.first().copied()
    }
}

fn main() {
    let mut store = Store { items: Vec::new() };
    store.push(7);
    assert_eq!(store.len(), 1);
    // Building the future is enough to expand and type-check the async path.
    drop(store.first());
}
