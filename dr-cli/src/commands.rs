//! One function per command: a few lines over the library each.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use dr_core::executor::{Executor, RunOptions};
use dr_core::report::Report;
use dr_core::{LoadOptions, Plan};
use serde_json::json;

use crate::common::{check_approvals, err_palette, error, invalid, load, out_palette, usage_error};
use crate::out::{err, errln, out, outln};
use crate::providers::registry;
use crate::render::{preview_lines, status_line};
use crate::run::{self, Output};
use crate::terminal;
use crate::{AuditCommand, Cli, Command, Global, ReportFormat, SimCommand, SimTarget};

/// Runs the command; returns the exit code.
pub async fn dispatch(cli: Cli) -> u8 {
    let mut global = cli.global.clone();
    match &cli.command {
        Command::Run { yes, consent, .. } | Command::Drill { yes, consent, .. } => {
            global.yes = *yes || cli.early.yes;
            global.approve = [cli.early.approve.clone(), consent.approve.clone()].concat();
            global.accept_data_loss = consent.accept_data_loss || cli.early.accept_data_loss;
            global.ungraceful = consent.ungraceful;
        }
        Command::Resume { consent, .. } | Command::Watch { consent, .. } => {
            global.approve = [cli.early.approve.clone(), consent.approve.clone()].concat();
            global.accept_data_loss = consent.accept_data_loss || cli.early.accept_data_loss;
            global.ungraceful = consent.ungraceful;
        }
        _ => {}
    }
    let shared = matches!(
        cli.command,
        Command::Run { .. }
            | Command::Resume { .. }
            | Command::Status { .. }
            | Command::Report { .. }
            | Command::Audit { .. }
            | Command::Watch { .. }
            | Command::Drill { .. }
    );
    if shared {
        match crate::coordination::Coord::connect(&global).await {
            Ok(c) => global.coord = c,
            Err(code) => return code,
        }
    }
    let g = &global;
    match cli.command {
        Command::Validate {
            plan,
            allow_unset_env,
        } => validate(g, &plan, allow_unset_env),
        Command::Plan { plan } => preview(g, &plan).await,
        Command::Run { plan, .. } => run_plan(g, &plan).await,
        Command::Resume {
            run_id,
            rerun,
            done,
            skip,
            ..
        } => resume(g, &run_id, Decisions { rerun, done, skip }).await,
        Command::Status { plan } => status(g, &plan).await,
        Command::Check { plan } => crate::watch::check(g, &plan).await,
        Command::Watch {
            plan,
            dry_run,
            metrics,
            approve_trigger,
            instance,
            ..
        } => {
            let how = crate::watch::How {
                dry_run,
                metrics: metrics.as_deref(),
                approve_trigger,
                instance: instance.as_deref(),
            };
            crate::watch::watch(g, &plan, how).await
        }
        Command::Report { run_id, format } => {
            let format = if g.json { ReportFormat::Json } else { format };
            report(g, &run_id, format).await
        }
        Command::Drill {
            plan,
            failback,
            hold,
            ..
        } => crate::drill::drill(g, &plan, &failback, hold).await,
        Command::Graph { plan } => match load(g, &plan, &registry()) {
            Ok(p) => {
                out!("{}", p.mermaid());
                0
            }
            Err(code) => code,
        },
        Command::Schema => {
            let schema = dr_core::plan::json_schema();
            outln!(
                "{}",
                serde_json::to_string_pretty(&schema).unwrap_or_default()
            );
            0
        }
        Command::Demo { .. } => crate::demo::demo(g).await,
        Command::Audit {
            command: AuditCommand::Verify,
        } => audit_verify(g).await,
        Command::Sim { command } => match command {
            SimCommand::Down(t) => sim_mark(g, &t, true),
            SimCommand::Up(t) => sim_mark(g, &t, false),
        },
        // Handled before the runtime starts.
        Command::Completions { .. } => 0,
    }
}

