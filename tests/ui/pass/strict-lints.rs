// The expansion brings no `allow` of its own, so a crate that forbids
// lints still compiles.
#![forbid(warnings, unused_imports, unused_qualifications, unreachable_pub)]
#![deny(rust_2018_idioms, single_use_lifetimes, unused_results)]

use reliability_core::reliable;

#[derive(Debug)]
struct Error;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("error")
    }
}

struct Client;

#[reliable(component = "strict_lints", strategies = [retry], base_delay = "1ms")]
impl Client {
    fn fetch(&self, name: &str) -> Result<usize, Error> {
        Ok(name.len())
    }

    fn count(&self) -> usize {
        1
    }
}

fn main() {
    assert_eq!(Client.fetch("abc").unwrap(), 3);
    assert_eq!(Client.count(), 1);
}
