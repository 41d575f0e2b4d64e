//! The downloader: an HTTP/1.1 client on std's `TcpStream`, and the
//! `ModelDownloader` component whose one `#[reliable]` attribute gives it
//! retries, repair, a mirror, a local cache, a circuit breaker and escalation.
//! The primary and the mirror are two instances of it, one per host.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reliability_core::{reliable, BulkheadFull, CircuitOpen, Classify, Instance};

use super::faults::fnv1a64;
use super::server::{Host, CHECKSUM_HEADER};

pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
/// How long the client waits for each read; the hub's slow responses take longer.
pub const READ_TIMEOUT: Duration = Duration::from_millis(150);
/// What one unit of `Retry-After` is worth. HTTP counts it in seconds; the
/// demo reads it as tens of milliseconds so that honouring it keeps the run
/// short (a real client would use `Duration::from_secs`).
pub const RETRY_AFTER_UNIT: Duration = Duration::from_millis(10);

/// Why a model could not be had. Each variant's category decides which
/// recovery applies (see `#[reliable]` on [`ModelDownloader`]).
#[derive(Debug, Classify)]
pub enum DownloadError {
    /// No connection could be made.
    #[category(network)]
    Connect { host: Host, kind: io::ErrorKind },
    /// The server closed the connection without answering.
    #[category(network)]
    Reset { host: Host },
    /// No byte came within the read timeout.
    #[category(timeout)]
    TimedOut { host: Host },
    /// `503`: come back after `retry_after`.
    #[category(resource_exhausted)]
    Unavailable {
        host: Host,
        #[retry_after]
        retry_after: Duration,
    },
    /// The body does not match its checksum.
    #[category(validation)]
    Corrupt { host: Host },
    /// The response is not HTTP as we know it.
    #[category(validation)]
    Malformed { host: Host, what: &'static str },
    /// `403`: the model is gated.
    #[category(permission)]
    Forbidden { host: Host },
    /// `404`.
    #[category(not_found)]
    NotFound { host: Host },
    /// Another status.
    #[category(system)]
    Status { host: Host, code: u16 },
    /// The local cache does not have the model.
    #[category(not_found)]
    NotCached,
    /// Reading the local cache failed.
    #[category(source)]
    Cache(io::Error),
    /// A downloader without a mirror was asked for the mirror's copy.
    #[category(configuration)]
    NoMirror { host: Host },
    /// The downloader refused the request before making it: its circuit
    /// is open, or its bulkhead full.
    #[category(resource_exhausted)]
    Refused { reason: &'static str },
}

// Short and free of addresses and timings: the texts end up in the demo's
// per-model lines, which must read the same on every run of a seed.
impl fmt::Display for DownloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownloadError::Connect { host, kind } => write!(f, "{host}: cannot connect ({kind})"),
            DownloadError::Reset { host } => write!(f, "{host}: connection reset"),
            DownloadError::TimedOut { host } => write!(f, "{host}: read timed out"),
            DownloadError::Unavailable { host, .. } => write!(f, "{host}: 503 unavailable"),
            DownloadError::Corrupt { host } => write!(f, "{host}: checksum mismatch"),
            DownloadError::Malformed { host, what } => {
                write!(f, "{host}: malformed response ({what})")
            }
            DownloadError::Forbidden { host } => write!(f, "{host}: 403 forbidden"),
            DownloadError::NotFound { host } => write!(f, "{host}: 404 not found"),
            DownloadError::Status { host, code } => write!(f, "{host}: unexpected status {code}"),
            DownloadError::NotCached => f.write_str("not in the local cache"),
            DownloadError::Cache(error) => write!(f, "local cache: {error}"),
            DownloadError::NoMirror { host } => write!(f, "{host}: no mirror configured"),
            DownloadError::Refused { reason } => write!(f, "refused: {reason}"),
        }
    }
}

impl std::error::Error for DownloadError {}

// What the mirror's `fetch`, which has no fallback, returns when its own
// circuit or bulkhead refuses a request. The text leaves out the component,
// which both instances share: the primary's step `alternatives:mirror` says
// where it happened.
impl From<CircuitOpen> for DownloadError {
    fn from(_: CircuitOpen) -> Self {
        DownloadError::Refused {
            reason: "circuit open",
        }
    }
}

