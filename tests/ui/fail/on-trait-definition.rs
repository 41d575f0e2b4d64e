use reliability_core::reliable;

#[reliable]
trait Download {
    fn download(&self);
}

struct X;

impl Download for X {
    fn download(&self) {}
}

fn main() {
    X.download();
}
