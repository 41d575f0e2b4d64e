//! An impl-level fallback whose types are spelled differently from the
//! method's (`io::Result<u8>` against `std::io::Result<u8>`) still stands in
//! for it: the compiler, not the spelling, decides whether the types agree.

#![deny(warnings)]

use std::io;

use reliability_core::reliable;

struct Store;

#[reliable(component = "spelled_differently", fallback = cached)]
impl Store {
    fn get(&self, key: u8) -> std::io::Result<u8> {
        Err(io::Error::new(io::ErrorKind::PermissionDenied, format!("{key}")))
    }

    fn get_again(&self, key: u8) -> Result<u8, std::io::Error> {
        Err(io::Error::new(io::ErrorKind::PermissionDenied, format!("{key}")))
    }

    fn cached(&self, key: u8) -> io::Result<u8> {
        Ok(key + 1)
    }
}

fn main() {
    assert_eq!(Store.get(1).unwrap(), 2);
    assert_eq!(Store.get_again(2).unwrap(), 3);
}
