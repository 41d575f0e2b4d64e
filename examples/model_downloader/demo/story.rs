//! How the demo tells what happened: one line per model, read from the
//! recovery sessions, then the tables made from the snapshot.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use reliability_core::{
    export::RejectedCalls, monitor::HealthTransition, recovery::RecoveryOutcome,
    recovery::RecoverySession, recovery::StepOutcome, MethodSnapshot, MetricsSnapshot, Strategy,
};

use super::client::{DownloadError, ModelFile};
use super::install::InstallError;

/// `a, b, c`, or `none`.
pub fn list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// How a download went, for the model's progress line. Nothing in it
/// depends on timing, so a seed always prints the same lines.
pub fn fetched(
    downloaded: &Result<ModelFile, DownloadError>,
    session: Option<&RecoverySession>,
) -> String {
    match (downloaded, session) {
        (Ok(file), None) => format!("ok from {}", file.source.as_str()),
        (Ok(file), Some(session)) => format!(
            "recovered by {} from {}, {}: {}",
            recovered_by(session),
            file.source.as_str(),
            attempts(session),
            trail(session)
        ),
        (Err(_), Some(session)) => format!(
            "{}, {}: {}",
            outcome(session),
            attempts(session),
            trail(session)
        ),
        (Err(error), None) => format!("FAILED: {error}"),
    }
}

/// How the install went, for the model's progress line.
pub fn placed(
    installed: Option<&Result<PathBuf, InstallError>>,
    session: Option<&RecoverySession>,
) -> String {
    match (installed, session) {
        (None, _) => "not installed".to_owned(),
        (Some(Ok(path)), None) => format!("installed {}", path.display()),
        (Some(Ok(path)), Some(session)) => format!(
            "installed {} by {}: {}",
            path.display(),
            recovered_by(session),
            trail(session)
        ),
        (Some(Err(_)), Some(session)) => {
            format!("install {}: {}", outcome(session), trail(session))
        }
        (Some(Err(error)), None) => format!("install FAILED: {error}"),
    }
}

fn recovered_by(session: &RecoverySession) -> &'static str {
    session.recovered_by.map_or("?", Strategy::as_str)
}

fn outcome(session: &RecoverySession) -> &'static str {
    match session.outcome {
        RecoveryOutcome::Recovered => "recovered",
        RecoveryOutcome::Escalated => "ESCALATED",
        RecoveryOutcome::Failed => "FAILED",
    }
}

/// How many times the method's own body ran.
fn attempts(session: &RecoverySession) -> String {
    let rejected_first = session
        .steps
        .first()
        .is_some_and(|s| s.outcome == StepOutcome::Rejected);
    let reruns = session
        .steps
        .iter()
        .filter(|s| s.target == session.method && s.outcome != StepOutcome::Rejected)
        .filter(|s| {
            matches!(
                s.strategy,
                Strategy::Retry | Strategy::Network | Strategy::Repair
            )
        })
        .count();
    let ran = usize::from(!rejected_first) + reruns;
    format!("{ran} attempt{}", if ran == 1 { "" } else { "s" })
}

/// The first failure, then each step: `timeout (primary: read timed out) →
/// network ✗ (primary: 503 unavailable) → network ✓`. A step's error is
/// shown when it differs from the one before.
fn trail(session: &RecoverySession) -> String {
    let rejected_first = session
        .steps
        .first()
        .is_some_and(|s| s.outcome == StepOutcome::Rejected);
    let (mut text, mut last_error) = if rejected_first {
        ("circuit open ⊘".to_owned(), None)
    } else {
        (
            format!("{} ({})", session.category, session.error),
            Some(session.error.as_str()),
        )
    };
    for step in session.steps.iter().skip(usize::from(rejected_first)) {
        text.push_str(" → ");
        text.push_str(step.strategy.as_str());
        if step.strategy == Strategy::Escalate {
            continue;
        }
        if step.target != session.method {
            text.push(':');
            text.push_str(&step.target);
        }
        match step.outcome {
            StepOutcome::Succeeded => text.push_str(" ✓"),
            StepOutcome::Rejected => text.push_str(" ⊘"),
            StepOutcome::Failed => {
                text.push_str(" ✗");
                if let Some(error) = step.error.as_deref().filter(|e| Some(*e) != last_error) {
                    let _ = write!(text, " ({error})");
                }
            }
        }
        if step.error.is_some() {
            last_error = step.error.as_deref();
        }
    }
    text
}

