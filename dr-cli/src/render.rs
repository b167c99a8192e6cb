//! Events and library results as plain text lines.

use std::time::Duration;

use dr_core::executor::{Event, StepPreview};
use dr_core::format_duration;
use serde_json::Value;

use crate::terminal::Palette;

pub fn ms(v: u64) -> String {
    format_duration(Duration::from_millis(v))
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
                format!("run {run_id} (resumed)")
            } else {
                format!("run {run_id}")
            }
        }
        Event::StepStarted { step, action } => {
            format!("{} step {step} started ({action})", p.cyan("▶"))
        }
        Event::StepSkipped { step, reason } => {
            format!("{} step {step} skipped: {reason}", p.dim("↷"))
        }
        Event::Retrying {
            step,
            operation,
            attempt,
            delay_ms,
            error,
        } => format!(
            "{} step {step}: {operation} failed (attempt {attempt}), retrying in {}: {error}",
            p.yellow("↻"),
            ms(*delay_ms)
        ),
        Event::GateWaiting {
            step,
            probe,
            status,
            consecutive,
            needed,
            remaining_ms,
        } => format!(
            "{} step {step}: gate {probe} is {status} ({consecutive}/{needed} healthy), {} left",
            p.dim("…"),
            ms(*remaining_ms)
        ),
        Event::GatePassed { step, probe } => {
            format!("{} step {step}: gate {probe} passed", p.green("✓"))
        }
        Event::PhaseApplied { step, phase, split } => {
            format!(
                "{} step {step}: phase {phase}% applied ({split})",
                p.cyan("→")
            )
        }
        Event::ApprovalNeeded { step, message } => {
            format!("{} step {step} needs approval: {message}", p.yellow("?"))
        }
        Event::Warning { step, message } => match step {
            Some(s) => format!("{} step {s}: {message}", p.yellow("! warning:")),
            None => format!("{} {message}", p.yellow("! warning:")),
        },
        Event::StepFinished { .. } => step_finished_line(e, p),
        Event::RolledBack {
            step,
            status,
            detail,
        } => format!(
            "{} step {step} rolled back ({status}): {detail}",
            p.yellow("↶")
        ),
        Event::StepInterrupted { step, detail } => match detail {
            Some(d) => format!("{} step {step} interrupted {d}", p.yellow("‖")),
            None => format!("{} step {step} interrupted", p.yellow("‖")),
        },
        Event::RunFinished { .. } => run_finished_line(e, p),
        other => format!("{other:?}"),
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
        (Some(err), Some(d)) => format!(": {err} ({d})"),
        (Some(err), None) => format!(": {err}"),
        (None, Some(d)) => format!(" {d}"),
        _ => String::new(),
    };
    format!("{mark} step {step} {status}{}{tail}", attempts(*n))
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
        ..
    } = e
    else {
        return format!("{e:?}");
    };
    let styled = match status.as_str() {
        "succeeded" => p.green(status),
        "rolled_back" | "interrupted" => p.yellow(status),
        _ => p.red(status),
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
    let err = error.as_ref().map(|e| format!(": {e}")).unwrap_or_default();
    let halted = halted_by
        .as_ref()
        .map(|h| format!("\n  {} rollback stopped at one-way step `{h}`", p.red("■")))
        .unwrap_or_default();
    let decision = decision
        .as_ref()
        .map(|d| format!("\n  {} {d}", p.yellow("→")))
        .unwrap_or_default();
    let partial = if failed_steps.is_empty() {
        String::new()
    } else {
        format!(
            "\n  {} {} step(s) failed under on_failure = \"continue\": {}",
            p.yellow("!"),
            failed_steps.len(),
            failed_steps.join(", ")
        )
    };
    format!(
        "run {run_id} {}{figures}{err}{halted}{decision}{partial}",
        p.bold(&styled)
    )
}

/// `dr plan`: one line per step, with what it would change.
pub fn preview_lines(plan: &dr_core::Plan, previews: &[StepPreview], p: Palette) -> String {
    let mut out = format!(
        "plan {} ({} steps, {} resources); read-only preview:\n",
        p.bold(&plan.name),
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
            p.bold(&s.step),
            s.action,
            s.change
        ));
        if let Some(w) = &s.warning {
            out.push_str(&format!("      {} {w}\n", p.yellow("! warning:")));
        }
    }
    out
}

/// `dr status`: one line per resource and kind.
pub fn status_line(v: &Value, p: Palette) -> String {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
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
    let mut line = format!("{:<16} {:<10} {}", p.bold(s("resource")), s("kind"), what);
    if let Some(err) = v.get("error").and_then(Value::as_str) {
        line.push_str(&p.red(&format!("error: {err}")));
    }
    if let Some(calls) = v.get("calls").and_then(Value::as_object)
        && !calls.is_empty()
    {
        let c: Vec<String> = calls.iter().map(|(k, n)| format!("{k} {n}")).collect();
        line.push_str(&p.dim(&format!("  [calls: {}]", c.join(", "))));
    }
    line
}
