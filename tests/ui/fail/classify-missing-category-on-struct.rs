use reliability_core::Classify;

#[derive(Debug, Classify)]
struct Denied {
    user: String,
}

fn main() {
    let _ = Denied { user: String::new() }.category();
}
