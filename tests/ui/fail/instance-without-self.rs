use reliability_core::{reliable, Instance};

#[allow(dead_code)]
struct Downloader {
    reliability: Instance,
}

#[reliable(component = "downloader", instance = reliability)]
impl Downloader {
    fn ping() -> Result<(), std::io::Error> {
        Ok(())
    }
}

fn main() {
    let _ = Downloader::ping();
}
