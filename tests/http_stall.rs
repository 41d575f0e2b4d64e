//! The endpoint under slow, idle, greedy and hostile clients, over loopback:
//! nothing a client does holds `/metrics` for long, or takes the server down.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use reliability_core::{manager, serve, Outcome, ServerConfig};

/// What a client got: the status code, or `None` when the server closed the
/// connection (or reset it) without an answer.
fn status_of(stream: &mut TcpStream) -> Option<u16> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut response = Vec::new();
    match stream.read_to_end(&mut response) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset && response.is_empty() => return None,
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("reading the response: {e}"),
    }
    if response.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 "), "not a response: {text:?}");
    Some(text[9..12].parse().unwrap())
}

fn send(addr: SocketAddr, request: &[u8]) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).unwrap();
    // The server may answer and close before a long request is all written.
    let _ = stream.write_all(request);
    status_of(&mut stream)
}

fn get_metrics(addr: SocketAddr) -> (Option<u16>, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text.get(9..12).and_then(|s| s.parse().ok());
    (status, text)
}

#[test]
fn twenty_idle_connections_do_not_stall_metrics() {
    manager().record("stall", "op", Outcome::Success, Duration::from_millis(1));
    let server = serve("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    // Ten send nothing; ten send part of a head and stop (a slowloris).
    let idle: Vec<TcpStream> = (0..20)
        .map(|i| {
            let mut stream = TcpStream::connect(addr).unwrap();
            if i % 2 == 1 {
                stream
                    .write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
                    .unwrap();
            }
            stream
        })
        .collect();
    for _ in 0..3 {
        let started = Instant::now();
        let (status, text) = get_metrics(addr);
        let took = started.elapsed();
        assert_eq!(status, Some(200));
        assert!(text.contains(r#"reliability_calls_total{component="stall""#));
        eprintln!("/metrics with 20 idle connections open: {took:?}");
        assert!(took < Duration::from_secs(1), "/metrics took {took:?}");
    }
    drop(idle);
    server.shutdown();
}

#[test]
fn a_trickled_head_gets_408_at_its_deadline_not_per_read() {
    let server = ServerConfig::new()
        .with_head_timeout(Duration::from_millis(300))
        .serve("127.0.0.1:0")
        .unwrap();
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    let started = Instant::now();
    stream.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
    let mut writer = stream.try_clone().unwrap();
    // One byte every 50 ms: each read sees progress, the head never ends.
    let trickle = std::thread::spawn(move || {
        for _ in 0..100 {
            if writer.write_all(b"x").is_err() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    });
    let status = status_of(&mut stream);
    let took = started.elapsed();
    assert!(
        matches!(status, Some(408) | None),
        "a trickled head got {status:?}"
    );
    assert!(
        took < Duration::from_secs(2),
        "the deadline was extended: {took:?}"
    );
    drop(stream);
    assert!(trickle.join().unwrap(), "the server kept reading");
    server.shutdown();
}

#[test]
fn connections_past_the_cap_are_closed_at_once() {
    let server = ServerConfig::new()
        .with_max_connections(4)
        .with_head_timeout(Duration::from_secs(30))
        .serve("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();
    let held: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // The server accepts in order: the fifth finds the four admitted.
    let started = Instant::now();
    let status = send(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
    let took = started.elapsed();
    assert!(matches!(status, Some(503) | None), "got {status:?}");
    assert!(took < Duration::from_secs(1), "refusing took {took:?}");
    // The held connections leave: the room they held is free again.
    drop(held);
    assert_eq!(send(addr, b"GET /health HTTP/1.1\r\n\r\n"), Some(200));
    server.shutdown();
}

#[test]
fn garbage_oversized_and_half_closed_heads_get_an_answer_or_a_close() {
    let server = serve("127.0.0.1:0").unwrap();
    let addr = server.local_addr();

    assert_eq!(send(addr, b"\x00\x01\x02garbage\r\n\r\n"), Some(400));
    assert_eq!(send(addr, b"GET /metrics HTTP/1.1\n\n"), Some(200));
    assert_eq!(send(addr, b"GET /metrics HTTP/1.0\r\n\r\n"), Some(200));
    assert_eq!(send(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n"), Some(200));

    // A head past the 8 KiB cap.
    let mut big = b"GET /metrics HTTP/1.1\r\n".to_vec();
    while big.len() < 64 * 1024 {
        big.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let status = send(addr, &big);
    assert!(matches!(status, Some(431) | None), "got {status:?}");
    // A request line alone past the cap, never ended.
    let long_line = format!("GET /{} HTTP/1.1", "a".repeat(20_000));
    let status = send(addr, long_line.as_bytes());
    assert!(matches!(status, Some(431) | None), "got {status:?}");

    // Half-closed after part of a head: 400; before any byte: a close.
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost:").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(status_of(&mut stream), Some(400));
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(status_of(&mut stream), None);

    // A body or a pipelined request after the head is not answered, but the
    // first answer still arrives whole.
    assert_eq!(
        send(
            addr,
            b"GET /health HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n"
        ),
        Some(200)
    );

    // Random bytes, some with a blank line: always 400 / 408 / 431 or a close.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..200 {
        let len = (next() % 300) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if round % 2 == 0 {
            bytes.extend_from_slice(b"\r\n\r\n");
        }
        let mut stream = TcpStream::connect(addr).unwrap();
        let _ = stream.write_all(&bytes);
        let _ = stream.shutdown(Shutdown::Write);
        let status = status_of(&mut stream);
        assert!(
            matches!(status, None | Some(400 | 404 | 405 | 408 | 431)),
            "{bytes:?} got {status:?}"
        );
    }

    // And the server still serves.
    assert_eq!(get_metrics(addr).0, Some(200));
    server.shutdown();
}
