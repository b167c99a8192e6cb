//! The `dr` binary against its contract: commands, exit codes, JSON shapes,
//! approvals, crash and resume. Each test works in its own temp dir (the cwd,
//! where the plans' relative `state_file`s land) with its own `--state-dir`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use tempfile::TempDir;

use crate::support::{self, dr_in, json_lines, kill, sim_failover};

/// A temp dir holding plans, the sim state and the state dir `sd`.
struct Env {
    dir: TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn state_dir(&self) -> PathBuf {
        self.path().join("sd")
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// `dr ARGS --state-dir sd`, run in the temp dir.
    fn dr(&self, args: &[&str]) -> Command {
        support::dr(self.path(), args)
    }

    fn stdout(&self, args: &[&str], code: i32) -> String {
        support::dr_stdout(self.path(), args, code)
    }

    /// `dr status PLAN --json`, one object per line.
    fn status(&self, plan: &str) -> Vec<Value> {
        support::status(self.path(), plan)
    }

    /// The `calls` counter `op` of `resource` (0 when absent).
    fn calls(&self, plan: &str, resource: &str, op: &str) -> u64 {
        support::calls(self.path(), plan, resource, op)
    }

    fn split(&self, plan: &str, router: &str) -> Value {
        support::split(self.path(), plan, router)
    }
}

fn journal_path(env: &Env, run_id: &str) -> PathBuf {
    env.state_dir()
        .join("runs")
        .join(run_id)
        .join("journal.jsonl")
}

#[test]
fn validate_accepts_a_good_plan() {
    let env = Env::new();
    env.write("p.toml", &sim_failover("good", "0ms", ""));
    env.dr(&["validate", "p.toml"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("valid"));
    let v: Value = serde_json::from_str(&env.stdout(&["validate", "p.toml", "--json"], 0)).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["steps"], 5);
}

#[test]
fn validate_names_file_line_and_column_of_each_problem_and_exits_2() {
    let env = Env::new();
    let text = sim_failover("broken", "0ms", "")
        .replace(
            "split = { maintenance = 100 }",
            "split = { maintenance = 90 }",
        )
        .replace("store = \"cache\"", "store = \"nosuch\"");
    env.write("broken.toml", &text);
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let out = env.dr(&["validate", "broken.toml"]).assert().code(2);
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    let weights = line_of("maintenance = 90");
    let missing = line_of("store = \"nosuch\"");
    assert!(
        stderr.contains(&format!("broken.toml:{weights}:")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("broken.toml:{missing}:9")),
        "{stderr}"
    );
    // The offending source line is shown with a caret under it.
    assert!(stderr.contains("| store = \"nosuch\""), "{stderr}");
    assert!(stderr.contains("|         ^"), "{stderr}");
    // --json lists the diagnostics.
    let out = env
        .dr(&["validate", "broken.toml", "--json"])
        .assert()
        .code(2);
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["valid"], false);
    let diags = v["diagnostics"].as_array().unwrap();
    assert!(diags.len() >= 2, "{v}");
    assert!(
        diags
            .iter()
            .any(|d| d["line"] == missing && d["column"] == 9)
    );
    // Every other plan command refuses an invalid plan with 2.
    for args in [
        &["plan", "broken.toml"][..],
        &["run", "broken.toml", "--yes"],
        &["status", "broken.toml"],
        &["graph", "broken.toml"],
    ] {
        env.dr(args).assert().code(2);
    }
    assert!(!env.state_dir().join("runs").exists());
}

#[test]
fn plan_previews_every_change_and_touches_nothing() {
    let env = Env::new();
    env.write("p.toml", &sim_failover("preview", "0ms", ""));
    let out = env.stdout(&["plan", "p.toml"], 0);
    assert!(out.contains("front: east 100 -> maintenance 100"), "{out}");
    assert!(out.contains("db_west: replica -> primary"), "{out}");
    let lines = json_lines(env.stdout(&["plan", "p.toml", "--json"], 0));
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["step"], "maintenance");
    assert!(lines[0]["change"].as_str().unwrap().contains("->"));
    assert_eq!(
        env.split("p.toml", "front"),
        serde_json::json!({"east": 100})
    );
    for (r, op) in [
        ("front", "apply"),
        ("db_west", "promote"),
        ("db_east", "fence"),
    ] {
        assert_eq!(env.calls("p.toml", r, op), 0, "{r}.{op}");
    }
}

