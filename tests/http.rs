//! `/`, `/metrics`, `/health`, `/health/<component>` and `/report` over
//! loopback with a real client.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use reliability_core::{manager, serve, ComponentHealth, ReliabilityReport, ServerConfig};

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

    // Per-component readiness: 200 for a serving component, 503 for an
    // unhealthy one, 404 for a name nobody registered.
    let (status, one) = get(addr, "/health/http_component");
    assert_eq!(status, 200);
    let one: ComponentHealth = serde_json::from_str(&one).unwrap();
    assert_eq!(one.component, "http_component");
    assert_eq!(get(addr, "/health/http_down").0, 503);
    assert_eq!(get(addr, "/health/no_such_component").0, 404);

    // HEAD: the same head as GET, no body.
    let (status, body) = exchange(addr, b"HEAD /report HTTP/1.1\r\n\r\n");
    assert_eq!((status, body.as_str()), (200, ""));

    // The status page.
    let (status, page) = get(addr, "/");
    assert_eq!(status, 200);
    assert!(page.starts_with("<!doctype html>"));

    server.shutdown();
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err());
}

#[test]
fn settings_out_of_range_are_refused_with_a_typed_error() {
    for config in [
        ServerConfig::new().with_workers(0),
        ServerConfig::new().with_max_connections(0),
        ServerConfig::new().with_head_timeout(Duration::ZERO),
        ServerConfig::new().with_write_timeout(Duration::ZERO),
        ServerConfig::new().with_max_head(10),
    ] {
        let error = config.serve("127.0.0.1:0").unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{config:?}");
    }
}

#[test]
fn health_and_report_name_each_instance() {
    use reliability_core::{HealthStatus, Outcome};
    let ms = Duration::from_millis(1);
    for _ in 0..10 {
        manager().record_instance("http_instances", "bad-host", "get", Outcome::Failure, ms);
    }
    // Enough successes that the component itself stays healthy (other
    // tests here read the status of `/health`).
    for _ in 0..100 {
        manager().record_instance("http_instances", "good-host", "get", Outcome::Success, ms);
    }
    let server = serve("127.0.0.1:0").unwrap();
    let addr = server.local_addr();

    let (status, bad) = get(addr, "/health/http_instances/bad-host");
    assert_eq!(status, 503, "{bad}");
    let bad: ComponentHealth = serde_json::from_str(&bad).unwrap();
    assert_eq!(
        (bad.instance.as_deref(), bad.status, bad.failures),
        (Some("bad-host"), HealthStatus::Unhealthy, 10)
    );
    let (status, good) = get(addr, "/health/http_instances/good-host");
    assert_eq!(status, 200, "{good}");
    assert_eq!(get(addr, "/health/http_instances/no-such-host").0, 404);

    let (_, listed) = get(addr, "/health");
    let listed: Vec<ComponentHealth> = serde_json::from_str(&listed).unwrap();
    let of_component: Vec<Option<&str>> = listed
        .iter()
        .filter(|h| h.component == "http_instances")
        .map(|h| h.instance.as_deref())
        .collect();
    assert_eq!(of_component, [None, Some("bad-host"), Some("good-host")]);

    let (_, report) = get(addr, "/report");
    let report: ReliabilityReport = serde_json::from_str(&report).unwrap();
    let component = report
        .components
        .iter()
        .find(|c| c.name == "http_instances")
        .unwrap();
    let ids: Vec<&str> = component.instances.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["bad-host", "good-host"]);
    assert_eq!(component.method("get").unwrap().calls, 110);
    server.shutdown();
}
