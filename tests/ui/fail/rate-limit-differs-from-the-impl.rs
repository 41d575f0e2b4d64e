use reliability_core::{reliable, RateLimited};

#[derive(Debug)]
struct Error;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("error")
    }
}

impl From<RateLimited> for Error {
    fn from(_: RateLimited) -> Self {
        Error
    }
}

struct Client;

#[reliable(component = "mailer", rate_limit(per_second = 10))]
impl Client {
    fn send(&self) -> Result<u8, Error> {
        Ok(1)
    }

    #[reliable(rate_limit(per_second = 10, burst = 2))]
    fn send_many(&self) -> Result<u8, Error> {
        Ok(2)
    }
}

fn main() {}
