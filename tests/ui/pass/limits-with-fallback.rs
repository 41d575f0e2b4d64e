//! With a fallback, `timeout`, `bulkhead` and `rate_limit` need no `From`
//! on the error type; the impl's `timeout` leaves its sync methods alone.

#![deny(warnings)]

use reliability_core::reliable;

#[derive(Debug)]
pub struct Error;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("error")
    }
}

pub struct Client;

#[reliable(timeout = "2s", bulkhead(max_concurrent = 4, max_wait = "10ms"))]
impl Client {
    #[reliable(rate_limit(per_second = 100, burst = 20, max_wait = "0ms"), fallback = cached)]
    pub async fn fetch(&self, key: u8) -> Result<u8, Error> {
        Ok(key)
    }

    #[reliable(fallback = cached_now)]
    pub fn fetch_now(&self, key: u8) -> Result<u8, Error> {
        Ok(key)
    }

    #[reliable(skip)]
    pub async fn cached(&self, key: u8) -> Result<u8, Error> {
        Ok(key)
    }

    #[reliable(skip)]
    pub fn cached_now(&self, key: u8) -> Result<u8, Error> {
        Ok(key)
    }
}

fn main() {
    let client = Client;
    assert_eq!(client.fetch_now(3).unwrap(), 3);
    let _future = client.fetch(1);
}
