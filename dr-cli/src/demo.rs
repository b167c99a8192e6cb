//! `dr demo`: the offline failover drill of `examples/local-drill.toml` on the
//! sim providers. The west region fails at the 60% phase of the traffic shift:
//! the gate fails and the rollback stops at the one-way promote of `db_west`
//! (sending traffic back to east would write to a database that is no longer
//! the primary), so the run halts on the maintenance page. West recovers
//! (`dr sim up west`) and `dr resume` finishes the failover. Ends with the
//! RTO/RPO report, also written as one HTML page (`report.html` in the state
//! dir, or in a temp dir of its own), whose path it prints. Exit 0 when the
//! run halted and the resume succeeded.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dr_core::executor::{Event, Executor, RunStatus};
use dr_core::{LoadOptions, Plan};

use crate::Global;
use crate::out::{err, errln, outln};
use crate::providers::registry;
use crate::run::{self, Output};
use crate::terminal::{self, Palette};

/// The drill plan, shared with `examples/` so `dr run examples/local-drill.toml`
/// runs exactly what the demo shows.
const PLAN: &str = include_str!("../../examples/local-drill.toml");
/// The state file the plan names; the demo points it at a temp dir instead.
const PLAN_STATE_FILE: &str = "\".dr/sim-state.json\"";

pub async fn demo(g: &Global) -> u8 {
    let tmp = match tempfile::Builder::new().prefix("dr-demo-").tempdir() {
        Ok(t) => t,
        Err(e) => {
            errln!("error: cannot create a temp dir: {e}");
            return 1;
        }
    };
    let state_file = tmp.path().join("sim-state.json");
    let state_dir = g.state_dir.clone().unwrap_or_else(|| tmp.path().join("dr"));
    // A JSON string is a valid TOML basic string.
    let quoted = serde_json::to_string(&state_file.display().to_string()).unwrap_or_default();
    let text = PLAN.replace(PLAN_STATE_FILE, &quoted);
    let registry = registry();
    let plan = match Plan::parse(
        "local-drill.toml",
        &text,
        &registry,
        &LoadOptions::default(),
    ) {
        Ok(p) => p,
        Err(d) => {
            err!(
                "{}",
                crate::diag::render(&d, Some(&text), Palette::new(terminal::colors_on_stderr()))
            );
            return 2;
        }
    };
    let output = Output::from_flags(g);
    let p = Palette::new(terminal::colors_on_stdout());
    let say = |s: String| output.note(&s);

    say(format!(
        "{} an offline failover drill of plan `{}` on the sim providers:\n  \
         east -> maintenance page -> RPO gate -> promote db_west + flush cache -> phased shift to west (gated).\n  \
         sim state: {}\n  state dir: {}",
        p.bold("dr demo:"),
        plan.name,
        state_file.display(),
        state_dir.display()
    ));
    say(String::new());
    say(p.bold("The plan's DAG (`dr graph`):"));
    say(plan.mermaid().trim_end().to_string());
    say(String::new());
    say(p.bold("Preview (`dr plan`), read-only:"));
    let preview = Executor::new(plan.clone(), dr_core::executor::RunOptions::new(&state_dir))
        .preview()
        .await;
    say(crate::render::preview_lines(&plan, &preview, p)
        .trim_end()
        .to_string());

    // The west region fails once the shift reaches 60%.
    say(String::new());
    say(p.bold("Step 1: run the plan; the west region fails when the shift reaches 60%"));
    let chaos_file = state_file.clone();
    let chaos_out = output.clone();
    let chaos: dr_core::executor::EventSink = Arc::new(move |e| {
        if let Event::PhaseApplied {
            step, phase: 60, ..
        } = e
        {
            match dr_core::sim::set_target_down(&chaos_file, "west", true) {
                Ok(()) => chaos_out.note(&format!(
                    "  ⚡ chaos: region `west` goes down during step {step} (`dr sim down west`)"
                )),
                Err(err) => chaos_out.note(&format!("  cannot inject the failure: {err}")),
            }
        }
    });
    let opts = run::options(g, &state_dir, &output, Some(chaos));
    let first = Executor::new(plan.clone(), opts).run().await;
    let halted = matches!(&first, Ok(o) if o.status == RunStatus::Halted);
    if run::exit_code(&first) == 2 {
        return 2;
    }
    show_status(&plan, &registry, &output, p).await;
    say(p.dim(
        "  The rollback stopped at `promote-db`: db_west is the primary now, so traffic \
         stays on the maintenance page instead of going back to east.",
    ));

    // West recovers; resuming the halted run retries the shift and goes forward.
    say(String::new());
    let Ok(first) = first else {
        errln!(
            "error: the demo did not behave as designed (first run: {})",
            describe(&first)
        );
        return 1;
    };
    say(p.bold(&format!(
        "Step 2: region `west` recovers (`dr sim up west`); `dr resume {}` finishes the failover",
        first.run_id
    )));
    if let Err(e) = dr_core::sim::set_target_down(&state_file, "west", false) {
        errln!("error: cannot mark west up: {e}");
        return 1;
    }
    let opts = run::options(g, &state_dir, &output, None);
    let second = Executor::resume(&registry, &first.run_id, opts).await;
    let resumed_ok = matches!(&second, Ok(o) if o.status == RunStatus::Succeeded);
    show_status(&plan, &registry, &output, p).await;

    if let Ok(outcome) = &second {
        say(String::new());
        if g.json {
            outln!(
                "{}",
                serde_json::to_string(&outcome.report).unwrap_or_default()
            );
        } else {
            say(p.bold(&format!("The report (`dr report {}`):", outcome.run_id)));
            say(String::new());
            say(outcome.report.to_markdown().trim_end().to_string());
        }
        match write_html(g, &state_dir, &outcome.report) {
            Ok(path) => say(format!("The report as one HTML page: {}", path.display())),
            Err(e) => errln!("warning: cannot write the HTML report: {e}"),
        }
    }
    say(String::new());
    if halted && resumed_ok {
        say(format!(
            "{} the failed shift halted on the maintenance page (no split brain); the resumed run moved all traffic to west.",
            p.green("demo complete:")
        ));
        keep_note(g, &state_dir, &say);
        0
    } else {
        errln!(
            "error: the demo did not behave as designed (first run: {}, resume: {})",
            first.status,
            describe(&second)
        );
        1
    }
}

