use reliability_core::reliable;

#[reliable]
struct X;

fn main() {
    let _ = X;
}