#[test]
fn run_json_prints_events_reports_and_status_shapes() {
    let env = Env::new();
    env.write("p.toml", &sim_failover("json-run", "0ms", ""));
    let out = env.stdout(&["run", "p.toml", "--json", "--yes"], 0);
    let events = json_lines(&out);
    let first = &events[0];
    assert_eq!(first["event"], "run_started");
    let run_id = first["run_id"].as_str().unwrap().to_string();
    let last = events.last().unwrap();
    assert_eq!(last["event"], "run_finished");
    assert_eq!(last["run_id"], run_id.as_str());
    assert_eq!(last["status"], "succeeded");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "phase_applied" && e["phase"] == 50)
    );

    // The report, as JSON.
    let report: Value =
        serde_json::from_str(&env.stdout(&["report", &run_id, "--format", "json"], 0)).unwrap();
    for key in [
        "run_id",
        "plan",
        "status",
        "started_at",
        "finished_at",
        "rto_ms",
        "rpo_ms",
        "rto_target_ms",
        "rpo_target_ms",
        "steps",
    ] {
        assert!(report.get(key).is_some(), "report lacks {key}: {report}");
    }
    assert_eq!(report["run_id"], run_id.as_str());
    assert_eq!(report["plan"], "json-run");
    assert_eq!(report["status"], "succeeded");
    assert_eq!(report["rto_target_ms"], 300_000);
    assert_eq!(report["rpo_ms"], 2000);
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 5);
    for s in steps {
        for key in ["id", "status", "started_at", "finished_at", "attempts"] {
            assert!(s.get(key).is_some(), "step lacks {key}: {s}");
        }
        assert_eq!(s["status"], "succeeded");
    }
    // ... and as Markdown.
    let md = env.stdout(&["report", &run_id], 0);
    assert!(md.contains("| RTO |") && md.contains(&run_id), "{md}");

    // Status: one object per resource and kind, sim resources with calls.
    let status = env.status("p.toml");
    let front = status.iter().find(|v| v["resource"] == "front").unwrap();
    assert_eq!(front["kind"], "router");
    assert_eq!(front["split"], serde_json::json!({"west": 100}));
    assert_eq!(front["calls"]["apply"], 3);
    let db = status
        .iter()
        .find(|v| v["resource"] == "db_west" && v["kind"] == "store")
        .unwrap();
    assert_eq!(db["role"], "primary");
    assert_eq!(db["calls"]["promote"], 1);
    let probe = status.iter().find(|v| v["resource"] == "web_west").unwrap();
    assert_eq!(probe["kind"], "probe");
    assert_eq!(probe["status"], "healthy");

    // The state dir holds the journal, the audit log and the locks dir.
    assert!(journal_path(&env, &run_id).is_file());
    assert!(env.state_dir().join("audit.jsonl").is_file());
    assert!(env.state_dir().join("locks").is_dir());
}

#[test]
fn run_prints_the_run_id_first_and_one_line_per_event() {
    let env = Env::new();
    env.write("p.toml", &sim_failover("plain-run", "0ms", ""));
    let out = env.stdout(&["run", "p.toml", "--yes"], 0);
    let first = out.lines().next().unwrap();
    let run_id = first.strip_prefix("run ").expect(first);
    assert!(journal_path(&env, run_id).is_file(), "{out}");
    assert!(
        out.contains("✓ step shift succeeded front: maintenance 100 -> west 100"),
        "{out}"
    );
    assert!(out.lines().last().unwrap().contains("succeeded"), "{out}");
    assert!(!out.contains('\x1b'), "NO_COLOR output has escapes: {out}");
}