/// `dr validate`; with `allow_unset_env`, unset `${env:..}` are warnings (with
/// placeholders) instead of errors.
fn validate(g: &Global, path: &Path, allow_unset_env: bool) -> u8 {
    let opts = if allow_unset_env {
        LoadOptions::default().allow_unset_env()
    } else {
        LoadOptions::default()
    };
    match Plan::load_with(path, &registry(), &opts) {
        Ok(plan) => {
            if g.json {
                outln!(
                    "{}",
                    json!({"valid": true, "plan": plan.name, "steps": plan.steps.len(), "resources": plan.resources.len(), "warnings": plan.warnings})
                );
            } else {
                err!(
                    "{}",
                    crate::diag::render_warnings(&plan.warnings, err_palette())
                );
                outln!(
                    "{} {}: plan `{}` is valid ({} steps, {} resources)",
                    out_palette().green("✓"),
                    path.display(),
                    plan.name,
                    plan.steps.len(),
                    plan.resources.len()
                );
            }
            0
        }
        Err(diags) => {
            invalid(g, &diags);
            2
        }
    }
}

async fn preview(g: &Global, path: &Path) -> u8 {
    let plan = match load(g, path, &registry()) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let ex = Executor::new(plan, RunOptions::new(g.state_dir()));
    let previews = ex.preview().await;
    if g.json {
        for p in &previews {
            outln!("{}", serde_json::to_string(p).unwrap_or_default());
        }
    } else {
        out!("{}", preview_lines(ex.plan(), &previews, out_palette()));
    }
    0
}

async fn run_plan(g: &Global, path: &Path) -> u8 {
    let plan = match load(g, path, &registry()) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if let Err(code) = check_approvals(g, &[&plan]) {
        return code;
    }
    if !g.yes && !terminal::interactive() {
        return usage_error(
            g,
            "no_consent",
            "refusing to run without confirmation: there is no terminal to ask on. \
             Review it with `dr plan`, then pass --yes"
                .to_string(),
        );
    }
    let output = Output::from_flags(g);
    let opts = run::options(g, &g.state_dir(), &output, None);
    let ex = Executor::new(plan, opts);
    if !g.yes {
        let previews = ex.preview().await;
        err!("{}", preview_lines(ex.plan(), &previews, err_palette()));
        let question = format!(
            "Run plan {} ({} steps)?",
            ex.plan().name,
            ex.plan().steps.len()
        );
        if !terminal::ask_yes_no(&question) {
            errln!("not run");
            return 1;
        }
    }
    run::exit_code_for(&ex.run().await, g.json)
}

/// What the operator decided about steps on `dr resume`.
struct Decisions {
    rerun: Vec<String>,
    done: Vec<String>,
    skip: Vec<String>,
}

async fn resume(g: &Global, run_id: &str, d: Decisions) -> u8 {
    let output = Output::from_flags(g);
    let mut opts = run::options(g, &g.state_dir(), &output, None);
    for step in d.rerun {
        opts = opts.rerun(step);
    }
    for step in d.done {
        opts = opts.done(step);
    }
    for step in d.skip {
        opts = opts.skip(step);
    }
    run::exit_code_for(&Executor::resume(&registry(), run_id, opts).await, g.json)
}

async fn status(g: &Global, path: &Path) -> u8 {
    let registry = registry();
    let plan = match load(g, path, &registry) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let p = out_palette();
    if !g.json {
        outln!("plan {}", p.bold(&plan.name));
    }
    if let Some(c) = &g.coord {
        lock_line(g, &plan, c).await;
    }
    for v in dr_core::status::collect(&plan, &registry)
        .await
        .iter()
        .map(|s| s.to_json())
    {
        if g.json {
            outln!("{v}");
        } else {
            outln!("  {}", status_line(&v, p));
        }
    }
    0
}

