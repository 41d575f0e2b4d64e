//! The HTTP endpoint, on std alone: one thread reads request heads from every
//! open connection without blocking, a bounded pool of workers answers them.
//!
//! Why two stages: a client that connects and sends nothing (a stalled
//! scraper, a hung probe, a slowloris) must not hold a worker. With the
//! earlier one-connection-at-a-time server, three such clients held
//! `/metrics` for 15.3 s. Here a waiting head costs one entry in a list that
//! is swept every [`SWEEP`]; only a complete request reaches a worker, and a
//! worker's write is bounded by a deadline.

mod request;
mod routes;

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs,
};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use request::Rejection;
use routes::Response;

/// How often the reader looks at connections whose head has not arrived.
/// 2 ms adds at most that to a request's latency; with 20 idle connections
/// open it costs 10,000 non-blocking reads a second, and nothing while no
/// connection waits (the reader then blocks in `accept`).
const SWEEP: Duration = Duration::from_millis(2);

/// How the endpoint treats its clients.
///
/// # Default
///
/// | setting | default |
/// |---|---|
/// | [`workers`](Self::with_workers) | 16 |
/// | [`max_connections`](Self::with_max_connections) | 128 |
/// | [`head_timeout`](Self::with_head_timeout) | 2 s |
/// | [`write_timeout`](Self::with_write_timeout) | 5 s |
/// | [`max_head`](Self::with_max_head) | 8 KiB |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use reliability_core::ServerConfig;
///
/// let server = ServerConfig::new()
///     .with_workers(4)
///     .with_head_timeout(Duration::from_secs(1))
///     .serve("127.0.0.1:0")
///     .unwrap();
/// server.shutdown();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    workers: usize,
    max_connections: usize,
    head_timeout: Duration,
    write_timeout: Duration,
    max_head: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig::new()
    }
}

impl ServerConfig {
    /// The defaults (see above).
    pub const fn new() -> Self {
        ServerConfig {
            workers: 16,
            max_connections: 128,
            head_timeout: Duration::from_secs(2),
            write_timeout: Duration::from_secs(5),
            max_head: 8 * 1024,
        }
    }

    /// Threads that answer complete requests (at least 1).
    pub const fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Connections open at once, from accept to close, whatever they are
    /// doing (at least 1). A connection past it is closed at once, after a
    /// best-effort `503`; none is queued.
    pub const fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// The time a client has to send its whole request head, counted from
    /// accept (not per read, so trickling bytes does not extend it).
    pub const fn with_head_timeout(mut self, timeout: Duration) -> Self {
        self.head_timeout = timeout;
        self
    }

    /// The time a client has to take the whole response.
    pub const fn with_write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// The longest request head, in bytes (at least 64); a longer one gets `431`.
    pub const fn with_max_head(mut self, bytes: usize) -> Self {
        self.max_head = bytes;
        self
    }

    fn validate(&self) -> io::Result<()> {
        let problem = if self.workers == 0 {
            "workers must be at least 1"
        } else if self.max_connections == 0 {
            "max_connections must be at least 1"
        } else if self.head_timeout.is_zero() || self.write_timeout.is_zero() {
            "timeouts must be longer than zero"
        } else if self.max_head < 64 {
            "max_head must be at least 64 bytes"
        } else {
            return Ok(());
        };
        Err(io::Error::new(io::ErrorKind::InvalidInput, problem))
    }

    /// Serves the manager's state on `addr` (see [`serve`]) with these settings.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a setting out of range; otherwise what binding the
    /// address or starting the threads returned.
    pub fn serve(&self, addr: impl ToSocketAddrs) -> io::Result<ServerHandle> {
        self.validate()?;
        let listener = TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config: *self,
            jobs: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
            stop: AtomicBool::new(false),
            busy: AtomicUsize::new(0),
        });
        let mut handle = ServerHandle {
            addr: local,
            shared: Arc::clone(&shared),
            threads: Vec::with_capacity(self.workers + 1),
        };
        for i in 0..self.workers {
            let shared = Arc::clone(&shared);
            handle.threads.push(
                std::thread::Builder::new()
                    .name(format!("reliability-http-{i}"))
                    .spawn(move || work(&shared))?,
            );
        }
        handle.threads.push(
            std::thread::Builder::new()
                .name("reliability-http-accept".into())
                .spawn(move || Reader::new(listener, shared).run())?,
        );
        Ok(handle)
    }
}