impl From<BulkheadFull> for DownloadError {
    fn from(_: BulkheadFull) -> Self {
        DownloadError::Refused {
            reason: "bulkhead full",
        }
    }
}

/// Where a model's bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Primary,
    Mirror,
    LocalCache,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Primary => "primary",
            Source::Mirror => "mirror",
            Source::LocalCache => "local cache",
        }
    }
}

/// A model file whose bytes match their checksum.
#[derive(Debug, Clone)]
pub struct ModelFile {
    pub name: String,
    pub bytes: Vec<u8>,
    pub checksum: u64,
    pub source: Source,
}

/// Downloads models from one of the hub's hosts. The demo makes two, one
/// per host: two instances of one component, each with its own health,
/// circuit and bulkhead. The primary's has the mirror's to fall back on, and
/// a local cache after it.
#[derive(Debug)]
pub struct ModelDownloader {
    host: Host,
    addr: SocketAddr,
    cache_dir: PathBuf,
    /// Set by the repair: the next request asks every cache on the way for
    /// a fresh copy (`Cache-Control: no-cache`), until one arrives intact.
    revalidate: AtomicBool,
    /// The downloader of the mirror, for the primary's alternative.
    mirror: Option<Arc<ModelDownloader>>,
    /// Which instance of `model_downloader` this one reports to (its host).
    reliability: Instance,
}

#[reliable(
    component = "model_downloader",
    instance = reliability,
    strategies = [network, repair, alternatives, fallback, circuit_breaker, escalate],
    repair = clear_cache,
    alternatives = [mirror],
    fallback = local_cache,
    max_attempts = 3,
    base_delay = "5ms",
    max_delay = "40ms",
    max_elapsed = "2s",
    open_after = 5,
    cool_down = "190ms",
    // The fallback and the alternative report to the primary's instance too,
    // and the mirror's `fetch` to the mirror's: a gated model fails four
    // calls of the component in a row (download, mirror, fetch, local cache).
    thresholds(max_consecutive_failures = 5)
)]
impl ModelDownloader {
    /// A model from this downloader's host, checked against the checksum it
    /// came with: the primary's call, with the whole recovery chain.
    pub fn download(&self, name: &str) -> Result<ModelFile, DownloadError> {
        let fresh = self.revalidate.load(Ordering::Relaxed);
        let file = self.get_model(name, fresh)?;
        self.revalidate.store(false, Ordering::Relaxed);
        Ok(file)
    }

    /// The primary's alternative: the same model from the mirror's
    /// downloader, whose `fetch` counts on the mirror's instance.
    pub fn mirror(&self, name: &str) -> Result<ModelFile, DownloadError> {
        match &self.mirror {
            Some(mirror) => mirror.fetch(name),
            None => Err(DownloadError::NoMirror { host: self.host }),
        }
    }

    /// The copy an earlier run left in the local cache, if it is intact.
    pub fn local_cache(&self, name: &str) -> Result<ModelFile, DownloadError> {
        let path = self.cache_dir.join(format!("{name}.bin"));
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(DownloadError::NotCached)
            }
            Err(error) => return Err(DownloadError::Cache(error)),
        };
        let recorded = fs::read_to_string(path.with_extension("fnv1a64"))
            .ok()
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok());
        let checksum = fnv1a64(&bytes);
        if recorded != Some(checksum) {
            return Err(DownloadError::NotCached);
        }
        Ok(ModelFile {
            name: name.to_owned(),
            bytes,
            checksum,
            source: Source::LocalCache,
        })
    }

    /// The repair for a corrupt download: forget what the caches gave us.
    pub fn clear_cache(&self) {
        self.revalidate.store(true, Ordering::Relaxed);
    }
}

