//! `hedge` and `timeout` on one method: each leg gets its own timeout.
//! Without a fallback the error type needs `From<TimedOut>`; with one it
//! does not.

#![deny(warnings)]

use reliability_core::{reliable, TimedOut};

#[derive(Debug)]
struct Error;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("error")
    }
}

impl From<TimedOut> for Error {
    fn from(_: TimedOut) -> Self {
        Error
    }
}

/// An error type without `From<TimedOut>`: the fallback answers a timeout.
#[derive(Debug)]
struct Plain;

struct Client;

#[reliable]
impl Client {
    #[reliable(hedge(after = "50ms"), alternatives = [mirror], timeout = "1s")]
    async fn fetch(&self, name: &str) -> Result<u8, Error> {
        Ok(name.len() as u8)
    }

    async fn mirror(&self, name: &str) -> Result<u8, Error> {
        Ok(name.len() as u8 + 1)
    }

    #[reliable(
        hedge(after = "p95", max_extra = 2),
        alternatives = [first, second],
        timeout = "1s",
        fallback = cached
    )]
    async fn fetch_or_cached(&self) -> Result<u8, Plain> {
        Ok(1)
    }

    async fn first(&self) -> Result<u8, Plain> {
        Ok(2)
    }

    async fn second(&self) -> Result<u8, Plain> {
        Ok(3)
    }

    #[reliable(skip)]
    async fn cached(&self) -> Result<u8, Plain> {
        Ok(4)
    }
}

/// The impl's `timeout` and `hedge` apply to its `async fn`s.
struct Search;

#[reliable(hedge(after = "10ms"), timeout = "2s", alternatives = [mirror])]
impl Search {
    async fn find(&self) -> Result<u8, Error> {
        Ok(1)
    }

    async fn mirror(&self) -> Result<u8, Error> {
        Ok(2)
    }
}

fn main() {
    let _ = Client.fetch("bert");
    let _ = Client.fetch_or_cached();
    let _ = Search.find();
}