/// Serves the manager's state on `addr` with the default [`ServerConfig`]:
///
/// | request | answer |
/// |---|---|
/// | `GET /` | the status page: every component, refreshed from `/report` |
/// | `GET /metrics` | the Prometheus text (format 0.0.4) |
/// | `GET /health` | every component's health as JSON; `200` when none is unhealthy, `503` otherwise |
/// | `GET /health/<component>` | one component's health (a readiness probe): `200` healthy or degraded, `503` unhealthy, `404` unknown |
/// | `GET /report` | the JSON report |
///
/// `HEAD` answers like `GET` without the body. Another method gets `405`,
/// another path `404`, a head that cannot be parsed `400`, one too long
/// `431`, one too slow `408`. Every response closes its connection.
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
    ServerConfig::new().serve(addr)
}

/// A running server; shutting it down (or dropping it) stops it and joins its
/// threads. A worker that is writing finishes first (at most the write timeout).
#[must_use = "dropping the handle stops the server"]
pub struct ServerHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .field("config", &self.shared.config)
            .finish()
    }
}

impl ServerHandle {
    /// The address the server listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and waits for its threads.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        {
            // Under the lock, so no worker can check `stop` and then miss the
            // notification.
            let _jobs = self.shared.jobs();
            self.shared.stop.store(true, Ordering::SeqCst);
        }
        self.shared.ready.notify_all();
        // Wake the reader if it blocks in accept.
        let _ = TcpStream::connect_timeout(&reachable(self.addr), Duration::from_secs(1));
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// The address to connect to in order to reach a listener bound to `addr`.
fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// What the reader and the workers share.
struct Shared {
    config: ServerConfig,
    jobs: Mutex<VecDeque<Job>>,
    ready: Condvar,
    stop: AtomicBool,
    /// Workers answering a request now.
    busy: AtomicUsize,
}

impl Shared {
    fn jobs(&self) -> MutexGuard<'_, VecDeque<Job>> {
        // A job queue stays consistent whatever panicked while holding it.
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// A connection whose head has been read (or given up on), for a worker.
struct Job {
    stream: TcpStream,
    head: Result<request::Request, Rejection>,
    /// Bytes after the head: a body or a pipelined request, never answered.
    leftover: bool,
}

/// A connection whose head is still arriving.
struct Pending {
    stream: TcpStream,
    buf: Vec<u8>,
    deadline: Instant,
}

/// The accepting, head-reading thread.
struct Reader {
    listener: TcpListener,
    shared: Arc<Shared>,
    pending: Vec<Pending>,
}

impl Reader {
    fn new(listener: TcpListener, shared: Arc<Shared>) -> Self {
        Reader {
            listener,
            shared,
            pending: Vec::new(),
        }
    }

    fn run(mut self) {
        while !self.shared.stopping() {
            // Nothing to sweep: block in accept (no CPU while idle). Else
            // accept what is waiting and sweep.
            let blocking = self.pending.is_empty();
            if self.listener.set_nonblocking(!blocking).is_err() {
                std::thread::sleep(SWEEP);
                continue;
            }
            self.accept_ready(blocking);
            if self.shared.stopping() {
                break;
            }
            self.sweep();
            if !self.pending.is_empty() {
                std::thread::sleep(SWEEP);
            }
        }
        // Connections still waiting for their head are closed with the reader.
    }

