//! What the commands share: loading a plan, usage errors, approvals, palettes.

use std::path::Path;

use dr_core::plan::StepAction;
use dr_core::{Plan, Registry};
use serde_json::json;

use crate::Global;
use crate::out::{err, errln, outln};
use crate::terminal::{self, Palette};

pub(crate) fn out_palette() -> Palette {
    Palette::new(terminal::colors_on_stdout())
}

pub(crate) fn err_palette() -> Palette {
    Palette::new(terminal::colors_on_stderr())
}

pub(crate) fn error(msg: impl std::fmt::Display) {
    errln!("{}: {msg}", err_palette().red("error"));
}

/// Loads and validates a plan; on failure prints every diagnostic (with
/// `--json`, `{"valid":false,"diagnostics":[..]}` on stdout) and gives exit code 2.
/// The plan's secrets are hidden process-wide from then on, so the log lines of
/// the crates it drives hide them too.
pub(crate) fn load(g: &Global, path: &Path, registry: &Registry) -> Result<Plan, u8> {
    let plan = Plan::load(path, registry).map_err(|d| {
        invalid(g, &d);
        2
    })?;
    plan.redactor().hide_everywhere();
    Ok(plan)
}

/// Reports an invalid plan: the JSON object on stdout with `--json`, else the
/// rendered diagnostics on stderr.
pub(crate) fn invalid(g: &Global, diags: &dr_core::Diagnostics) {
    if g.json {
        outln!("{}", json!({"valid": false, "diagnostics": diags}));
    } else {
        err!("{}", crate::diag::render(diags, None, err_palette()));
    }
}

/// A command-line mistake found before anything ran (exit 2): with `--json`
/// `{"event":"error","kind":KIND,"message":..}` on stdout, else on stderr.
pub(crate) fn usage_error(g: &Global, kind: &str, message: String) -> u8 {
    if g.json {
        outln!(
            "{}",
            json!({"event": "error", "kind": kind, "message": message})
        );
    } else {
        error(message);
    }
    2
}

/// Every `--approve STEP_ID` names an `approval` step of one of `plans` (the
/// plan of `dr run`/`resume`/`watch`, or both plans of a drill).
pub(crate) fn check_approvals(g: &Global, plans: &[&Plan]) -> Result<(), u8> {
    let approvals: Vec<&str> = plans
        .iter()
        .flat_map(|p| p.steps.iter())
        .filter(|s| matches!(s.action, StepAction::Approval { .. }))
        .map(|s| s.id.as_str())
        .collect();
    for id in &g.approve {
        if approvals.contains(&id.as_str()) {
            continue;
        }
        let message = match plans {
            [plan] => {
                let have = if approvals.is_empty() {
                    "it has no approval steps".to_string()
                } else {
                    format!("its approval steps: {}", approvals.join(", "))
                };
                format!(
                    "--approve {id}: plan `{}` has no approval step `{id}` ({have}); nothing was run",
                    plan.name
                )
            }
            _ => {
                format!("--approve {id}: neither plan has an approval step `{id}`; nothing was run")
            }
        };
        return Err(usage_error(g, "unknown_approval", message));
    }
    Ok(())
}
