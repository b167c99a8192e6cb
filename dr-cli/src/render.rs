//! Events and library results as plain text lines.
//!
//! Every string that comes from outside this process (ids, an error's text,
//! a command's output, a provider's answer) goes through [`t`] or [`m`]: its
//! control characters are shown escaped, never sent to the terminal.

use std::borrow::Cow;
use std::time::Duration;

use dr_core::executor::{Event, StepPreview};
use dr_core::format_duration;
use serde_json::Value;

use crate::terminal::Palette;

pub fn ms(v: u64) -> String {
    format_duration(Duration::from_millis(v))
}

/// One-line text: every control character shown escaped.
pub fn t(s: &str) -> Cow<'_, str> {
    dr_core::text::line(s)
}

/// Text that may run over lines (an error with a command's stderr): its
/// lines after the first are indented under the line it belongs to, so none
/// can pass for a line of dr's own; other control characters shown escaped.
pub fn m(s: &str) -> String {
    dr_core::text::block(s.trim_end_matches('\n')).replace('\n', "\n    ")
}

fn attempts(n: u32) -> String {
    if n > 1 {
        format!(" ({n} attempts)")
    } else {
        String::new()
    }
}

/// One line per event, e.g.
/// `✓ step shift succeeded (2 attempts) front: east 100 -> west 100`.
pub fn event_line(e: &Event, p: Palette) -> String {
    match e {
        Event::RunStarted {
            run_id, resumed, ..
        } => {
            if *resumed {
                format!("run {} (resumed)", t(run_id))
            } else {
                format!("run {}", t(run_id))
            }
        }
        Event::StepStarted { step, action } => {
            format!("{} step {} started ({})", p.cyan("▶"), t(step), t(action))
        }
        Event::StepSkipped { step, reason } => {
            format!("{} step {} skipped: {}", p.dim("↷"), t(step), m(reason))
        }
        Event::ModeChanged { from, to, operator } => format!(
            "{} mode switched from {from} to {to} by {}: promotes from here on are {}",
            p.yellow("⚠"),
            t(operator),
            if *to == dr_core::RunMode::Ungraceful {
                "forced failovers"
            } else {
                "planned switchovers"
            }
        ),
        Event::Retrying {
            step,
            operation,
            attempt,
            delay_ms,
            error,
        } => format!(
            "{} step {}: {} failed (attempt {attempt}), retrying in {}: {}",
            p.yellow("↻"),
            t(step),
            t(operation),
            ms(*delay_ms),
            m(error)
        ),
        Event::GateWaiting {
            step,
            probe,
            status,
            consecutive,
            needed,
            remaining_ms,
        } => format!(
            "{} step {}: gate {} is {} ({consecutive}/{needed} healthy), {} left",
            p.dim("…"),
            t(step),
            t(probe),
            t(status),
            ms(*remaining_ms)
        ),
        Event::GatePassed { step, probe } => {
            format!(
                "{} step {}: gate {} passed",
                p.green("✓"),
                t(step),
                t(probe)
            )
        }
        Event::PhaseApplied { step, phase, split } => {
            format!(
                "{} step {}: phase {phase}% applied ({})",
                p.cyan("→"),
                t(step),
                t(&split.to_string())
            )
        }
        Event::ApprovalNeeded { step, message } => {
            format!(
                "{} step {} needs approval: {}",
                p.yellow("?"),
                t(step),
                m(message)
            )
        }
        Event::Warning { step, message } => match step {
            Some(s) => format!("{} step {}: {}", p.yellow("! warning:"), t(s), m(message)),
            None => format!("{} {}", p.yellow("! warning:"), m(message)),
        },
        Event::StepFinished { .. } => step_finished_line(e, p),
        Event::RolledBack {
            step,
            status,
            detail,
        } => format!(
            "{} step {} rolled back ({status}): {}",
            p.yellow("↶"),
            t(step),
            m(detail)
        ),
        Event::StepInterrupted { step, detail } => match detail {
            Some(d) => format!("{} step {} interrupted {}", p.yellow("‖"), t(step), m(d)),
            None => format!("{} step {} interrupted", p.yellow("‖"), t(step)),
        },
        Event::AfterStarted {
            probes,
            for_ms,
            every_ms,
        } => format!(
            "{} after the last step: watching {} every {} for {}",
            p.dim("…"),
            t(&probes.join(", ")),
            ms(*every_ms),
            ms(*for_ms)
        ),
        Event::AfterFinished {
            status,
            rounds,
            failures,
        } => {
            let mark = match status.as_str() {
                "healthy" => p.green("✓"),
                "unhealthy" => p.red("✗"),
                _ => p.yellow("‖"),
            };
            format!(
                "{mark} after the last step: {} ({rounds} round(s), {} unhealthy probe result(s))",
                t(status),
                failures.len()
            )
        }
        Event::NotifyFailed {
            notified,
            target,
            error,
        } => format!(
            "{} could not notify {} of {}: {} (the run goes on)",
            p.yellow("! warning:"),
            t(target),
            t(notified),
            m(error)
        ),
        Event::RunFinished { .. } => run_finished_line(e, p),
        other => t(&format!("{other:?}")).into_owned(),
    }
}

