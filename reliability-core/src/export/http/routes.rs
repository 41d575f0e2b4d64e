//! What each path answers, and how an answer is written.

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::Instant;

use super::request::{Method, Rejection, Request};
use crate::health::HealthStatus;
use crate::manager::manager;

/// The status page: one self-contained file (no external script, style or
/// font), so it works on a closed network.
const PAGE: &str = include_str!("page.html");

/// The page may run its own inline script and fetch from its own origin, and
/// nothing else.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
    style-src 'unsafe-inline'; connect-src 'self'; img-src data:";

pub(super) struct Response {
    status: u16,
    content_type: &'static str,
    body: String,
    /// Whether to send the body (not for `HEAD`).
    send_body: bool,
}

impl Response {
    fn new(status: u16, content_type: &'static str, body: String) -> Self {
        Response {
            status,
            content_type,
            body,
            send_body: true,
        }
    }

    fn text(status: u16, body: &str) -> Self {
        Response::new(status, "text/plain; charset=utf-8", format!("{body}\n"))
    }

    fn json(status: u16, body: String) -> Self {
        Response::new(status, "application/json", body)
    }

    #[cfg(test)]
    pub(super) fn status(&self) -> u16 {
        self.status
    }

    /// The answer to a head that could not be read.
    pub(super) fn rejection(rejection: Rejection) -> Self {
        match rejection {
            Rejection::BadRequest => Response::text(400, "bad request"),
            Rejection::HeadTooLarge => Response::text(431, "request head too large"),
            Rejection::Timeout => Response::text(408, "request head timed out"),
        }
    }

    /// The whole response, head and body, as it goes on the wire.
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        let mut extra = String::new();
        if self.status == 405 {
            extra.push_str("Allow: GET, HEAD\r\n");
        }
        if self.content_type.starts_with("text/html") {
            extra.push_str("Content-Security-Policy: ");
            extra.push_str(PAGE_POLICY);
            extra.push_str("\r\n");
        }
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
             Connection: close\r\n{extra}\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len(),
        );
        let mut bytes = head.into_bytes();
        if self.send_body {
            bytes.extend_from_slice(self.body.as_bytes());
        }
        bytes
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// The answer to `request`.
pub(super) fn route(request: &Request) -> Response {
    let path = request.path.as_str();
    let known = matches!(path, "/" | "/metrics" | "/health" | "/report" | "/status")
        || path.strip_prefix("/health/").is_some_and(|c| !c.is_empty());
    if !known {
        return Response::text(
            404,
            "not found: try /, /metrics, /health, /health/<component>, \
             /health/<component>/<instance>, /report or /status",
        );
    }
    if request.method == Method::Other {
        return Response::text(405, "method not allowed: use GET or HEAD");
    }
    let mut response = answer(path);
    response.send_body = request.method == Method::Get;
    response
}

fn answer(path: &str) -> Response {
    let m = manager();
    match path {
        "/" => Response::new(200, "text/html; charset=utf-8", PAGE.to_owned()),
        "/metrics" => Response::new(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            m.snapshot().to_prometheus(),
        ),
        "/report" => Response::json(200, m.report().to_json()),
        "/status" => {
            // What the status page reads: the report with each instance's
            // health, recovery and refusals but not its methods, which are
            // 95 % of a report with a thousand instances.
            let mut report = m.report();
            for component in &mut report.components {
                for instance in &mut component.instances {
                    instance.methods = Default::default();
                    instance.strategies = Vec::new();
                    instance.failures_by_category.clear();
                }
            }
            Response::json(200, report.to_json())
        }
        "/health" => {
            // Each component, followed by its instances (`instance` set).
            // Only components decide the status: an unhealthy instance whose
            // component still serves through the others is not an outage.
            let mut health = Vec::new();
            let mut down = false;
            for component in m.snapshot().components {
                down |= component.health.status == HealthStatus::Unhealthy;
                health.push(component.health);
                health.extend(component.instances.into_iter().map(|i| i.health));
            }
            let body = crate::export::json::to_string_pretty(&health).unwrap_or_default();
            Response::json(if down { 503 } else { 200 }, body)
        }
        _ => {
            let name = path.trim_start_matches("/health/");
            // A component's name may hold a `/`: the whole rest names a
            // component first, then `<component>/<instance>`.
            let found = m.component_health(name).or_else(|| {
                let (component, instance) = name.split_once('/')?;
                m.instance_health(component, instance)
            });
            match found {
                Some(health) => {
                    // Readiness: a degraded component still serves.
                    let status = if health.status == HealthStatus::Unhealthy {
                        503
                    } else {
                        200
                    };
                    let body = crate::export::json::to_string_pretty(&health).unwrap_or_default();
                    Response::json(status, body)
                }
                None => Response::text(404, &format!("no component or instance named `{name}`")),
            }
        }
    }
}

