//! A request head: where it ends, and what it asks for.

/// The method a request uses, among the ones the endpoint knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    Get,
    Head,
    /// Any other token: answered with `405`.
    Other,
}

/// A parsed request line. Headers are read (the head must end) but not kept:
/// every answer is the same whatever they say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Request {
    pub(super) method: Method,
    /// The path, percent-decoded, without the query.
    pub(super) path: String,
}

/// Why a head was not answered with a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rejection {
    /// `400`: not an HTTP/1.x request line, or the head ended early.
    BadRequest,
    /// `431`: the head grew past the cap without ending.
    HeadTooLarge,
    /// `408`: the head did not arrive before its deadline.
    Timeout,
}

/// The length of the head in `buf` (the blank line included), once it has
/// arrived. Bare `\n` line ends are accepted, as RFC 9112 allows.
pub(super) fn head_len(buf: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    for (i, &byte) in buf.iter().enumerate() {
        if byte != b'\n' {
            continue;
        }
        let line = &buf[line_start..i];
        if line.is_empty() || line == b"\r" {
            // A blank line before the request line is tolerated (RFC 9112 §2.2)
            // but ends nothing.
            if line_start > 0 && !only_blank_lines(&buf[..line_start]) {
                return Some(i + 1);
            }
        }
        line_start = i + 1;
    }
    None
}

fn only_blank_lines(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == b'\r' || b == b'\n')
}

/// Parses a complete head (as measured by [`head_len`]).
pub(super) fn parse(head: &[u8]) -> Result<Request, Rejection> {
    let text = std::str::from_utf8(head).map_err(|_| Rejection::BadRequest)?;
    let line = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .find(|l| !l.is_empty())
        .ok_or(Rejection::BadRequest)?;
    let mut parts = line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) => (m, t, v),
        _ => return Err(Rejection::BadRequest),
    };
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-');
    if !token(method) || !matches!(version, "HTTP/1.0" | "HTTP/1.1") || !target.starts_with('/') {
        return Err(Rejection::BadRequest);
    }
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        _ => Method::Other,
    };
    let raw_path = target.split(['?', '#']).next().unwrap_or(target);
    let path = percent_decode(raw_path).ok_or(Rejection::BadRequest)?;
    Ok(Request { method, path })
}

/// `%XX` escapes decoded; `None` for a malformed escape or a result that is
/// not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_ends_at_the_first_blank_line() {
        assert_eq!(head_len(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(head_len(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Some(27));
        assert_eq!(head_len(b"GET / HTTP/1.0\n\nextra"), Some(16));
        // Blank lines before the request line do not end the head.
        assert_eq!(head_len(b"\r\n\r\n"), None);
        assert_eq!(head_len(b"\r\nGET / HTTP/1.1\r\n\r\n"), Some(20));
    }

    #[test]
    fn request_lines_are_parsed_strictly() {
        let ok = parse(b"GET /health/model%20hub?x=1 HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(ok.method, Method::Get);
        assert_eq!(ok.path, "/health/model hub");
        assert_eq!(
            parse(b"HEAD /metrics HTTP/1.0\r\n\r\n").unwrap().method,
            Method::Head
        );
        assert_eq!(
            parse(b"DELETE /metrics HTTP/1.1\r\n\r\n").unwrap().method,
            Method::Other
        );
        for bad in [
            &b"garbage\r\n\r\n"[..],
            b"GET /metrics SPDY/9\r\n\r\n",
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"G\xffT /metrics HTTP/1.1\r\n\r\n",
            b"GET /bad%zz HTTP/1.1\r\n\r\n",
            b"GET /bad%ff HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\n\r\n",
        ] {
            assert_eq!(
                parse(bad),
                Err(Rejection::BadRequest),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
