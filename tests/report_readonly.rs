//! Exporting into a directory that may not be written returns a typed error
//! and leaves the earlier report as it was. As root, mode bits do not stop a
//! write, so the directory is made immutable with `chattr +i` instead.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use reliability_core::{export::ReportError, manager};

fn running_as_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            line.split_whitespace().nth(1).map(|uid| uid == "0")
        })
        .unwrap_or(false)
}

/// Makes `dir` unwritable (or writable again).
fn set_read_only(dir: &Path, read_only: bool) {
    if running_as_root() {
        let flag = if read_only { "+i" } else { "-i" };
        let status = Command::new("chattr")
            .arg(flag)
            .arg(dir)
            .status()
            .expect("chattr is needed to make a directory read-only for root");
        assert!(status.success(), "chattr {flag} failed");
    } else {
        let mode = if read_only { 0o555 } else { 0o755 };
        fs::set_permissions(dir, fs::Permissions::from_mode(mode)).unwrap();
    }
}

#[test]
fn a_read_only_directory_is_a_typed_error_and_the_old_report_survives() {
    let dir = std::env::temp_dir().join(format!("reliability-readonly-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("report.json");
    manager().record_error(
        "readonly_component",
        "op",
        &"boom",
        std::time::Duration::from_millis(1),
    );
    manager().export_report(&path).unwrap();
    let before = fs::read_to_string(&path).unwrap();

    set_read_only(&dir, true);
    manager().record_error(
        "readonly_component",
        "op",
        &"boom again",
        std::time::Duration::from_millis(1),
    );
    let result = manager().export_report(&path);
    set_read_only(&dir, false);

    assert!(
        matches!(result, Err(ReportError::PermissionDenied(_))),
        "{result:?}"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), before);
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["report.json"], "no temporary file left behind");
    fs::remove_dir_all(dir).unwrap();
}
