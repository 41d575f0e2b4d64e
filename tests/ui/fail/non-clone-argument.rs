use reliability_core::reliable;

#[derive(Debug)]
struct Error;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("error")
    }
}

struct Client;

struct Request(u8);

#[reliable(strategies = [retry])]
impl Client {
    fn fetch(&self, request: Request) -> Result<u8, Error> {
        Ok(request.0)
    }
}

fn main() {
    let _ = Client.fetch(Request(1));
}
