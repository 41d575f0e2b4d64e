//! A thousand requests leave no thread and no descriptor behind. One test in
//! its own file: the process's thread count is part of what it measures.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use reliability_core::{manager, serve, Outcome};

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

fn exchange(addr: SocketAddr, request: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response[9..12].parse().unwrap()
}

#[test]
fn a_thousand_requests_leave_no_thread_or_descriptor_behind() {
    manager().record("leaks", "op", Outcome::Success, Duration::from_millis(1));
    let server = serve("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    // One of each first, so that whatever is made once (the manager, the
    // page) is made before counting.
    let requests = [
        "GET /metrics HTTP/1.1\r\n\r\n",
        "GET /health HTTP/1.1\r\n\r\n",
        "GET /health/leaks HTTP/1.1\r\n\r\n",
        "HEAD / HTTP/1.1\r\n\r\n",
        "GET /nope HTTP/1.1\r\n\r\n",
    ];
    for request in requests {
        exchange(addr, request);
    }
    let (fds, threads) = (count("/proc/self/fd"), count("/proc/self/task"));
    let mut statuses = [0usize; 2];
    for i in 0..1000 {
        match exchange(addr, requests[i % requests.len()]) {
            200 => statuses[0] += 1,
            404 => statuses[1] += 1,
            other => panic!("request {i} got {other}"),
        }
    }
    assert_eq!(statuses, [800, 200]);
    assert_eq!(count("/proc/self/fd"), fds, "descriptors leaked");
    assert_eq!(count("/proc/self/task"), threads, "threads leaked");

    // Shutting down joins every thread the server started (16 workers and the reader).
    server.shutdown();
    assert_eq!(count("/proc/self/task"), threads - 17);
    assert_eq!(count("/proc/self/fd"), fds - 1, "the listener is closed");
}