/// `850ns`, `12.3µs`, `4.56ms`, `1.20s`.
pub fn human(duration: Duration) -> String {
    let nanos = duration.as_nanos() as f64;
    if nanos < 1e3 {
        format!("{nanos:.0}ns")
    } else if nanos < 1e6 {
        format!("{:.1}µs", nanos / 1e3)
    } else if nanos < 1e9 {
        format!("{:.2}ms", nanos / 1e6)
    } else {
        format!("{:.2}s", nanos / 1e9)
    }
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".to_owned()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

/// The columns of the health table, as one format for each kind of line.
macro_rules! row {
    ($out:expr, $($cell:expr),* $(,)?) => {
        let _ = writeln!(
            $out,
            "{:<22} {:<9} {:>5} {:>8} {:>8} {:>9} {:>10} {:>9} {:>8} {:>7}",
            $($cell),*
        );
    };
}

/// Each component's health, then its methods (every instance's calls
/// counted once), then a line per instance: its own health and circuit.
pub fn health_table(snapshot: &MetricsSnapshot) -> String {
    let mut out = String::new();
    row!(
        out,
        "component / method",
        "status",
        "calls",
        "attempts",
        "success",
        "p95",
        "recovered",
        "escalated",
        "circuit",
        "uptime"
    );
    for component in &snapshot.components {
        let health = &component.health;
        row!(
            out,
            component.name,
            health.status.as_str(),
            health.calls,
            component.methods.iter().map(|m| m.attempts).sum::<u64>(),
            percent(health.successes, health.successes + health.failures),
            human(slowest_p95(&component.methods)),
            format!(
                "{}/{}",
                component.recovery.recovered, component.recovery.sessions
            ),
            component.recovery.escalated,
            health.circuit.map_or("-", |c| c.as_str()),
            format!("{:.1}%", component.uptime * 100.0),
        );
        for method in &component.methods {
            let _ = writeln!(
                out,
                "  {:<20} {:<9} {:>5} {:>8} {:>8} {:>9}{}",
                method.name,
                "",
                method.calls,
                method.attempts,
                percent(method.successes, method.successes + method.failures),
                human(method.latency.p95),
                refused(&method.rejected_by),
            );
        }
        for instance in &component.instances {
            let health = &instance.health;
            row!(
                out,
                format!("  @{}", instance.id),
                health.status.as_str(),
                health.calls,
                instance.methods.iter().map(|m| m.attempts).sum::<u64>(),
                percent(health.successes, health.successes + health.failures),
                human(slowest_p95(&instance.methods)),
                format!(
                    "{}/{}",
                    instance.recovery.recovered, instance.recovery.sessions
                ),
                instance.recovery.escalated,
                health.circuit.map_or("-", |c| c.as_str()),
                // The monitor keeps uptime per component.
                "-",
            );
        }
        if let Some(reason) = &health.reason {
            let _ = writeln!(out, "  ! {reason}");
        }
        let flagged = std::iter::once((None, health)).chain(
            component
                .instances
                .iter()
                .map(|i| (Some(i.id.as_str()), &i.health)),
        );
        for (instance, health) in flagged.filter(|(_, h)| h.needs_attention) {
            let _ = writeln!(
                out,
                "  ! {}needs attention (an escalation); last error: {}",
                instance.map(|id| format!("@{id} ")).unwrap_or_default(),
                health.last_error.as_deref().unwrap_or("-")
            );
        }
    }
    out
}

/// The snapshot keeps percentiles per method; the slowest method's p95
/// stands for the component's or the instance's.
fn slowest_p95(methods: &[MethodSnapshot]) -> Duration {
    methods
        .iter()
        .map(|m| m.latency.p95)
        .max()
        .unwrap_or_default()
}

/// `   (1 refused: circuit open)`, or nothing.
fn refused(by: &RejectedCalls) -> String {
    let reasons: Vec<String> = [
        (by.circuit_open, "circuit open"),
        (by.bulkhead_full, "bulkhead full"),
        (by.rate_limited, "rate limited"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, why)| format!("{n} refused: {why}"))
    .collect();
    if reasons.is_empty() {
        String::new()
    } else {
        format!("   ({})", reasons.join(", "))
    }
}

/// How each strategy did, per component.
pub fn strategy_table(snapshot: &MetricsSnapshot) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:>6} {:>10} {:>8}",
        "recovery by strategy", "tried", "succeeded", "rate"
    );
    for component in &snapshot.components {
        if component.strategies.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "{}  ({} sessions: {} recovered, {} escalated)",
            component.name,
            component.recovery.sessions,
            component.recovery.recovered,
            component.recovery.escalated
        );
        for stats in &component.strategies {
            let _ = writeln!(
                out,
                "  {:<20} {:>6} {:>10} {:>8}",
                stats.strategy.as_str(),
                stats.attempts,
                stats.successes,
                format!("{:.1}%", stats.success_rate * 100.0)
            );
        }
    }
    out
}

/// `model_downloader@primary: healthy → degraded (…)`.
pub fn transition(transition: &HealthTransition) -> String {
    format!(
        "{}{}: {} → {}{}",
        transition.component,
        transition
            .instance
            .as_deref()
            .map(|id| format!("@{id}"))
            .unwrap_or_default(),
        transition.from,
        transition.to,
        transition
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    )
}
