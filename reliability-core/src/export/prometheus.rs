//! Prometheus text exposition format 0.0.4.

use std::fmt::Write as _;

use crate::export::snapshot::{MetricsSnapshot, LATENCY_BUCKET_EDGES_NANOS};

/// Escapes a label value: backslash, double quote and line feed.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

impl MetricsSnapshot {
    /// The snapshot in the Prometheus text format (version 0.0.4), for a
    /// `/metrics` endpoint or a textfile collector.
    ///
    /// Families: `reliability_calls_total{component,method,outcome}`,
    /// `reliability_panics_total`, `reliability_call_duration_seconds`
    /// (histogram), `reliability_component_health{component}` (0 healthy,
    /// 1 degraded, 2 unhealthy), `reliability_consecutive_failures`,
    /// `reliability_recovery_attempts_total{component,strategy,result}`,
    /// `reliability_rejected_calls_total`, `reliability_circuit_state`
    /// (0 closed, 1 open, 2 half open), `reliability_needs_attention`,
    /// `reliability_recovery_sessions_total{component,outcome}`,
    /// `reliability_retry_budget_exhausted_total` and `reliability_uptime_ratio`.
    ///
    /// # Examples
    ///
    /// ```
    /// reliability_core::manager().record(
    ///     "doc_prometheus", "get", reliability_core::Outcome::Success, Default::default());
    /// let text = reliability_core::snapshot().to_prometheus();
    /// assert!(text.contains(
    ///     "reliability_calls_total{component=\"doc_prometheus\",method=\"get\",outcome=\"success\"} 1"));
    /// ```
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        family(
            &mut out,
            "reliability_calls_total",
            "counter",
            "Calls of instrumented methods, by how they ended.",
        );
        for c in &self.components {
            let component = escape(&c.name);
            for m in &c.methods {
                let method = escape(&m.name);
                for (outcome, value) in [
                    ("success", m.successes),
                    ("failure", m.failures),
                    ("cancelled", m.cancelled),
                ] {
                    let _ = writeln!(out, "reliability_calls_total{{component=\"{component}\",method=\"{method}\",outcome=\"{outcome}\"}} {value}");
                }
            }
        }
        family(
            &mut out,
            "reliability_panics_total",
            "counter",
            "Calls that panicked (also counted as failures).",
        );
        for c in &self.components {
            let component = escape(&c.name);
            for m in &c.methods {
                let _ = writeln!(
                    out,
                    "reliability_panics_total{{component=\"{component}\",method=\"{}\"}} {}",
                    escape(&m.name),
                    m.panics
                );
            }
        }
        family(
            &mut out,
            "reliability_call_duration_seconds",
            "histogram",
            "Latency of completed calls.",
        );
        for c in &self.components {
            let component = escape(&c.name);
            for m in &c.methods {
                let method = escape(&m.name);
                for (edge, count) in LATENCY_BUCKET_EDGES_NANOS.iter().zip(&m.latency_buckets) {
                    let le = *edge as f64 / 1e9;
                    let _ = writeln!(out, "reliability_call_duration_seconds_bucket{{component=\"{component}\",method=\"{method}\",le=\"{le}\"}} {count}");
                }
                let completed = m.successes + m.failures;
                let _ = writeln!(out, "reliability_call_duration_seconds_bucket{{component=\"{component}\",method=\"{method}\",le=\"+Inf\"}} {completed}");
                let _ = writeln!(out, "reliability_call_duration_seconds_sum{{component=\"{component}\",method=\"{method}\"}} {}", m.total_latency.as_secs_f64());
                let _ = writeln!(out, "reliability_call_duration_seconds_count{{component=\"{component}\",method=\"{method}\"}} {completed}");
            }
        }
        family(
            &mut out,
            "reliability_component_health",
            "gauge",
            "Component health: 0 healthy, 1 degraded, 2 unhealthy.",
        );
        for c in &self.components {
            let level = match c.health.status {
                crate::HealthStatus::Healthy => 0,
                crate::HealthStatus::Degraded => 1,
                crate::HealthStatus::Unhealthy => 2,
            };
            let _ = writeln!(
                out,
                "reliability_component_health{{component=\"{}\"}} {level}",
                escape(&c.name)
            );
        }
        family(
            &mut out,
            "reliability_consecutive_failures",
            "gauge",
            "Failed calls since the component's last success.",
        );
        for c in &self.components {
            let _ = writeln!(
                out,
                "reliability_consecutive_failures{{component=\"{}\"}} {}",
                escape(&c.name),
                c.health.consecutive_failures
            );
        }
        family(
            &mut out,
            "reliability_recovery_attempts_total",
            "counter",
            "Recovery steps tried, by strategy and result.",
        );
        for c in &self.components {
            let component = escape(&c.name);
            for s in &c.strategies {
                for (result, value) in [
                    ("success", s.successes),
                    ("failure", s.attempts - s.successes),
                ] {
                    let _ = writeln!(out, "reliability_recovery_attempts_total{{component=\"{component}\",strategy=\"{}\",result=\"{result}\"}} {value}", s.strategy.as_str());
                }
            }
        }
        family(
            &mut out,
            "reliability_rejected_calls_total",
            "counter",
            "Calls refused by an open circuit.",
        );
        for c in &self.components {
            let _ = writeln!(
                out,
                "reliability_rejected_calls_total{{component=\"{}\"}} {}",
                escape(&c.name),
                c.rejected
            );
        }
        family(
            &mut out,
            "reliability_circuit_state",
            "gauge",
            "Circuit state: 0 closed, 1 open, 2 half open.",
        );
        for c in &self.components {
            if let Some(state) = c.health.circuit {
                let _ = writeln!(
                    out,
                    "reliability_circuit_state{{component=\"{}\"}} {}",
                    escape(&c.name),
                    state.as_number()
                );
            }
        }
        family(
            &mut out,
            "reliability_needs_attention",
            "gauge",
            "1 while an escalation of the component waits to be acknowledged.",
        );
        for c in &self.components {
            let _ = writeln!(
                out,
                "reliability_needs_attention{{component=\"{}\"}} {}",
                escape(&c.name),
                u8::from(c.health.needs_attention)
            );
        }
        family(
            &mut out,
            "reliability_recovery_sessions_total",
            "counter",
            "Calls that needed recovery, by how their recovery ended.",
        );
        for c in &self.components {
            let component = escape(&c.name);
            let r = &c.recovery;
            let failed = r.sessions - r.recovered - r.escalated;
            for (outcome, value) in [
                ("recovered", r.recovered),
                ("escalated", r.escalated),
                ("failed", failed),
            ] {
                let _ = writeln!(out, "reliability_recovery_sessions_total{{component=\"{component}\",outcome=\"{outcome}\"}} {value}");
            }
        }
        family(
            &mut out,
            "reliability_retry_budget_exhausted_total",
            "counter",
            "Retries that recovery wanted but the empty retry budget refused.",
        );
        for c in &self.components {
            let _ = writeln!(
                out,
                "reliability_retry_budget_exhausted_total{{component=\"{}\"}} {}",
                escape(&c.name),
                c.recovery.budget_exhausted
            );
        }
        family(
            &mut out,
            "reliability_uptime_ratio",
            "gauge",
            "Share of monitored time the component was not unhealthy.",
        );
        for c in &self.components {
            let _ = writeln!(
                out,
                "reliability_uptime_ratio{{component=\"{}\"}} {}",
                escape(&c.name),
                c.uptime
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("line\nbreak"), "line\\nbreak");
    }
}
