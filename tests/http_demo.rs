//! The demo's `--serve ADDR` and `--linger SECS` options. What it serves is
//! checked end to end in CI (`.ci/prometheus-e2e.sh`, `.ci/chromium-e2e.sh`).

#[path = "../examples/model_downloader/demo/mod.rs"]
mod demo;

use std::net::SocketAddr;
use std::time::Duration;

use demo::{Options, OptionsError};

#[test]
fn serve_and_linger_are_parsed_and_checked() {
    let parse = |args: &[&str]| Options::parse(args.iter().copied());
    let ok = parse(&["--serve", "127.0.0.1:9464", "--linger=30"]).unwrap();
    assert_eq!(
        ok.serve,
        Some("127.0.0.1:9464".parse::<SocketAddr>().unwrap())
    );
    assert_eq!(ok.linger, Duration::from_secs(30));
    let ok = parse(&["--serve=[::1]:0"]).unwrap();
    assert_eq!(ok.serve, Some("[::1]:0".parse::<SocketAddr>().unwrap()));
    assert_eq!(ok.linger, Duration::ZERO);
    assert_eq!(parse(&[]).unwrap().serve, None);
    for bad in [
        &["--serve"][..],
        &["--serve", "localhost"],
        &["--serve", "127.0.0.1"],
        &["--serve", "127.0.0.1:99999"],
        &["--linger", "5"],
        &["--serve", "127.0.0.1:0", "--linger", "-1"],
        &["--serve", "127.0.0.1:0", "--linger", "86401"],
    ] {
        assert!(
            matches!(parse(bad), Err(OptionsError::Invalid(_))),
            "{bad:?} was accepted"
        );
    }
}