/// Writes the run's HTML report to `<state dir>/report.html` when the state
/// dir is kept (`--state-dir`), else to `report.html` in a temp dir of its own
/// that outlives the demo; returns the path.
fn write_html(
    g: &Global,
    state_dir: &Path,
    report: &dr_core::report::Report,
) -> std::io::Result<PathBuf> {
    let dir = if g.state_dir.is_some() {
        state_dir.to_path_buf()
    } else {
        tempfile::Builder::new()
            .prefix("dr-demo-report-")
            .tempdir()?
            .keep()
    };
    let path = dir.join("report.html");
    std::fs::write(&path, report.to_html())?;
    Ok(path)
}

fn keep_note(g: &Global, state_dir: &Path, say: &impl Fn(String)) {
    if g.state_dir.is_some() {
        say(format!(
            "Journals, reports and the audit log are in {} (`dr audit verify --state-dir {}`).",
            state_dir.display(),
            state_dir.display()
        ));
    } else {
        say("Run it with `--state-dir DIR` to keep the journals, reports and audit log.".into());
    }
}

fn describe(r: &Result<dr_core::executor::RunOutcome, dr_core::executor::ExecError>) -> String {
    match r {
        Ok(o) => o.status.to_string(),
        Err(e) => format!("error: {e}"),
    }
}

async fn show_status(plan: &Plan, registry: &dr_core::Registry, output: &Output, p: Palette) {
    output.note(&p.dim("  status (`dr status`):"));
    for v in dr_core::status::collect(plan, registry)
        .await
        .iter()
        .map(|s| s.to_json())
    {
        output.note(&format!("    {}", crate::render::status_line(&v, p)));
    }
}
