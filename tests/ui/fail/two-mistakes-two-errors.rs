// Two independent mistakes: both are reported, in one pass.

use reliability_core::reliable;

struct X;

#[reliable(componnet = "x", thresholds(window = "0s"))]
impl X {
    fn a(&self) {}
}

fn main() {
    X.a();
}
