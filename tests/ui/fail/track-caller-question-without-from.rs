use reliability_core::reliable;

#[derive(Debug)]
struct Error;

struct Parser;

#[reliable]
impl Parser {
    #[track_caller]
    fn number(&self, text: &str) -> Result<u32, Error> {
        let value: u32 = text.parse()?;
        Ok(value)
    }
}

fn main() {
    let _ = Parser.number("1");
}