/// Under `--coordination`, who holds the plan's lock (any machine's run):
/// `{"lock":{"held":..,"run_id":..,"host":..,"pid":..,"token":..}}`.
async fn lock_line(g: &Global, plan: &dr_core::Plan, c: &crate::coordination::Coord) {
    let (held, holder, error) = match c.shared.check_lock(plan).await {
        Ok(()) => (false, None, None),
        Err(dr_core::lock::LockError::Held { holder, .. }) => (true, Some(holder), None),
        Err(e) => (false, None, Some(e.to_string())),
    };
    if g.json {
        let mut v = json!({ "held": held, "coordination": c.shared.describe() });
        if let Some(h) = &holder {
            v["run_id"] = json!(h.run_id);
            v["host"] = json!(h.host);
            v["pid"] = json!(h.pid);
            v["since"] = json!(h.started_at);
            v["token"] = json!(h.token);
        }
        if let Some(e) = &error {
            v["error"] = json!(e);
        }
        outln!("{}", json!({ "lock": v }));
    } else {
        let what = match (&holder, &error) {
            (Some(h), _) => format!(
                "held by run {} (pid {} on {}, since {}, token {})",
                h.run_id,
                h.pid,
                h.host,
                h.started_at.to_rfc3339(),
                h.token
            ),
            (None, Some(e)) => format!("unknown: {e}"),
            (None, None) => "free".to_string(),
        };
        outln!("  lock ({}): {what}", c.shared.describe());
    }
}

async fn report(g: &Global, run_id: &str, format: ReportFormat) -> u8 {
    // Under `--coordination` the run may be another machine's: read its
    // journal from there, into a scratch dir (this machine's copies of a run
    // in progress here are left alone).
    let scratch = match &g.coord {
        Some(c) => {
            let dir = match tempfile::tempdir() {
                Ok(d) => d,
                Err(e) => return usage_error(g, "io", format!("a scratch dir: {e}")),
            };
            match c.shared.fetch_run(run_id, dir.path()).await {
                Ok(true) => Some(dir),
                Ok(false) => {
                    return usage_error(
                        g,
                        "unknown_run",
                        format!("no run `{run_id}` in {}", c.shared.describe()),
                    );
                }
                Err(e) => {
                    return usage_error(
                        g,
                        "coordination",
                        format!(
                            "cannot read run `{run_id}` from {}: {e}",
                            c.shared.describe()
                        ),
                    );
                }
            }
        }
        None => None,
    };
    let from = scratch
        .as_ref()
        .map_or_else(|| g.state_dir(), |d| d.path().to_path_buf());
    let report = match Report::load(&from, run_id) {
        Ok(r) => r,
        Err(e) => {
            return usage_error(
                g,
                "unknown_run",
                format!(
                    "no report for run `{run_id}` in {}: {e}",
                    g.state_dir().display()
                ),
            );
        }
    };
    match format {
        ReportFormat::Md => out!("{}", report.to_markdown()),
        ReportFormat::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        ReportFormat::Html => out!("{}", report.to_html()),
    }
    0
}

