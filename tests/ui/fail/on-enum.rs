use reliability_core::reliable;

#[reliable]
enum State {
    Up,
}

fn main() {
    let _ = State::Up;
}
