use reliability_core::{reliable, Instance};

struct Downloader {
    reliability: Instance,
}

#[reliable(component = "downloader", instance = "reliability")]
impl Downloader {
    fn download(&self) -> Result<(), std::io::Error> {
        let _ = &self.reliability;
        Ok(())
    }
}

fn main() {
    let d = Downloader { reliability: Instance::new("h") };
    let _ = d.download();
}
