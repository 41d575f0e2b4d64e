use reliability_core::reliable;

#[derive(Debug)]
struct Error;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("error")
    }
}

struct Client;

#[reliable(strategies = [retry], base_delay = "5 parsecs")]
impl Client {
    fn fetch(&self) -> Result<u8, Error> {
        Ok(1)
    }

    fn mirror(&self) -> Result<u8, Error> {
        Ok(2)
    }
}

fn main() {
    let _ = Client.fetch();
    let _ = Client.mirror();
}
