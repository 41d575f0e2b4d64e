//! `/metrics`, `/health` and `/report` over loopback with a real client.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use reliability_core::{manager, serve, ComponentHealth, ReliabilityReport};

/// Sends `request` as is and returns the status code and the body.
fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes(),
    )
}

#[test]
fn endpoints_answer_and_bad_requests_are_refused() {
    manager().record(
        "http_component",
        "op",
        reliability_core::Outcome::Success,
        Duration::from_millis(2),
    );
    let server = serve("127.0.0.1:0").unwrap();
    let addr = server.local_addr();

    let (status, metrics) = get(addr, "/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains(
        r#"reliability_calls_total{component="http_component",method="op",outcome="success"} 1"#
    ));

    let (status, health) = get(addr, "/health?verbose=1");
    assert_eq!(status, 200);
    let health: Vec<ComponentHealth> = serde_json::from_str(&health).unwrap();
    assert!(health.iter().any(|h| h.component == "http_component"));

    let (status, report) = get(addr, "/report");
    assert_eq!(status, 200);
    let report: ReliabilityReport = serde_json::from_str(&report).unwrap();
    assert!(report.components.iter().any(|c| c.name == "http_component"));

    assert_eq!(get(addr, "/nope").0, 404);
    assert_eq!(exchange(addr, b"POST /metrics HTTP/1.1\r\n\r\n").0, 405);
    assert_eq!(exchange(addr, b"garbage\r\n\r\n").0, 400);
    assert_eq!(exchange(addr, b"GET /metrics SPDY/9\r\n\r\n").0, 400);

    // An unhealthy component turns /health into 503.
    for _ in 0..3 {
        manager().record_error("http_down", "op", &"refused", Duration::from_millis(1));
    }
    assert_eq!(get(addr, "/health").0, 503);

    server.shutdown();
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err());
}