// The mirror's request, in a block of its own with a narrower chain: a
// circuit and a bulkhead, no retries (its caller has a chain of its own).
// On a method of the block above, `#[reliable(strategies = [circuit_breaker])]`
// would not do: the block's `repair`, `alternatives` and `fallback` name
// methods, and naming a method enables its strategy, so a failed `fetch` of
// the mirror would try `mirror` and `local_cache` of the mirror's instance.
// The circuit and the thresholds repeat the block above's.
#[reliable(
    component = "model_downloader",
    instance = reliability,
    strategies = [circuit_breaker],
    open_after = 5,
    cool_down = "190ms",
    bulkhead(max_concurrent = 2, max_wait = "50ms"),
    thresholds(max_consecutive_failures = 5)
)]
impl ModelDownloader {
    /// A model from this downloader's host. The mirror's circuit is its own,
    /// so the primary's outage never closes it off, and its bulkhead keeps
    /// the mirror, which every failing primary request turns to, to two
    /// requests at once; a refusal is `DownloadError::Refused`.
    pub fn fetch(&self, name: &str) -> Result<ModelFile, DownloadError> {
        self.get_model(name, false)
    }
}

impl ModelDownloader {
    /// The downloader of `host` at `addr`, the instance `host` of
    /// `model_downloader`; `mirror`, when given, is its alternative.
    pub fn new(
        host: Host,
        addr: SocketAddr,
        cache_dir: PathBuf,
        mirror: Option<Arc<ModelDownloader>>,
    ) -> Self {
        ModelDownloader {
            host,
            addr,
            cache_dir,
            revalidate: AtomicBool::new(false),
            mirror,
            reliability: Instance::new(host.to_string()),
        }
    }

    /// The instance this downloader reports to.
    pub fn instance(&self) -> &str {
        self.reliability.id()
    }

    fn get_model(&self, name: &str, fresh: bool) -> Result<ModelFile, DownloadError> {
        let host = self.host;
        let response = get(self.addr, host, &format!("/models/{name}"), fresh)?;
        match response.status {
            200 => {}
            503 => {
                let units = response
                    .header("retry-after")
                    .and_then(|v| v.trim().parse::<u32>().ok())
                    .unwrap_or(1);
                return Err(DownloadError::Unavailable {
                    host,
                    retry_after: RETRY_AFTER_UNIT * units,
                });
            }
            403 => return Err(DownloadError::Forbidden { host }),
            404 => return Err(DownloadError::NotFound { host }),
            code => return Err(DownloadError::Status { host, code }),
        }
        let expected = response
            .header(CHECKSUM_HEADER)
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .ok_or(DownloadError::Malformed {
                host,
                what: "no checksum",
            })?;
        let checksum = fnv1a64(&response.body);
        if checksum != expected {
            return Err(DownloadError::Corrupt { host });
        }
        Ok(ModelFile {
            name: name.to_owned(),
            bytes: response.body,
            checksum,
            source: match host {
                Host::Primary => Source::Primary,
                Host::Mirror => Source::Mirror,
            },
        })
    }
}

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` on `addr`, with a connect timeout and a read timeout.
pub fn get(
    addr: SocketAddr,
    host: Host,
    path: &str,
    fresh: bool,
) -> Result<Response, DownloadError> {
    let mut stream =
        TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|error| match error.kind() {
            io::ErrorKind::TimedOut => DownloadError::TimedOut { host },
            kind => DownloadError::Connect { host, kind },
        })?;
    let io_error = |error: io::Error| match error.kind() {
        // A read timeout is `WouldBlock` on Unix, `TimedOut` on Windows.
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => DownloadError::TimedOut { host },
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => DownloadError::Reset { host },
        kind => DownloadError::Connect { host, kind },
    };
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(READ_TIMEOUT)))
        .map_err(io_error)?;
    let cache_control = if fresh {
        "cache-control: no-cache\r\n"
    } else {
        ""
    };
    let request =
        format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n{cache_control}connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(io_error)?;

    let mut data = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut buf).map_err(io_error)?;
        if n == 0 {
            return Err(DownloadError::Reset { host });
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or(DownloadError::Malformed {
            host,
            what: "no status",
        })?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .ok_or(DownloadError::Malformed {
            host,
            what: "no content-length",
        })?;
    let mut body = data.split_off(head_end + 4);
    while body.len() < length {
        let n = stream.read(&mut buf).map_err(io_error)?;
        if n == 0 {
            return Err(DownloadError::Reset { host });
        }
        body.extend_from_slice(&buf[..n]);
    }
    body.truncate(length);
    Ok(Response {
        status,
        headers,
        body,
    })
}
