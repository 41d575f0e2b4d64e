use reliability_core::reliable;

#[derive(Debug)]
struct Error;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("error")
    }
}

struct Client;

#[reliable(rate_limit(per_second = 10, max_wait = "10"))]
impl Client {
    fn fetch(&self) -> Result<u8, Error> {
        Ok(1)
    }
}

fn main() {}
