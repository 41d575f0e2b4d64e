use reliability_core::reliable;

#[reliable]
fn download() {}

fn main() {
    download();
}
