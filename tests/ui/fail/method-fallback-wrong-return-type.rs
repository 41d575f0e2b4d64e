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
    fn fetch(&self) -> Result<u8, Error> {
        Ok(1)
    }

    fn from_mirror(&self) -> Option<u8> {
        Some(2)
    }
}

fn main() {
    let _ = Client.fetch();
}
