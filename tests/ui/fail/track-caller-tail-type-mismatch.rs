// A `#[track_caller]` body is written in place, not in a closure: a tail of
// the wrong type is still reported at the user's own token.
use reliability_core::reliable;

struct X;

#[reliable]
impl X {
    #[track_caller]
    fn line(&self) -> u8 {
        let line = std::panic::Location::caller().line();
        line
    }
}

fn main() {
    X.line();
}
