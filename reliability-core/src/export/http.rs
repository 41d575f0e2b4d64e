//! `/metrics`, `/health` and `/report` over HTTP/1.1, on std alone.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::health::HealthStatus;
use crate::manager::manager;

/// The longest request head read.
const MAX_HEAD: u64 = 8 * 1024;

/// Serves the manager's state on `addr`, one request per connection:
///
/// | request | answer |
/// |---|---|
/// | `GET /metrics` | the Prometheus text (format 0.0.4) |
/// | `GET /health` | every component's health as JSON; `200` when none is unhealthy, `503` otherwise (a liveness or readiness probe) |
/// | `GET /report` | the JSON report |
///
/// Another method on those paths gets `405`, another path `404`, a request
/// that cannot be parsed `400`. The server runs on a thread of its own until
/// the handle is shut down or dropped.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
///
/// let server = reliability_core::serve("127.0.0.1:0").unwrap();
/// let mut stream = std::net::TcpStream::connect(server.local_addr()).unwrap();
/// stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
/// let mut response = String::new();
/// stream.read_to_string(&mut response).unwrap();
/// assert!(response.starts_with("HTTP/1.1 "));
/// server.shutdown();
/// ```
pub fn serve(addr: impl ToSocketAddrs) -> io::Result<ServerHandle> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("reliability-http".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        // A client error ends that connection only.
                        let _ = handle(stream);
                    }
                }
            })?
    };
    Ok(ServerHandle {
        addr: local,
        stop,
        thread: Some(thread),
    })
}

/// A running server; shutting it down (or dropping it) stops it and joins its thread.
#[must_use = "dropping the handle stops the server"]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .finish()
    }
}

impl ServerHandle {
    /// The address the server listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and waits for its thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            // Wake the blocking accept.
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
            let _ = thread.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

struct Response {
    status: u16,
    reason: &'static str,
    content_type: &'static str,
    body: String,
}

impl Response {
    fn text(status: u16, reason: &'static str, body: &str) -> Self {
        Response {
            status,
            reason,
            content_type: "text/plain; charset=utf-8",
            body: format!("{body}\n"),
        }
    }
}

fn handle(mut stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let response = match read_request_line(&stream) {
        Some((method, path)) => route(&method, &path),
        None => Response::text(400, "Bad Request", "bad request"),
    };
    let head =
        format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n",
        response.status,
        response.reason,
        response.content_type,
        response.body.len(),
        if response.status == 405 { "Allow: GET\r\n" } else { "" },
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(response.body.as_bytes())?;
    stream.flush()?;
    stream.shutdown(Shutdown::Both)
}

/// The method and path of a request, after reading its whole head.
fn read_request_line(stream: &TcpStream) -> Option<(String, String)> {
    let mut reader = BufReader::new(stream.take(MAX_HEAD));
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.trim_end().split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !version.starts_with("HTTP/1.") || method.is_empty() {
        return None;
    }
    // Headers are read and ignored, up to the blank line.
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) => return None,
            Ok(_) if header == "\r\n" || header == "\n" => break,
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
    let path = target.split('?').next().unwrap_or(target);
    Some((method.to_owned(), path.to_owned()))
}

fn route(method: &str, path: &str) -> Response {
    let known = matches!(path, "/metrics" | "/health" | "/report");
    if !known {
        return Response::text(
            404,
            "Not Found",
            "not found: try /metrics, /health or /report",
        );
    }
    if method != "GET" {
        return Response::text(405, "Method Not Allowed", "method not allowed: use GET");
    }
    let m = manager();
    match path {
        "/metrics" => Response {
            status: 200,
            reason: "OK",
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: m.snapshot().to_prometheus(),
        },
        "/health" => {
            let health = m.all_component_health();
            let down = health.iter().any(|h| h.status == HealthStatus::Unhealthy);
            Response {
                status: if down { 503 } else { 200 },
                reason: if down { "Service Unavailable" } else { "OK" },
                content_type: "application/json",
                body: crate::export::json::to_string_pretty(&health).unwrap_or_default(),
            }
        }
        _ => Response {
            status: 200,
            reason: "OK",
            content_type: "application/json",
            body: m.report().to_json(),
        },
    }
}