    fn accept_ready(&mut self, mut blocking: bool) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if self.shared.stopping() {
                        return;
                    }
                    self.admit(stream);
                    if blocking {
                        // Switch to non-blocking to take what else waits.
                        if self.listener.set_nonblocking(true).is_err() {
                            return;
                        }
                        blocking = false;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    // Out of descriptors, say: back off instead of spinning.
                    std::thread::sleep(SWEEP);
                    return;
                }
            }
        }
    }

    /// Connections open now: waiting for a head, queued, or being answered.
    fn open(&self) -> usize {
        // Read under the queue's lock: a worker takes a job and counts itself
        // busy under it, so a connection is counted exactly once.
        let jobs = self.shared.jobs();
        self.pending.len() + jobs.len() + self.shared.busy.load(Ordering::SeqCst)
    }

    fn admit(&mut self, stream: TcpStream) {
        let max = self.shared.config.max_connections;
        if self.open() >= max {
            // Connections that have left since the last sweep make room.
            self.sweep();
        }
        if self.open() >= max || stream.set_nonblocking(true).is_err() {
            refuse(stream);
            return;
        }
        self.pending.push(Pending {
            stream,
            buf: Vec::new(),
            deadline: Instant::now() + self.shared.config.head_timeout,
        });
    }

    /// Reads what has arrived on each waiting connection; hands complete
    /// (or hopeless) heads to the workers.
    fn sweep(&mut self) {
        let now = Instant::now();
        let max_head = self.shared.config.max_head;
        let mut i = 0;
        while i < self.pending.len() {
            match read_more(&mut self.pending[i], max_head, now) {
                Progress::Waiting => i += 1,
                Progress::Gone => {
                    self.pending.swap_remove(i);
                }
                Progress::Done(head, leftover) => {
                    let pending = self.pending.swap_remove(i);
                    let job = Job {
                        stream: pending.stream,
                        head,
                        leftover,
                    };
                    self.shared.jobs().push_back(job);
                    self.shared.ready.notify_one();
                }
            }
        }
    }
}

enum Progress {
    Waiting,
    /// The peer left before sending anything: nothing to answer.
    Gone,
    Done(Result<request::Request, Rejection>, bool),
}

fn read_more(pending: &mut Pending, max_head: usize, now: Instant) -> Progress {
    let mut chunk = [0u8; 2048];
    loop {
        match pending.stream.read(&mut chunk) {
            Ok(0) if pending.buf.iter().all(u8::is_ascii_whitespace) => return Progress::Gone,
            // Half-closed before the head ended.
            Ok(0) => return Progress::Done(Err(Rejection::BadRequest), false),
            Ok(n) => {
                pending.buf.extend_from_slice(&chunk[..n]);
                if let Some(len) = request::head_len(&pending.buf) {
                    let leftover = pending.buf.len() > len;
                    return Progress::Done(request::parse(&pending.buf[..len]), leftover);
                }
                if pending.buf.len() > max_head {
                    return Progress::Done(Err(Rejection::HeadTooLarge), true);
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                return if now >= pending.deadline {
                    Progress::Done(Err(Rejection::Timeout), false)
                } else {
                    Progress::Waiting
                };
            }
            Err(_) => return Progress::Gone,
        }
    }
}

/// Closes a connection the server has no room for, after a `503` if the
/// socket takes it at once.
fn refuse(stream: TcpStream) {
    use std::io::Write;
    let mut stream = stream;
    let _ = stream.set_nonblocking(true);
    let _ = stream.write(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n",
    );
}

/// A worker: answers queued requests until the server stops.
fn work(shared: &Shared) {
    loop {
        let job = {
            let mut jobs = shared.jobs();
            loop {
                if let Some(job) = jobs.pop_front() {
                    shared.busy.fetch_add(1, Ordering::SeqCst);
                    break job;
                }
                if shared.stopping() {
                    return;
                }
                jobs = shared
                    .ready
                    .wait(jobs)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        // Should answering ever panic, that loses one response, not the
        // worker nor its place in the count.
        let write_timeout = shared.config.write_timeout;
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| answer(job, write_timeout)));
        shared.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

fn answer(job: Job, write_timeout: Duration) {
    let Job {
        mut stream,
        head,
        leftover,
    } = job;
    let response = match &head {
        Ok(request) => routes::route(request),
        Err(rejection) => Response::rejection(*rejection),
    };
    let deadline = Instant::now() + write_timeout;
    if stream.set_nonblocking(false).is_err() {
        return;
    }
    let written = routes::write_by(&mut stream, &response.to_bytes(), deadline);
    if written.is_ok() && (leftover || head.is_err()) {
        // Unread input would turn the close into a reset that can destroy the
        // response in flight: end our side, then discard what has already
        // arrived, without waiting for more.
        let _ = stream.shutdown(Shutdown::Write);
        let _ = stream.set_nonblocking(true);
        let mut sink = [0u8; 4096];
        for _ in 0..16 {
            match stream.read(&mut sink) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
    }
    // Dropping closes: the peer sees the end of the response only once the
    // descriptor is gone.
}
