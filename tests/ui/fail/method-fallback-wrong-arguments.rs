use reliability_core::reliable;

#[derive(Debug)]
struct Error;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("error")
    }
}

struct Client;

#[reliable]
impl Client {
    #[reliable(fallback = from_mirror)]
    fn fetch(&self, name: &str) -> Result<u8, Error> {
        Ok(name.len() as u8)
    }

    fn from_mirror(&self) -> Result<u8, Error> {
        Ok(2)
    }
}

fn main() {
    let _ = Client.fetch("x");
}
