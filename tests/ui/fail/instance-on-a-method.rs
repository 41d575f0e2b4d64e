use reliability_core::{reliable, Instance};

struct Downloader {
    reliability: Instance,
}

#[reliable(component = "downloader")]
impl Downloader {
    #[reliable(instance = reliability)]
    fn download(&self) -> Result<(), std::io::Error> {
        let _ = &self.reliability;
        Ok(())
    }
}

fn main() {
    let d = Downloader { reliability: Instance::new("h") };
    let _ = d.download();
}
