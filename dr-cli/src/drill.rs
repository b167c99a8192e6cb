//! `dr drill FAILOVER --failback FAILBACK`: the monthly failover test.
//!
//! Both plans are validated before anything runs. Then: the failover runs (as
//! `dr run` would); its end state is checked against what the plan meant to do
//! (every router on its last split, every promoted store a primary, every gate's
//! probe healthy); after `--hold` the failback runs; and one report compares both
//! runs' RTO and RPO with their targets and says how long the service was on
//! the secondary. Exit 0 when both runs succeeded, the check passed and every
//! target was met; 1 otherwise; 2 when a plan is invalid or consent is missing.
//!
//! The report goes to stdout (Markdown, or with `--json` a final
//! `{"event":"drill_finished",..}` line) and to `<state-dir>/drills/<drill-id>.json`
//! and `.md`, next to the runs' own journals and reports.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use dr_core::executor::{Executor, RunStatus};
use dr_core::plan::StepAction;
use dr_core::report::Report;
use dr_core::{Plan, Role, TrafficSplit};
use serde::Serialize;
use serde_json::json;

use crate::Global;
use crate::commands::{load, usage_error};
use crate::out::{errln, out, outln};
use crate::providers::registry;
use crate::run::{self, Output};
use crate::terminal;

/// One run of the drill, as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DrillRun {
    run_id: String,
    plan: String,
    status: String,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    rto_ms: Option<u64>,
    rto_target_ms: Option<u64>,
    rto_met: Option<bool>,
    rpo_ms: Option<u64>,
    rpo_target_ms: Option<u64>,
    rpo_met: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    failed_steps: Vec<String>,
}

impl DrillRun {
    fn from_report(r: &Report) -> Self {
        DrillRun {
            run_id: r.run_id.clone(),
            plan: r.plan.clone(),
            status: r.status.clone(),
            started_at: r.started_at,
            finished_at: r.finished_at,
            rto_ms: r.rto_ms,
            rto_target_ms: r.rto_target_ms,
            rto_met: r.rto_met,
            rpo_ms: r.rpo_ms,
            rpo_target_ms: r.rpo_target_ms,
            rpo_met: r.rpo_met,
            failed_steps: r.failed_steps.clone(),
        }
    }
}

/// One finding of the post-failover check.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Finding {
    check: &'static str,
    resource: String,
    ok: bool,
    message: String,
}

/// The drill's report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DrillReport {
    drill_id: String,
    /// `met`, `missed` (everything ran, a target or the check was missed) or
    /// `failed` (a run did not succeed).
    status: &'static str,
    met: bool,
    failover: DrillRun,
    check: Vec<Finding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hold_ms: Option<u64>,
    failback: Option<DrillRun>,
    /// From the failover's traffic reaching the secondary to the failback's
    /// traffic starting to leave it.
    on_secondary_ms: Option<u64>,
    /// Why the drill is not `met`, one line each.
    reasons: Vec<String>,
}

