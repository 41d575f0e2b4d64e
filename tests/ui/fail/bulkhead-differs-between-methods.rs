use reliability_core::{reliable, BulkheadFull};

#[derive(Debug)]
struct Error;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("error")
    }
}

impl From<BulkheadFull> for Error {
    fn from(_: BulkheadFull) -> Self {
        Error
    }
}

struct Client;

#[reliable(component = "hub")]
impl Client {
    #[reliable(bulkhead(max_concurrent = 8, max_wait = "50ms"))]
    fn fetch(&self) -> Result<u8, Error> {
        Ok(1)
    }

    #[reliable(bulkhead(max_concurrent = 2))]
    fn upload(&self) -> Result<u8, Error> {
        Ok(2)
    }
}

fn main() {}
