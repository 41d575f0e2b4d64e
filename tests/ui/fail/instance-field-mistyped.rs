use reliability_core::reliable;

struct Downloader {
    host: String,
}

#[reliable(component = "downloader", instance = host)]
impl Downloader {
    fn download(&self) -> Result<String, std::io::Error> {
        Ok(self.host.clone())
    }
}

fn main() {
    let d = Downloader { host: "h".into() };
    let _ = d.download();
}
