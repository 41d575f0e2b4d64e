//! The model hub: a small HTTP/1.1 server on std's `TcpListener`, with a
//! primary and a mirror on two ports, that serves model files with their
//! checksum and injects the faults of a [`FaultPlan`].

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::faults::{fnv1a64, model_bytes, Fault, FaultPlan, Model};

/// How long a slow response keeps the client waiting: well past its read timeout.
pub const SLOW_RESPONSE: Duration = Duration::from_millis(500);
/// The mirror is further away.
const MIRROR_LATENCY: Duration = Duration::from_millis(15);
/// The header that carries a file's FNV-1a 64 checksum, in hex.
pub const CHECKSUM_HEADER: &str = "x-checksum-fnv1a64";

/// Which of the hub's two servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Host {
    Primary,
    Mirror,
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Host::Primary => "primary",
            Host::Mirror => "mirror",
        })
    }
}

/// One request the hub answered, and what it did to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    pub host: Host,
    pub model: String,
    /// The model's request number on that host, from 1.
    pub nth: u32,
    pub fault: Fault,
}

struct Shared {
    plan: FaultPlan,
    models: Vec<Model>,
    /// Each model's bytes and checksum, made once.
    files: Vec<(Vec<u8>, u64)>,
    requests: Mutex<HashMap<(Host, usize), u32>>,
    log: Mutex<Vec<Injection>>,
    stopping: AtomicBool,
}

/// The running hub; dropping it stops both servers.
pub struct ModelHub {
    primary: SocketAddr,
    mirror: SocketAddr,
    shared: Arc<Shared>,
    acceptors: Vec<JoinHandle<()>>,
}

impl ModelHub {
    /// Binds the primary and the mirror on `127.0.0.1:0` and serves `models`.
    pub fn start(plan: FaultPlan, models: Vec<Model>) -> io::Result<Self> {
        let files = models
            .iter()
            .map(|m| {
                let bytes = model_bytes(&m.name);
                let checksum = fnv1a64(&bytes);
                (bytes, checksum)
            })
            .collect();
        let shared = Arc::new(Shared {
            plan,
            models,
            files,
            requests: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
        });
        let mut acceptors = Vec::new();
        let mut addrs = Vec::new();
        for host in [Host::Primary, Host::Mirror] {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            addrs.push(listener.local_addr()?);
            let shared = Arc::clone(&shared);
            acceptors.push(
                thread::Builder::new()
                    .name(format!("hub-{host}"))
                    .spawn(move || accept(&listener, host, &shared))?,
            );
        }
        Ok(ModelHub {
            primary: addrs[0],
            mirror: addrs[1],
            shared,
            acceptors,
        })
    }

    pub fn addr(&self, host: Host) -> SocketAddr {
        match host {
            Host::Primary => self.primary,
            Host::Mirror => self.mirror,
        }
    }

    /// Every request answered so far, in the order they arrived.
    pub fn injections(&self) -> Vec<Injection> {
        lock(&self.shared.log).clone()
    }
}

impl Drop for ModelHub {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // A connection wakes each acceptor, which then sees the flag.
        for addr in [self.primary, self.mirror] {
            let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(200));
        }
        for acceptor in self.acceptors.drain(..) {
            let _ = acceptor.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn accept(listener: &TcpListener, host: Host, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let shared = Arc::clone(shared);
        // One thread per connection, so that a slow response holds up no one else.
        let _ = thread::Builder::new()
            .name(format!("hub-{host}-conn"))
            .spawn(move || {
                let _ = serve(stream, host, &shared);
            });
    }
}

/// The request line's path and whether the client asked caches to revalidate.
struct Request {
    path: String,
    no_cache: bool,
}

fn read_request(stream: &mut TcpStream) -> io::Result<Request> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 || head.len() > 16 * 1024 {
            return Err(io::ErrorKind::InvalidData.into());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let path = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or("/")
        .to_owned();
    let no_cache = lines.any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.eq_ignore_ascii_case("cache-control") && value.contains("no-cache")
        })
    });
    Ok(Request { path, no_cache })
}

fn serve(mut stream: TcpStream, host: Host, shared: &Shared) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let request = read_request(&mut stream)?;
    let found = request
        .path
        .strip_prefix("/models/")
        .and_then(|name| shared.models.iter().position(|m| m.name == name));
    let Some(index) = found else {
        return respond(&mut stream, "404 Not Found", &[], b"no such model");
    };
    let model = &shared.models[index];
    let nth = {
        let mut requests = lock(&shared.requests);
        let count = requests.entry((host, index)).or_insert(0);
        *count += 1;
        *count
    };
    let fault = match host {
        Host::Primary => shared.plan.primary(index, model, nth, request.no_cache),
        Host::Mirror => shared.plan.mirror(model),
    };
    lock(&shared.log).push(Injection {
        host,
        model: model.name.clone(),
        nth,
        fault,
    });
    let (bytes, checksum) = &shared.files[index];
    let checksum = format!("{checksum:016x}");
    match fault {
        Fault::None | Fault::Slow | Fault::Corrupt => {
            if fault == Fault::Slow {
                thread::sleep(SLOW_RESPONSE);
            } else if host == Host::Mirror {
                thread::sleep(MIRROR_LATENCY);
            }
            let mut body = bytes.clone();
            if fault == Fault::Corrupt {
                for byte in body.iter_mut().step_by(997) {
                    *byte ^= 0x5a;
                }
            }
            respond(
                &mut stream,
                "200 OK",
                &[(CHECKSUM_HEADER, &checksum)],
                &body,
            )
        }
        // Closed without a word: to the client, a reset connection.
        Fault::Reset | Fault::Down => stream.shutdown(Shutdown::Both),
        Fault::Unavailable => respond(
            &mut stream,
            "503 Service Unavailable",
            &[("retry-after", "1")],
            b"overloaded",
        ),
        Fault::Forbidden => respond(
            &mut stream,
            "403 Forbidden",
            &[],
            b"gated model: accept its license first",
        ),
    }
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}
