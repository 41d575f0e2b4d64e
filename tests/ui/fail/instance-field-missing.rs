use reliability_core::{reliable, Instance};

struct Downloader {
    host: String,
    reliability: Instance,
}

#[reliable(component = "downloader", instance = reliabilty)]
impl Downloader {
    fn download(&self) -> Result<String, std::io::Error> {
        Ok(self.host.clone())
    }
}

fn main() {
    let d = Downloader { host: "h".into(), reliability: Instance::new("h") };
    let _ = d.download();
}
