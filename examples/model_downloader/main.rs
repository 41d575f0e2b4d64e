//! The model downloader demo: a flaky model hub, a downloader and an
//! installer made reliable by one `#[reliable]` attribute each.
//!
//! ```sh
//! cargo run --example model_downloader -- --seed 7 --models 12 --fault-rate 0.3
//! cargo run --example model_downloader -- --monitor --prometheus
//! cargo run --example model_downloader -- --serve 127.0.0.1:9464 --linger 600
//! ```

mod demo;

fn main() -> std::process::ExitCode {
    demo::cli(std::env::args().skip(1))
}
