//! Ways out: the snapshot, the JSON report, Prometheus text and the HTTP
//! endpoint. Everything here reads the runtime; nothing below calls up here.

#[cfg(feature = "http")]
pub(crate) mod http;
pub(crate) mod prometheus;
pub(crate) mod report;
pub(crate) mod series;
pub(crate) mod snapshot;