/// `✓ step ID succeeded after N attempt(s) DETAIL` or `✗ step ID failed: ERROR`.
fn step_finished_line(e: &Event, p: Palette) -> String {
    let Event::StepFinished {
        step,
        status,
        attempts: n,
        detail,
        error,
        ..
    } = e
    else {
        return format!("{e:?}");
    };
    let ok = *status == dr_core::outcome::StepStatus::Succeeded;
    let mark = if ok { p.green("✓") } else { p.red("✗") };
    let tail = match (error, detail) {
        (Some(err), Some(d)) => format!(": {} ({})", m(err), m(d)),
        (Some(err), None) => format!(": {}", m(err)),
        (None, Some(d)) => format!(" {}", m(d)),
        _ => String::new(),
    };
    format!("{mark} step {} {status}{}{tail}", t(step), attempts(*n))
}

/// The run's last line: its status, RTO/RPO, error, where a rollback stopped,
/// the decision to take, and the steps that failed under `continue`.
fn run_finished_line(e: &Event, p: Palette) -> String {
    let Event::RunFinished {
        run_id,
        status,
        rto_ms,
        rpo_ms,
        error,
        failed_steps,
        halted_by,
        decision,
        after,
        ..
    } = e
    else {
        return format!("{e:?}");
    };
    let shown = t(status);
    let styled = match status.as_str() {
        "succeeded" => p.green(&shown),
        "rolled_back" | "interrupted" => p.yellow(&shown),
        _ => p.red(&shown),
    };
    let mut figures = Vec::new();
    if let Some(r) = rto_ms {
        figures.push(format!("RTO {}", ms(*r)));
    }
    if let Some(r) = rpo_ms {
        figures.push(format!("RPO {}", ms(*r)));
    }
    let figures = if figures.is_empty() {
        String::new()
    } else {
        format!(" ({})", figures.join(", "))
    };
    let err = error
        .as_ref()
        .map(|e| format!(": {}", m(e)))
        .unwrap_or_default();
    let halted = halted_by
        .as_ref()
        .map(|h| {
            format!(
                "\n  {} rollback stopped at one-way step `{}`",
                p.red("■"),
                t(h)
            )
        })
        .unwrap_or_default();
    let decision = decision
        .as_ref()
        .map(|d| format!("\n  {} {}", p.yellow("→"), m(d)))
        .unwrap_or_default();
    let partial = if failed_steps.is_empty() {
        String::new()
    } else {
        format!(
            "\n  {} {} step(s) failed under on_failure = \"continue\": {}",
            p.yellow("!"),
            failed_steps.len(),
            failed_steps
                .iter()
                .map(|s| t(s))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let after = match after.as_deref() {
        Some("unhealthy") => format!(
            "\n  {} after the last step the new side was unhealthy (nothing undone; exit 1)",
            p.red("✗")
        ),
        _ => String::new(),
    };
    format!(
        "run {} {}{figures}{err}{halted}{decision}{partial}{after}",
        t(run_id),
        p.bold(&styled)
    )
}

/// `dr plan`: one line per step, with what it would change.
pub fn preview_lines(plan: &dr_core::Plan, previews: &[StepPreview], p: Palette) -> String {
    let mut out = format!(
        "plan {} ({} steps, {} resources); read-only preview:\n",
        p.bold(&t(&plan.name)),
        plan.steps.len(),
        plan.resources.len()
    );
    for s in previews {
        let door = if s.one_way {
            format!(" {}", p.yellow("[one-way: a rollback stops here]"))
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {} {} ({}): {}{door}\n",
            p.cyan("•"),
            p.bold(&t(&s.step)),
            t(&s.action),
            m(&s.change)
        ));
        if let Some(w) = &s.warning {
            out.push_str(&format!("      {} {}\n", p.yellow("! warning:"), m(w)));
        }
    }
    out
}

/// `dr status`: one line per resource and kind. A resource whose state could
/// not be read shows that error, the same way for every kind, and nothing
/// else of its state.
pub fn status_line(v: &Value, p: Palette) -> String {
    let mut v = v.clone();
    dr_core::text::line_json(&mut v);
    let v = &v;
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
    let head = format!(
        "{} {:<10}",
        p.bold(&format!("{:<16}", s("resource"))),
        s("kind")
    );
    if let Some(err) = v.get("error").and_then(Value::as_str) {
        return format!("{head} {}", p.red(&format!("error: {err}")));
    }
    let what = match s("kind") {
        "router" => match v.get("split").and_then(Value::as_object) {
            Some(split) => {
                let parts: Vec<String> = split.iter().map(|(t, w)| format!("{t} {w}")).collect();
                if parts.is_empty() {
                    "no traffic".to_string()
                } else {
                    parts.join(", ")
                }
            }
            None => String::new(),
        },
        "store" => {
            let mut t = s("role").to_string();
            if let Some(of) = v.get("of").and_then(Value::as_str) {
                t.push_str(&format!(" of {of}"));
            }
            match v.get("writable").and_then(Value::as_bool) {
                Some(true) => t.push_str(", writable"),
                Some(false) => t.push_str(", read-only"),
                None => {}
            }
            t
        }
        "replicator" => match v.get("lag_ms").and_then(Value::as_u64) {
            Some(l) => format!("{}, lag {}", s("state"), ms(l)),
            None => format!("{}, lag unknown", s("state")),
        },
        "probe" => {
            let status = s("status");
            let styled = match status {
                "healthy" => p.green(status),
                "degraded" => p.yellow(status),
                _ => p.red(status),
            };
            match v.get("detail").and_then(Value::as_str) {
                Some(d) => format!("{styled} ({d})"),
                None => styled,
            }
        }
        _ => String::new(),
    };
    let mut line = format!("{head} {what}");
    if let Some(calls) = v.get("calls").and_then(Value::as_object)
        && !calls.is_empty()
    {
        let c: Vec<String> = calls.iter().map(|(k, n)| format!("{k} {n}")).collect();
        line.push_str(&p.dim(&format!("  [calls: {}]", c.join(", "))));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_failed_status_reads_the_same_for_every_kind() {
        let p = Palette::new(false);
        for kind in ["router", "replicator", "store", "probe"] {
            let line = status_line(
                &json!({"resource": "link", "kind": kind, "error": "sim: link: status: down"}),
                p,
            );
            assert_eq!(
                line,
                format!("{:<16} {kind:<10} error: sim: link: status: down", "link"),
                "{kind}"
            );
        }
    }

    #[test]
    fn outside_text_in_a_line_is_shown_escaped() {
        let p = Palette::new(true);
        let e = Event::StepFinished {
            step: "s".into(),
            status: dr_core::outcome::StepStatus::Failed,
            duration_ms: 1,
            attempts: 1,
            detail: None,
            error: Some("exit 1: \x1b[2J\x1b[1A\rrun r succeeded\nrun r succeeded".into()),
            error_kind: None,
            request_id: None,
        };
        let line = event_line(&e, p);
        // Only the palette's own sequences: red, reset.
        assert_eq!(line.matches('\x1b').count(), 2, "{line:?}");
        assert!(
            line.contains("\\x1b[2J\\x1b[1A\\x0drun r succeeded\n    run r succeeded"),
            "{line:?}"
        );
        let st = status_line(
            &json!({"resource": "db\u{202e}", "kind": "probe", "status": "healthy", "detail": "\x1b]0;x\x07"}),
            Palette::new(false),
        );
        assert!(!st.chars().any(dr_core::text::is_unsafe), "{st:?}");
    }
}