/// Writes all of `bytes` before `deadline`, however slowly the peer reads:
/// the write timeout is what is left of the deadline, not a fresh one per
/// write.
pub(super) fn write_by(
    stream: &mut TcpStream,
    mut bytes: &[u8],
    deadline: Instant,
) -> io::Result<()> {
    while !bytes.is_empty() {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or(io::ErrorKind::TimedOut)?;
        stream.set_write_timeout(Some(left))?;
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, path: &str) -> Request {
        Request {
            method,
            path: path.to_owned(),
        }
    }

    #[test]
    fn head_answers_like_get_without_a_body() {
        let get = route(&request(Method::Get, "/")).to_bytes();
        let head = route(&request(Method::Head, "/")).to_bytes();
        let get = String::from_utf8(get).unwrap();
        let head = String::from_utf8(head).unwrap();
        let (get_head, get_body) = get.split_once("\r\n\r\n").unwrap();
        assert_eq!(head, format!("{get_head}\r\n\r\n"));
        assert!(get_head.contains(&format!("Content-Length: {}", get_body.len())));
        assert!(get_head.contains("Content-Security-Policy: default-src 'none'"));
    }

    #[test]
    fn the_status_keeps_every_instance_without_its_methods() {
        for id in ["a", "b"] {
            let ok = crate::Outcome::Success;
            manager().record_instance("routes_tests_status", id, "get", ok, Default::default());
        }
        let body = |path| {
            let bytes = route(&request(Method::Get, path)).to_bytes();
            let text = String::from_utf8(bytes).unwrap();
            let (_, body) = text.split_once("\r\n\r\n").unwrap();
            serde_json::from_str::<crate::ReliabilityReport>(body).unwrap()
        };
        let (status, report) = (body("/status"), body("/report"));
        let of = |r: &crate::ReliabilityReport| {
            r.components
                .iter()
                .find(|c| c.name == "routes_tests_status")
                .unwrap()
                .clone()
        };
        let (lean, full) = (of(&status), of(&report));
        assert_eq!(lean.instances.len(), 2);
        assert!(lean.instances.iter().all(|i| i.methods.is_empty()));
        assert!(full.instances.iter().all(|i| i.method("get").is_some()));
        assert_eq!(
            lean.instances[1].health.calls,
            full.instances[1].health.calls
        );
        assert_eq!(lean.methods, full.methods);
    }

    #[test]
    fn unknown_paths_and_methods_are_refused() {
        assert_eq!(route(&request(Method::Get, "/nope")).status(), 404);
        assert_eq!(route(&request(Method::Get, "/health/")).status(), 404);
        assert_eq!(
            route(&request(Method::Get, "/health/no such component")).status(),
            404
        );
        let post = route(&request(Method::Other, "/metrics"));
        assert_eq!(post.status(), 405);
        assert!(String::from_utf8(post.to_bytes())
            .unwrap()
            .contains("Allow: GET, HEAD\r\n"));
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for needle in ["http://", "https://", "//cdn", "@import", "<link"] {
            assert!(!PAGE.contains(needle), "the page mentions {needle}");
        }
        assert!(PAGE.contains("fetch(\"/status\""));
    }
}
