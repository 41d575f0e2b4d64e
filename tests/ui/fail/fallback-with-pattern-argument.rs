use reliability_core::reliable;

#[derive(Debug)]
struct Error;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("error")
    }
}

struct Client;

#[reliable(fallback = from_mirror)]
impl Client {
    fn fetch(&self, (a, b): (u8, u8)) -> Result<u8, Error> {
        Ok(a + b)
    }

    fn from_mirror(&self, pair: (u8, u8)) -> Result<u8, Error> {
        Ok(pair.0)
    }
}

fn main() {
    let _ = Client.fetch((1, 2));
}
