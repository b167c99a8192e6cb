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

use dr_core::executor::{Event, ExecError, Executor, RunOutcome, RunStatus};
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

/// What the demo's stages share.
struct Demo<'a> {
    g: &'a Global,
    plan: Plan,
    registry: dr_core::Registry,
    state_file: PathBuf,
    state_dir: PathBuf,
    output: Output,
    p: Palette,
}

pub async fn demo(g: &Global) -> u8 {
    let tmp = match tempfile::Builder::new().prefix("dr-demo-").tempdir() {
        Ok(t) => t,
        Err(e) => {
            errln!("error: cannot create a temp dir: {e}");
            return 1;
        }
    };
    let demo = match Demo::new(g, tmp.path()) {
        Ok(d) => d,
        Err(code) => return code,
    };
    demo.introduce().await;
    let first = demo.fail_west_mid_shift().await;
    if run::exit_code(&first) == 2 {
        return 2;
    }
    let halted = matches!(&first, Ok(o) if o.status == RunStatus::Halted);
    let Ok(first) = first else {
        errln!(
            "error: the demo did not behave as designed (first run: {})",
            describe(&first)
        );
        return 1;
    };
    let second = match demo.recover_and_resume(&first.run_id).await {
        Ok(second) => second,
        Err(code) => return code,
    };
    demo.conclude(halted, &first, &second)
}

impl<'a> Demo<'a> {
    /// The drill plan, its sim state pointed at `tmp`.
    fn new(g: &'a Global, tmp: &Path) -> Result<Self, u8> {
        let state_file = tmp.join("sim-state.json");
        let state_dir = g.state_dir.clone().unwrap_or_else(|| tmp.join("dr"));
        // A JSON string is a valid TOML basic string.
        let quoted = serde_json::to_string(&state_file.display().to_string()).unwrap_or_default();
        let text = PLAN.replace(PLAN_STATE_FILE, &quoted);
        let registry = registry();
        let plan = Plan::parse(
            "local-drill.toml",
            &text,
            &registry,
            &LoadOptions::default(),
        )
        .map_err(|d| {
            err!(
                "{}",
                crate::diag::render(&d, Some(&text), Palette::new(terminal::colors_on_stderr()))
            );
            2
        })?;
        Ok(Demo {
            g,
            plan,
            registry,
            state_file,
            state_dir,
            output: Output::from_flags(g),
            p: Palette::new(terminal::colors_on_stdout()),
        })
    }

    fn say(&self, s: impl AsRef<str>) {
        self.output.note(s.as_ref());
    }

    /// What the demo does, the plan's DAG and its read-only preview.
    async fn introduce(&self) {
        let p = self.p;
        self.say(format!(
            "{} an offline failover drill of plan `{}` on the sim providers:\n  \
             east -> maintenance page -> RPO gate -> promote db_west + flush cache -> phased shift to west (gated).\n  \
             sim state: {}\n  state dir: {}",
            p.bold("dr demo:"),
            self.plan.name,
            self.state_file.display(),
            self.state_dir.display()
        ));
        self.say("");
        self.say(p.bold("The plan's DAG (`dr graph`):"));
        self.say(self.plan.mermaid().trim_end());
        self.say("");
        self.say(p.bold("Preview (`dr plan`), read-only:"));
        let preview = Executor::new(
            self.plan.clone(),
            dr_core::executor::RunOptions::new(&self.state_dir),
        )
        .preview()
        .await;
        self.say(crate::render::preview_lines(&self.plan, &preview, p).trim_end());
    }

    /// Step 1: the run, with the west region failing once the shift reaches 60%.
    async fn fail_west_mid_shift(&self) -> Result<RunOutcome, ExecError> {
        let p = self.p;
        self.say("");
        self.say(p.bold("Step 1: run the plan; the west region fails when the shift reaches 60%"));
        let chaos_file = self.state_file.clone();
        let chaos_out = self.output.clone();
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
        let opts = run::options(self.g, &self.state_dir, &self.output, Some(chaos));
        let first = Executor::new(self.plan.clone(), opts).run().await;
        if run::exit_code(&first) != 2 {
            self.show_status().await;
            self.say(p.dim(
                "  The rollback stopped at `promote-db`: db_west is the primary now, so traffic \
                 stays on the maintenance page instead of going back to east.",
            ));
        }
        first
    }

    /// Step 2: west recovers; resuming the halted run retries the shift and
    /// goes forward.
    async fn recover_and_resume(&self, run_id: &str) -> Result<Result<RunOutcome, ExecError>, u8> {
        self.say("");
        self.say(self.p.bold(&format!(
            "Step 2: region `west` recovers (`dr sim up west`); `dr resume {run_id}` finishes the failover"
        )));
        if let Err(e) = dr_core::sim::set_target_down(&self.state_file, "west", false) {
            errln!("error: cannot mark west up: {e}");
            return Err(1);
        }
        let opts = run::options(self.g, &self.state_dir, &self.output, None);
        let second = Executor::resume(&self.registry, run_id, opts).await;
        self.show_status().await;
        Ok(second)
    }

    /// The report (Markdown and HTML) and the verdict.
    fn conclude(
        &self,
        halted: bool,
        first: &RunOutcome,
        second: &Result<RunOutcome, ExecError>,
    ) -> u8 {
        let p = self.p;
        if let Ok(outcome) = second {
            self.say("");
            if self.g.json {
                outln!(
                    "{}",
                    serde_json::to_string(&outcome.report).unwrap_or_default()
                );
            } else {
                self.say(p.bold(&format!("The report (`dr report {}`):", outcome.run_id)));
                self.say("");
                self.say(outcome.report.to_markdown().trim_end());
            }
            match write_html(self.g, &self.state_dir, &outcome.report) {
                Ok(path) => self.say(format!("The report as one HTML page: {}", path.display())),
                Err(e) => errln!("warning: cannot write the HTML report: {e}"),
            }
        }
        self.say("");
        let resumed_ok = matches!(second, Ok(o) if o.status == RunStatus::Succeeded);
        if halted && resumed_ok {
            self.say(format!(
                "{} the failed shift halted on the maintenance page (no split brain); the resumed run moved all traffic to west.",
                p.green("demo complete:")
            ));
            keep_note(self.g, &self.state_dir, &|s: String| self.say(s));
            0
        } else {
            errln!(
                "error: the demo did not behave as designed (first run: {}, resume: {})",
                first.status,
                describe(second)
            );
            1
        }
    }

    async fn show_status(&self) {
        show_status(&self.plan, &self.registry, &self.output, self.p).await;
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