#[test]
fn a_failing_gate_after_the_promote_halts_on_the_maintenance_page_then_resume_finishes() {
    let env = Env::new();
    env.write("p.toml", &sim_failover("halt", "0ms", ""));
    env.dr(&["sim", "down", "west", "--plan", "p.toml"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("marked `west` down"));
    let events = json_lines(env.stdout(&["run", "p.toml", "--json", "--yes"], 1));
    let last = events.last().unwrap();
    assert_eq!(last["event"], "run_finished");
    assert_eq!(last["status"], "halted");
    assert_eq!(last["halted_by"], "promote");
    assert!(
        last["decision"].as_str().unwrap().contains("dr resume"),
        "{last}"
    );
    // Not back to east: db_west took over, east is fenced.
    assert_eq!(
        env.split("p.toml", "front"),
        serde_json::json!({"maintenance": 100})
    );
    let run_id = events[0]["run_id"].as_str().unwrap();
    let report: Value =
        serde_json::from_str(&env.stdout(&["report", run_id, "--format", "json"], 0)).unwrap();
    assert_eq!(report["status"], "halted");
    assert_eq!(report["halted_by"], "promote");
    assert_eq!(report["rto_ms"], Value::Null);
    assert!(report["audit_head"]["hash"].is_string(), "{report}");
    let md = env.stdout(&["report", run_id], 0);
    assert!(md.contains("Halted at one-way step `promote`"), "{md}");

    // Healed, the halted run is resumed and goes forward.
    env.dr(&["sim", "up", "west", "--state-file", "sim.json"])
        .assert()
        .code(0);
    let events = json_lines(env.stdout(&["resume", run_id, "--json"], 0));
    assert_eq!(events.last().unwrap()["status"], "succeeded");
    assert_eq!(
        env.split("p.toml", "front"),
        serde_json::json!({"west": 100})
    );
    assert_eq!(env.calls("p.toml", "db_west", "promote"), 1);
    assert_eq!(env.calls("p.toml", "db_east", "fence"), 1);
}

#[test]
fn sim_down_defaults_to_the_state_dir_file() {
    let env = Env::new();
    env.dr(&["sim", "down", "west"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("sim-state.json"));
    let text = std::fs::read_to_string(env.state_dir().join("sim-state.json")).unwrap();
    assert!(text.contains("west"), "{text}");
    env.dr(&["sim", "down", "east"])
        .env("DR_SIM_STATE", "elsewhere.json")
        .assert()
        .code(0);
    assert!(env.path().join("elsewhere.json").is_file());
}

#[test]
fn an_approval_not_given_fails_the_run_before_later_steps() {
    let env = Env::new();
    let text = sim_failover("approval", "0ms", "").replace(
        "[[steps]]\nid = \"fence\"",
        "[[steps]]\nid = \"go\"\naction = \"approval\"\nmessage = \"Fence east and promote west?\"\ndepends_on = [\"maintenance\"]\n\n[[steps]]\nid = \"fence\"",
    ).replace("depends_on = [\"maintenance\"]\n\n[[steps]]\nid = \"promote\"", "depends_on = [\"go\"]\n\n[[steps]]\nid = \"promote\"");
    env.write("p.toml", &text);
    env.dr(&["validate", "p.toml"]).assert().code(0);
    let events = json_lines(env.stdout(&["run", "p.toml", "--json", "--yes"], 1));
    let last = events.last().unwrap();
    assert_eq!(last["status"], "failed");
    assert!(
        last["error"].as_str().unwrap().contains("--approve go"),
        "{last}"
    );
    assert!(
        !events
            .iter()
            .any(|e| e["event"] == "step_started" && e["step"] == "fence")
    );
    assert_eq!(env.calls("p.toml", "db_east", "fence"), 0);
    assert_eq!(env.calls("p.toml", "db_west", "promote"), 0);
    assert_eq!(env.calls("p.toml", "front", "apply"), 1);

    env.dr(&["run", "p.toml", "--yes", "--approve", "go"])
        .assert()
        .code(0);
    assert_eq!(env.calls("p.toml", "db_east", "fence"), 1);
    assert_eq!(env.calls("p.toml", "db_west", "promote"), 1);
}

#[test]
fn an_rpo_gate_refuses_unless_data_loss_is_accepted() {
    let env = Env::new();
    let text = sim_failover("rpo", "0ms", "").replace("max_lag = \"30s\"", "max_lag = \"1s\"");
    env.write("p.toml", &text);
    env.dr(&["run", "p.toml", "--yes"]).assert().code(1);
    assert_eq!(env.calls("p.toml", "db_west", "promote"), 0);
    env.dr(&["run", "p.toml", "--yes", "--accept-data-loss"])
        .assert()
        .code(0);
    assert_eq!(env.calls("p.toml", "db_west", "promote"), 1);
}

#[test]
fn kill_9_mid_run_then_resume_applies_every_change_exactly_once() {
    let env = Env::new();
    env.write("p.toml", &sim_failover("crash", "250ms", ""));
    let mut child = dr_in(env.path())
        .args(["run", "p.toml", "--json", "--yes", "--state-dir", "sd"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Keep reading stdout, or the child dies of a closed pipe, not of the kill.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let started: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(started["event"], "run_started");
    let run_id = started["run_id"].as_str().unwrap().to_string();
    let journal = journal_path(&env, &run_id);
    // Wait (bounded, generously) until a step has finished, then kill -9.
    let mut finished_steps = 0;
    for _ in 0..3000 {
        let text = std::fs::read_to_string(&journal).unwrap_or_default();
        finished_steps = text.matches("\"type\":\"step_finished\"").count();
        if finished_steps >= 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(finished_steps >= 1, "no step finished");
    kill(&child, "-9");
    child.wait().unwrap();
    drop(stdout);
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(
        !text.contains("\"type\":\"run_finished\""),
        "the run finished before the kill: {text}"
    );

    // The report of the interrupted run says it is still running.
    let report: Value =
        serde_json::from_str(&env.stdout(&["report", &run_id, "--format", "json"], 0)).unwrap();
    assert_eq!(report["status"], "running");

    let events = json_lines(env.stdout(&["resume", &run_id, "--json"], 0));
    assert_eq!(events[0]["event"], "run_started");
    assert_eq!(events[0]["resumed"], true);
    assert!(events.iter().any(|e| e["event"] == "step_skipped"));
    let last = events.last().unwrap();
    assert_eq!(last["event"], "run_finished");
    assert_eq!(last["status"], "succeeded");

    // Every mutating call took effect exactly once.
    assert_eq!(env.calls("p.toml", "front", "apply"), 3); // maintenance, 50%, 100%
    assert_eq!(env.calls("p.toml", "db_east", "fence"), 1);
    assert_eq!(env.calls("p.toml", "db_west", "promote"), 1);
    assert_eq!(env.calls("p.toml", "cache", "flush"), 1);
    assert_eq!(
        env.split("p.toml", "front"),
        serde_json::json!({"west": 100})
    );

    // A finished run cannot be resumed; neither can an unknown one.
    env.dr(&["resume", &run_id])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already finished"));
    env.dr(&["resume", "20990101T000000Z-nosuch"])
        .assert()
        .code(2);
}

#[test]
fn a_plan_locked_by_another_run_exits_1() {
    let env = Env::new();
    env.write("p.toml", &sim_failover("locked", "0ms", ""));
    let locks = env.state_dir().join("locks");
    std::fs::create_dir_all(&locks).unwrap();
    // Held by a live process: this test.
    let holder = serde_json::json!({
        "run_id": "20260101T000000Z-other",
        "pid": std::process::id(),
        "host": "elsewhere",
        "started_at": "2026-01-01T00:00:00Z",
    });
    std::fs::write(locks.join("locked.lock"), holder.to_string()).unwrap();
    env.dr(&["run", "p.toml", "--yes"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("20260101T000000Z-other"));
    assert_eq!(env.calls("p.toml", "front", "apply"), 0);
}

#[test]
fn audit_verify_detects_an_edited_line() {
    let env = Env::new();
    env.write("p.toml", &sim_failover("audited", "0ms", ""));
    env.dr(&["run", "p.toml", "--yes"]).assert().code(0);
    env.dr(&["audit", "verify"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("intact"));
    let log = env.state_dir().join("audit.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("\"promote\""), "{text}");
    let edited = text.replacen("\"promote\"", "\"promoted\"", 1);
    std::fs::write(&log, edited).unwrap();
    env.dr(&["audit", "verify"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("tampered"));
}

#[test]
fn report_of_an_unknown_run_exits_2() {
    let env = Env::new();
    env.dr(&["report", "nosuch"]).assert().code(2);
}

#[test]
fn schema_graph_and_completions() {
    let env = Env::new();
    let schema: Value = serde_json::from_str(&env.stdout(&["schema"], 0)).unwrap();
    assert!(schema.get("properties").is_some() || schema.get("$defs").is_some());
    env.write("p.toml", &sim_failover("graph", "0ms", ""));
    let graph = env.stdout(&["graph", "p.toml"], 0);
    assert!(graph.starts_with("flowchart"), "{graph}");
    assert!(graph.contains("-->"), "{graph}");
    let bash = env.stdout(&["completions", "bash"], 0);
    assert!(bash.contains("resume"), "{bash}");
}

#[test]
fn status_shows_every_resource() {
    let env = Env::new();
    env.write("p.toml", &sim_failover("status", "0ms", ""));
    let out = env.stdout(&["status", "p.toml"], 0);
    for r in ["front", "web_west", "db_east", "db_west", "cache"] {
        assert!(out.contains(r), "{out}");
    }
    let lines = env.status("p.toml");
    assert!(
        lines
            .iter()
            .any(|v| v["resource"] == "db_west" && v["kind"] == "store" && v["role"] == "replica")
    );
}

#[test]
fn demo_halts_on_the_maintenance_page_then_resume_fails_over() {
    let env = Env::new();
    let out = env.stdout(&["demo"], 0);
    assert!(out.contains("halted"), "{out}");
    assert!(
        out.contains("rollback stopped at one-way step `promote-db`"),
        "{out}"
    );
    assert!(out.contains("(resumed)"), "{out}");
    assert!(out.contains("| RTO |"), "{out}");
    // With --state-dir the run is kept: one run (halted, then resumed), an
    // intact audit log.
    let runs: Vec<_> = std::fs::read_dir(env.state_dir().join("runs"))
        .unwrap()
        .collect();
    assert_eq!(runs.len(), 1);
    env.dr(&["audit", "verify"]).assert().code(0);
}
