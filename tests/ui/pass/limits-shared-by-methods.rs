//! Methods of one component may each name its bulkhead and rate limit, as
//! long as the settings are the same (spelled out or by default).

#![deny(warnings)]

use reliability_core::{reliable, BulkheadFull, RateLimited};

#[derive(Debug)]
struct Error;

impl From<BulkheadFull> for Error {
    fn from(_: BulkheadFull) -> Self {
        Error
    }
}

impl From<RateLimited> for Error {
    fn from(_: RateLimited) -> Self {
        Error
    }
}

struct Client;

#[reliable(component = "shared_limits", bulkhead(max_concurrent = 4))]
impl Client {
    fn fetch(&self) -> Result<u8, Error> {
        Ok(1)
    }

    #[reliable(
        bulkhead(max_concurrent = 4, max_wait = "0ms"),
        rate_limit(per_second = 5)
    )]
    fn upload(&self) -> Result<u8, Error> {
        Ok(2)
    }

    #[reliable(rate_limit(per_second = 5, burst = 5))]
    fn delete(&self) -> Result<u8, Error> {
        Ok(3)
    }
}

fn main() {
    assert!(Client.fetch().is_ok());
    assert!(Client.upload().is_ok());
    assert!(Client.delete().is_ok());
}