async fn audit_verify(g: &Global) -> u8 {
    let log = g.state_dir().join("audit.jsonl");
    // The key itself is never printed, only whether one was used.
    let key = dr_core::audit::audit_key_from_env();
    let (log, verdict) = match &g.coord {
        Some(c) => match c.shared.verify_audit(key.as_deref()).await {
            Ok(v) => (std::path::PathBuf::from(c.shared.describe()), v),
            Err(e) => {
                error(format!(
                    "{}: cannot read the audit chain: {e}",
                    c.shared.describe()
                ));
                return 2;
            }
        },
        None => (log, dr_core::audit::verify(&g.state_dir(), key.as_deref())),
    };
    match verdict {
        Ok(r) => {
            let n = r.entries;
            if g.json {
                outln!(
                    "{}",
                    json!({
                        "intact": true,
                        "entries": n,
                        "head": r.head,
                        "keyed": r.keyed,
                        "runs_checked": r.runs_checked,
                        "head_behind": r.head_behind,
                    })
                );
            } else {
                let how = if r.keyed {
                    "hash chain and HMACs (DR_AUDIT_KEY)"
                } else {
                    "hash chain (unkeyed: set DR_AUDIT_KEY to check HMACs)"
                };
                outln!(
                    "{} {}: {how} intact ({n} entries, {} run journals cross-checked)",
                    out_palette().green("✓"),
                    log.display(),
                    r.runs_checked
                );
                match &r.head {
                    Some(h) => outln!(
                        "  head: entry {} hash {} (keep it elsewhere to detect a later rewrite)",
                        h.seq,
                        h.hash
                    ),
                    None => outln!("  head: none (empty log)"),
                }
            }
            0
        }
        Err(t) => {
            if g.json {
                outln!(
                    "{}",
                    json!({"intact": false, "line": t.line, "message": t.message,
                        "keyed": key.is_some(), "kind": t.kind.as_str()})
                );
            }
            error(format!("{}: {t}", log.display()));
            // A log that cannot be read was not checked: not the same as tampered.
            match t.kind {
                dr_core::audit::VerifyFailure::Unreadable => 2,
                _ => 1,
            }
        }
    }
}

/// The sim state files `dr sim down|up` marks: `--state-file`, else those of
/// the plan's sim resources, else `$DR_SIM_STATE`, else `<state-dir>/sim-state.json`.
fn sim_state_files(g: &Global, t: &SimTarget) -> Result<Vec<PathBuf>, u8> {
    if let Some(f) = &t.state_file {
        return Ok(vec![f.clone()]);
    }
    if let Some(path) = &t.plan {
        let plan = load(g, path, &registry())?;
        let mut targets: Vec<String> = plan
            .resources
            .iter()
            .filter(|r| r.provider == "sim.router")
            .filter_map(|r| r.settings.get("targets").and_then(|t| t.as_array()))
            .flatten()
            .filter_map(|t| t.as_str().map(String::from))
            .collect();
        targets.sort();
        targets.dedup();
        let wanted = t
            .target
            .rsplit_once(':')
            .map_or(t.target.as_str(), |(_, x)| x);
        if !targets.iter().any(|x| x == wanted) {
            return Err(usage_error(
                g,
                "unknown_target",
                format!(
                    "plan `{}` has no sim target `{}` (its sim targets: {})",
                    plan.name,
                    t.target,
                    if targets.is_empty() {
                        "none".to_string()
                    } else {
                        targets.join(", ")
                    }
                ),
            ));
        }
        let files: BTreeSet<PathBuf> = plan
            .resources
            .iter()
            .filter(|r| r.provider.starts_with("sim."))
            .filter_map(|r| r.settings.opt_str("state_file").ok().flatten())
            .map(PathBuf::from)
            .collect();
        if files.is_empty() {
            error(format!(
                "plan `{}` has no sim resource with a `state_file`",
                plan.name
            ));
            return Err(2);
        }
        return Ok(files.into_iter().collect());
    }
    if let Some(f) = std::env::var_os("DR_SIM_STATE").filter(|v| !v.is_empty()) {
        return Ok(vec![PathBuf::from(f)]);
    }
    Ok(vec![g.state_dir().join("sim-state.json")])
}

fn sim_mark(g: &Global, t: &SimTarget, down: bool) -> u8 {
    let files = match sim_state_files(g, t) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let word = if down { "down" } else { "up" };
    for f in &files {
        if let Some(dir) = f.parent().filter(|d| !d.as_os_str().is_empty())
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            error(format!("cannot create {}: {e}", dir.display()));
            return 1;
        }
        if let Err(e) = dr_core::sim::set_target_down(f, &t.target, down) {
            error(format!(
                "cannot mark `{}` {word} in {}: {e}",
                t.target,
                f.display()
            ));
            return 1;
        }
        if g.json {
            outln!(
                "{}",
                json!({"target": t.target, "down": down, "state_file": f})
            );
        } else {
            outln!("marked `{}` {word} in {}", t.target, f.display());
        }
    }
    0
}
