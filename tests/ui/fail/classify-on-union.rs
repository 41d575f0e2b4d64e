use reliability_core::Classify;

#[derive(Classify)]
#[category(unknown)]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
