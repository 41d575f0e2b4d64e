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
    #[reliable(hedge(after = "p99"), alternatives = [mirror])]
    async fn fetch(&self) -> Result<u8, Error> {
        Ok(1)
    }

    async fn mirror(&self) -> Result<u8, Error> {
        Ok(2)
    }
}

fn main() {}
