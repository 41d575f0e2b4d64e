//! The JSON report, and writing it without ever leaving a half-written file.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::export::snapshot::{ComponentSnapshot, SystemMetrics};
use crate::health::Thresholds;
use crate::manager::ReliabilityManager;
use crate::monitor::HealthTransition;
use crate::recovery::history::RecoverySession;

/// Everything the manager knows, for a file or an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReliabilityReport {
    /// When the report was made.
    pub generated_at: SystemTime,
    /// The version of `reliability-core` that made it.
    pub version: String,
    /// The global thresholds.
    pub thresholds: Thresholds,
    /// Totals over every component, and the system's uptime.
    pub system: SystemMetrics,
    /// Each component, sorted by name, with its uptime.
    pub components: Vec<ComponentSnapshot>,
    /// The recovery history, oldest first.
    pub recovery_history: Vec<RecoverySession>,
    /// The monitor's health transitions, oldest first.
    pub health_timeline: Vec<HealthTransition>,
}

impl ReliabilityReport {
    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        crate::export::json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Why a report could not be written. The file at the path, if any, is unchanged.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReportError {
    /// The directory to write into does not exist.
    MissingDirectory(PathBuf),
    /// The directory may not be written.
    PermissionDenied(PathBuf),
    /// Another I/O failure (a full disk, say).
    Io {
        /// The file being written.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::MissingDirectory(dir) => {
                write!(
                    f,
                    "cannot write the report: directory {} does not exist",
                    dir.display()
                )
            }
            ReportError::PermissionDenied(dir) => {
                write!(
                    f,
                    "cannot write the report: permission denied in {}",
                    dir.display()
                )
            }
            ReportError::Io { path, source } => {
                write!(f, "cannot write the report {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for ReportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReportError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Writes `contents` to `path` atomically: a temporary file in the same
/// directory, written, flushed and synced, then renamed over `path`.
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> Result<PathBuf, ReportError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(ReportError::MissingDirectory(dir));
    }
    let name = path
        .file_name()
        .map_or_else(|| "report".into(), |n| n.to_string_lossy().into_owned());
    let temp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Relaxed)
    ));
    let io_error = |source: io::Error| match source.kind() {
        io::ErrorKind::PermissionDenied => ReportError::PermissionDenied(dir.clone()),
        io::ErrorKind::NotFound => ReportError::MissingDirectory(dir.clone()),
        _ => ReportError::Io {
            path: path.to_path_buf(),
            source,
        },
    };
    let result = (|| {
        let mut file: File = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(contents)?;
        file.flush()?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        // Best effort: make the rename itself durable.
        if let Ok(dir) = File::open(&dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())),
        Err(error) => {
            let _ = fs::remove_file(&temp);
            Err(io_error(error))
        }
    }
}

// The report is an export beside the facade: its entry points live here.
impl ReliabilityManager {
    /// Stops the monitor and, if its configuration names one, writes a final
    /// report; returns where.
    pub fn shutdown(&self) -> Result<Option<std::path::PathBuf>, ReportError> {
        let config = self.monitor.stop();
        match config
            .as_ref()
            .and_then(crate::monitor::MonitorConfig::final_report)
        {
            Some(path) => self.export_report(path).map(Some),
            None => Ok(None),
        }
    }

    /// Everything the manager knows: thresholds, system and component
    /// metrics with uptime, the recovery history and the health timeline.
    pub fn report(&self) -> ReliabilityReport {
        let snapshot = self.snapshot();
        ReliabilityReport {
            generated_at: snapshot.taken_at,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            thresholds: self.thresholds(),
            system: snapshot.system,
            components: snapshot.components,
            recovery_history: self.recovery_history(),
            health_timeline: self.health_timeline(),
        }
    }

    /// Writes [`report`](Self::report) to `path` as pretty JSON, atomically:
    /// a temporary file in the same directory, synced, then renamed. On an
    /// error the file already at `path`, if any, is left as it was.
    pub fn export_report(
        &self,
        path: impl AsRef<std::path::Path>,
    ) -> Result<std::path::PathBuf, ReportError> {
        let json = self.report().to_json();
        let _one_at_a_time = self.exporting.lock();
        write_atomically(path.as_ref(), json.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("reliability-report-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn writes_replace_the_file_and_leave_no_temporary() {
        let dir = scratch("replace");
        let path = dir.join("report.json");
        write_atomically(&path, b"first").unwrap();
        let written = write_atomically(&path, b"second").unwrap();
        assert_eq!(fs::read(&written).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["report.json"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_a_typed_error() {
        let dir = scratch("missing");
        let path = dir.join("no/such/dir/report.json");
        assert!(matches!(
            write_atomically(&path, b"x"),
            Err(ReportError::MissingDirectory(_))
        ));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_failed_write_keeps_the_earlier_report() {
        let dir = scratch("keep");
        let path = dir.join("report.json");
        write_atomically(&path, b"good").unwrap();
        // The target is a directory: the rename fails after the temporary was written.
        let blocked = dir.join("blocked");
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("x"), b"x").unwrap();
        assert!(write_atomically(&blocked, b"bad").is_err());
        assert_eq!(fs::read(&path).unwrap(), b"good");
        let leftovers = fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .count();
        assert_eq!(leftovers, 0);
        fs::remove_dir_all(dir).unwrap();
    }
}