/// `dr drill`.
pub(crate) async fn drill(
    g: &Global,
    failover_path: &Path,
    failback_path: &Path,
    hold: Option<Duration>,
) -> u8 {
    let registry = registry();
    // Both plans are valid before anything runs.
    let failover = match load(g, failover_path, &registry) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let failback = match load(g, failback_path, &registry) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if let Err(code) = check_approvals(g, &[&failover, &failback]) {
        return code;
    }
    if !g.yes && !terminal::interactive() {
        return usage_error(
            g,
            "no_consent",
            "refusing to run a drill without confirmation: there is no terminal to ask on. \
             A drill is a real failover and failback; review both with `dr plan`, then pass --yes"
                .to_string(),
        );
    }
    if !g.yes {
        let question = format!(
            "Drill: fail over with {} ({} steps), check, then fail back with {} ({} steps)?",
            failover.name,
            failover.steps.len(),
            failback.name,
            failback.steps.len()
        );
        if !terminal::ask_yes_no(&question) {
            errln!("not run");
            return 1;
        }
    }

    let output = Output::from_flags(g);
    let state_dir = g.state_dir();
    output.note(&format!("drill: failover with plan {}", failover.name));
    let ex = Executor::new(failover, run::options(g, &state_dir, &output, None));
    let result = ex.run().await;
    let outcome = match result {
        Ok(o) => o,
        Err(e) => return run::exit_code_for(&Err(e), g.json),
    };
    let mut report = DrillReport {
        drill_id: format!("drill-{}", outcome.run_id),
        status: "failed",
        met: false,
        failover: DrillRun::from_report(&outcome.report),
        check: Vec::new(),
        hold_ms: hold.map(|h| h.as_millis() as u64),
        failback: None,
        on_secondary_ms: None,
        reasons: Vec::new(),
    };
    if outcome.status != RunStatus::Succeeded {
        report.reasons.push(format!(
            "the failover ended {}: the failback was not run ({})",
            outcome.status,
            match outcome.status {
                RunStatus::RolledBack => "the rollback restored the start",
                _ => "look at the run before failing back by hand",
            }
        ));
        return finish(g, &state_dir, report);
    }

    report.check = check(ex.plan()).await;
    for f in report.check.iter().filter(|f| !f.ok) {
        report
            .reasons
            .push(format!("after the failover, {}: {}", f.resource, f.message));
    }
    if let Some(hold) = hold {
        output.note(&format!(
            "drill: on the secondary for {}",
            dr_core::format_duration(hold)
        ));
        tokio::time::sleep(hold).await;
    }

    output.note(&format!("drill: failback with plan {}", failback.name));
    let ex = Executor::new(failback, run::options(g, &state_dir, &output, None));
    let back = match ex.run().await {
        Ok(o) => o,
        Err(e) => {
            report
                .reasons
                .push(format!("the failback could not run: {e}"));
            return finish(g, &state_dir, report);
        }
    };
    report.on_secondary_ms = on_secondary(&outcome.report, &back.report);
    report.failback = Some(DrillRun::from_report(&back.report));
    if back.status != RunStatus::Succeeded {
        report
            .reasons
            .push(format!("the failback ended {}", back.status));
        return finish(g, &state_dir, report);
    }
    report.status = "missed";
    for (which, run) in [
        ("failover", &report.failover),
        ("failback", report.failback.as_ref().expect("set above")),
    ] {
        if run.rto_met == Some(false) {
            report.reasons.push(format!(
                "{which} RTO {} > target {}",
                ms(run.rto_ms),
                ms(run.rto_target_ms)
            ));
        }
        if run.rpo_met == Some(false) {
            report.reasons.push(format!(
                "{which} RPO {} > target {}",
                ms(run.rpo_ms),
                ms(run.rpo_target_ms)
            ));
        }
    }
    if report.reasons.is_empty() {
        report.status = "met";
        report.met = true;
    }
    finish(g, &state_dir, report)
}

fn ms(v: Option<u64>) -> String {
    match v {
        Some(ms) => dr_core::format_duration(Duration::from_millis(ms)),
        None => "unknown".to_string(),
    }
}

/// `--approve` ids must name an approval step of one of the plans.
fn check_approvals(g: &Global, plans: &[&Plan]) -> Result<(), u8> {
    let approvals: Vec<&str> = plans
        .iter()
        .flat_map(|p| p.steps.iter())
        .filter(|s| matches!(s.action, StepAction::Approval { .. }))
        .map(|s| s.id.as_str())
        .collect();
    for id in &g.approve {
        if !approvals.contains(&id.as_str()) {
            return Err(usage_error(
                g,
                "unknown_approval",
                format!(
                    "--approve {id}: neither plan has an approval step `{id}`; nothing was run"
                ),
            ));
        }
    }
    Ok(())
}

/// What the failover meant to leave behind, read back: each router on the split
/// of its last traffic step, each promoted store a primary, each gate's probe
/// healthy. Reads only.
async fn check(plan: &Plan) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut last_split: Vec<(String, Option<String>, TrafficSplit)> = Vec::new();
    let mut promoted = Vec::new();
    let mut probes = Vec::new();
    for step in &plan.steps {
        match &step.action {
            StepAction::TrafficSet {
                router,
                split,
                scope,
            } => set_last(&mut last_split, router, scope, split.clone()),
            StepAction::TrafficShift {
                router,
                to,
                gate,
                scope,
                ..
            } => {
                set_last(&mut last_split, router, scope, TrafficSplit::all_to(to));
                if let Some(g) = gate {
                    probes.push(g.probe.clone());
                }
            }
            StepAction::ProbeWait(g) => probes.push(g.probe.clone()),
            StepAction::DatastorePromote { store, .. } => promoted.push(store.clone()),
            _ => {}
        }
    }
    for (router, scope, want) in last_split {
        let Some(r) = plan.resource(&router).and_then(|r| r.router()) else {
            continue;
        };
        let (ok, message) = match r.current(scope.as_deref()).await {
            Ok(have) if have.same_as(&want) => (true, format!("on {have}")),
            Ok(have) => (false, format!("on {have}, the plan left it on {want}")),
            Err(e) => (false, format!("cannot read the split: {e}")),
        };
        findings.push(Finding {
            check: "traffic",
            resource: router,
            ok,
            message,
        });
    }
    for store in promoted {
        let Some(s) = plan.resource(&store).and_then(|r| r.store()) else {
            continue;
        };
        let (ok, message) = match s.role().await {
            Ok(Role::Primary) => (true, "primary".to_string()),
            Ok(role) => (false, format!("{role}, the plan promoted it")),
            Err(e) => (false, format!("cannot read the role: {e}")),
        };
        findings.push(Finding {
            check: "role",
            resource: store,
            ok,
            message,
        });
    }
    probes.sort();
    probes.dedup();
    for probe in probes {
        let Some(p) = plan.resource(&probe).and_then(|r| r.probe()) else {
            continue;
        };
        let (ok, message) = match p.probe().await {
            Ok(h) if h.is_healthy() => (true, "healthy".to_string()),
            Ok(h) => (false, format!("{}: {}", h.status, h.detail)),
            Err(e) => (false, format!("cannot probe: {e}")),
        };
        findings.push(Finding {
            check: "health",
            resource: probe,
            ok,
            message,
        });
    }
    findings
}

