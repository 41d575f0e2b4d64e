use reliability_core::reliable;

#[derive(Debug)]
struct Error;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("error")
    }
}

struct Client;

#[reliable(bulkhead(max_wait = "50ms"))]
impl Client {
    fn fetch(&self) -> Result<u8, Error> {
        Ok(1)
    }
}

fn main() {}
