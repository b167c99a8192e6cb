//! `dr drill FAILOVER --failback FAILBACK`: the monthly failover test, over
//! [`dr_core::drill`].
//!
//! Both plans are validated before anything runs; the drill itself (failover,
//! end-state check, `--hold`, failback, one report against the targets) is the
//! library's. Exit 0 when both runs succeeded, the check passed and every
//! target was met; 1 otherwise; 2 when a plan is invalid or consent is missing.
//!
//! The report goes to stdout (Markdown, or with `--json` a final
//! `{"event":"drill_finished",..}` line) and to `<state-dir>/drills/<drill-id>.json`
//! and `.md`, next to the runs' own journals and reports.

use std::path::Path;
use std::time::Duration;

use dr_core::drill::{Drill, DrillReport};
use serde_json::json;

use crate::Global;
use crate::common::{check_approvals, load, usage_error};
use crate::out::{errln, out, outln};
use crate::providers::registry;
use crate::run::{self, Output};
use crate::terminal;

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
    let notes = output.clone();
    let drill = Drill::new(failover, failback)
        .hold(hold)
        .on_note(move |line| notes.note(line));
    match drill
        .run(|| run::options(g, &state_dir, &output, None))
        .await
    {
        Ok(report) => finish(g, &state_dir, report),
        Err(e) => run::exit_code_for(&Err(e), g.json),
    }
}

/// Writes the report to the state dir, prints it, and gives the exit code.
fn finish(g: &Global, state_dir: &Path, report: DrillReport) -> u8 {
    let saved = report.save(state_dir);
    if g.json {
        let mut line = json!({ "event": "drill_finished" });
        if let (Some(obj), Ok(serde_json::Value::Object(fields))) =
            (line.as_object_mut(), serde_json::to_value(&report))
        {
            obj.extend(fields);
        }
        outln!("{line}");
    } else {
        out!("\n{}", report.to_markdown());
    }
    match saved {
        Ok(path) if !g.json => errln!("drill report: {}", path.display()),
        Ok(_) => {}
        Err(e) => errln!("warning: the drill report could not be saved: {e}"),
    }
    if report.met { 0 } else { 1 }
}
