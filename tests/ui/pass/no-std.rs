//! A `no_std` crate that links std: the expansion names only `core` and the
//! runtime crate, never the `std` prelude.

#![no_std]
#![deny(warnings)]

extern crate std;

use reliability_core::reliable;

struct Counter {
    value: u32,
}

#[reliable(component = "no_std_counter")]
impl Counter {
    fn bump(&mut self) -> u32 {
        self.value += 1;
        self.value
    }

    fn check(&self) -> Result<u32, &'static str> {
        if self.value > 0 {
            Ok(self.value)
        } else {
            Err("never bumped")
        }
    }
}

fn main() {
    let mut counter = Counter { value: 0 };
    assert!(counter.check().is_err());
    assert_eq!(counter.bump(), 1);
    assert_eq!(counter.check(), Ok(1));

    let snapshot = reliability_core::snapshot();
    let component = snapshot.component("no_std_counter").unwrap();
    assert_eq!(component.method("bump").unwrap().calls, 1);
    assert_eq!(component.method("check").unwrap().failures, 1);
}