fn set_last(
    last: &mut Vec<(String, Option<String>, TrafficSplit)>,
    router: &str,
    scope: &Option<String>,
    split: TrafficSplit,
) {
    last.retain(|(r, s, _)| !(r == router && s == scope));
    last.push((router.to_string(), scope.clone(), split));
}

/// From the failover's traffic on the secondary (its RTO point, else its end)
/// to the failback's first traffic step starting (else its start).
fn on_secondary(failover: &Report, failback: &Report) -> Option<u64> {
    let from = match failover.rto_ms {
        Some(rto) => failover.started_at + chrono::Duration::milliseconds(rto as i64),
        None => failover.finished_at?,
    };
    let until = failback
        .steps
        .iter()
        .filter(|s| s.action.starts_with("traffic."))
        .filter_map(|s| s.started_at)
        .min()
        .unwrap_or(failback.started_at);
    u64::try_from((until - from).num_milliseconds()).ok()
}

/// Writes the report to the state dir, prints it, and gives the exit code.
fn finish(g: &Global, state_dir: &Path, report: DrillReport) -> u8 {
    let md = markdown(&report);
    let saved = save(state_dir, &report, &md);
    if g.json {
        let mut line = json!({ "event": "drill_finished" });
        if let (Some(obj), Ok(serde_json::Value::Object(fields))) =
            (line.as_object_mut(), serde_json::to_value(&report))
        {
            obj.extend(fields);
        }
        outln!("{line}");
    } else {
        out!("\n{md}");
    }
    match saved {
        Ok(path) if !g.json => errln!("drill report: {}", path.display()),
        Ok(_) => {}
        Err(e) => errln!("warning: the drill report could not be saved: {e}"),
    }
    if report.met { 0 } else { 1 }
}

fn save(state_dir: &Path, report: &DrillReport, md: &str) -> std::io::Result<PathBuf> {
    let dir = state_dir.join("drills");
    std::fs::create_dir_all(&dir)?;
    let json = serde_json::to_string_pretty(report).unwrap_or_default();
    std::fs::write(dir.join(format!("{}.json", report.drill_id)), json)?;
    let path = dir.join(format!("{}.md", report.drill_id));
    std::fs::write(&path, md)?;
    Ok(path)
}

fn markdown(r: &DrillReport) -> String {
    let verdict = |v: Option<bool>| match v {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "no target",
    };
    let mut s = format!(
        "# Drill {}: {}\n\n| run | plan | status | RTO | target | | RPO | target | |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        r.drill_id,
        if r.met { "targets met" } else { r.status }
    );
    let runs = [
        ("failover", Some(&r.failover)),
        ("failback", r.failback.as_ref()),
    ];
    for (which, run) in runs {
        match run {
            Some(run) => s.push_str(&format!(
                "| {which} `{}` | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                run.run_id,
                run.plan,
                run.status,
                ms(run.rto_ms),
                ms(run.rto_target_ms),
                verdict(run.rto_met),
                ms(run.rpo_ms),
                ms(run.rpo_target_ms),
                verdict(run.rpo_met),
            )),
            None => s.push_str(&format!("| {which} | | not run | | | | | | |\n")),
        }
    }
    s.push('\n');
    if let Some(on) = r.on_secondary_ms {
        s.push_str(&format!("On the secondary: {}.\n\n", ms(Some(on))));
    }
    if !r.check.is_empty() {
        s.push_str("Check after the failover:\n\n");
        for f in &r.check {
            s.push_str(&format!(
                "- {} {} `{}`: {}\n",
                if f.ok { "✓" } else { "✗" },
                f.check,
                f.resource,
                f.message
            ));
        }
        s.push('\n');
    }
    if !r.reasons.is_empty() {
        s.push_str("Not met:\n\n");
        for reason in &r.reasons {
            s.push_str(&format!("- {reason}\n"));
        }
    }
    s
}
