//! `dr drill FAILOVER --failback FAILBACK` on the sim providers: a drill that
//! meets its targets, one that misses them, one whose failover fails, and one
//! with an invalid failback plan (nothing runs).

use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

use crate::support::dr;

fn failover(rto: &str, west_healthy: bool) -> String {
    format!(
        r#"
[plan]
name = "east-to-west"
rto = "{rto}"
rpo = "5s"

[resources.front]
provider = "sim.router"
targets = ["east", "west"]
initial = {{ east = 100 }}
latency = "20ms"
state_file = "sim.json"

[resources.web_west]
provider = "sim.probe"
healthy = {west_healthy}
state_file = "sim.json"

[resources.db_west]
provider = "sim.store"
role = "replica"
lag = "1s"
state_file = "sim.json"

[[steps]]
id = "promote-west"
action = "datastore.promote"
store = "db_west"
max_lag = "5s"

[[steps]]
id = "shift"
action = "traffic.shift"
router = "front"
to = "west"
phases = [50, 100]
gate = {{ probe = "web_west", times = 1, every = "10ms", timeout = "300ms" }}
on_failure = "rollback"
depends_on = ["promote-west"]
"#
    )
}

const FAILBACK: &str = r#"
[plan]
name = "west-to-east"
rto = "1m"

[resources.front]
provider = "sim.router"
targets = ["east", "west"]
initial = { east = 100 }
latency = "20ms"
state_file = "sim.json"

[resources.web_east]
provider = "sim.probe"
healthy = true
state_file = "sim.json"

[resources.db_east]
provider = "sim.store"
role = "replica"
lag = "1s"
state_file = "sim.json"

[[steps]]
id = "promote-east"
action = "datastore.promote"
store = "db_east"
max_lag = "5s"

[[steps]]
id = "shift-back"
action = "traffic.shift"
router = "front"
to = "east"
phases = [100]
gate = { probe = "web_east", times = 1, every = "10ms", timeout = "1s" }
depends_on = ["promote-east"]
"#;

struct Env {
    dir: TempDir,
}

impl Env {
    fn new(failover: &str, failback: &str) -> Env {
        let env = Env {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(env.path().join("failover.toml"), failover).unwrap();
        std::fs::write(env.path().join("failback.toml"), failback).unwrap();
        env
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn drill(&self, extra: &[&str]) -> std::process::Output {
        let mut args = vec!["--json", "drill", "failover.toml"];
        args.extend(["--failback", "failback.toml", "--yes"]);
        args.extend(extra);
        dr(self.path(), &args).output().unwrap()
    }

    fn sim_state(&self) -> Option<Value> {
        let text = std::fs::read_to_string(self.path().join("sim.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn saved_reports(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.path().join("sd/drills"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }
}

fn finished(out: &std::process::Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.contains("\"drill_finished\""))
        .unwrap_or_else(|| {
            panic!(
                "no drill_finished line:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    serde_json::from_str(line).unwrap()
}

#[test]
fn a_drill_that_meets_its_targets_fails_over_checks_fails_back_and_exits_0() {
    let env = Env::new(&failover("1m", true), FAILBACK);
    let out = env.drill(&["--hold", "100ms"]);
    let report = finished(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["status"], "met");
    assert_eq!(report["met"], true);
    assert_eq!(report["failover"]["status"], "succeeded");
    assert_eq!(report["failback"]["status"], "succeeded");
    for run in ["failover", "failback"] {
        assert!(
            report[run]["rto_ms"].as_u64().is_some(),
            "{run}: {report:#}"
        );
        assert_eq!(report[run]["rto_met"], true, "{run}");
        assert_eq!(report[run]["rto_target_ms"], 60_000);
    }
    assert_eq!(report["failover"]["rpo_met"], true);
    assert!(report["failover"]["rpo_ms"].as_u64().is_some());
    // The check read back what the failover left: traffic on west, the store a
    // primary, the gate's probe healthy.
    let checks = report["check"].as_array().unwrap();
    assert_eq!(checks.len(), 3, "{checks:?}");
    assert!(checks.iter().all(|c| c["ok"] == true), "{checks:?}");
    // On the secondary at least as long as the hold.
    assert!(
        report["on_secondary_ms"].as_u64().unwrap() >= 100,
        "{report:#}"
    );
    // And back at the start.
    let state = env.sim_state().unwrap();
    assert!(state.to_string().contains("east"), "{state}");
    let reports = env.saved_reports();
    assert_eq!(reports.len(), 2, "{reports:?}");
    let md = reports
        .iter()
        .find(|p| p.extension().unwrap() == "md")
        .unwrap();
    let md = std::fs::read_to_string(md).unwrap();
    assert!(
        md.contains("targets met") && md.contains("failback"),
        "{md}"
    );
}

#[test]
fn a_drill_that_misses_its_rto_runs_both_plans_and_exits_1() {
    let env = Env::new(&failover("10ms", true), FAILBACK);
    let out = env.drill(&[]);
    let report = finished(&out);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    assert_eq!(report["status"], "missed");
    assert_eq!(report["met"], false);
    assert_eq!(report["failover"]["rto_met"], false);
    assert_eq!(report["failback"]["status"], "succeeded");
    let reasons = report["reasons"].to_string();
    assert!(reasons.contains("failover RTO"), "{reasons}");
}

#[test]
fn a_failed_failover_is_not_failed_back_and_exits_1() {
    let env = Env::new(&failover("1m", false), FAILBACK);
    let out = env.drill(&[]);
    let report = finished(&out);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    assert_eq!(report["status"], "failed");
    // The gate failed after the one-way promote: the rollback stops there and
    // the run halts; failing back now would be a guess.
    assert_eq!(report["failover"]["status"], "halted");
    assert!(report["failback"].is_null(), "{report:#}");
    let reasons = report["reasons"].to_string();
    assert!(reasons.contains("failback was not run"), "{reasons}");
    assert!(reasons.contains("look at the run"), "{reasons}");
}

#[test]
fn an_invalid_failback_plan_runs_nothing_and_exits_2() {
    let env = Env::new(
        &failover("1m", true),
        &FAILBACK.replace("sim.store", "sim.no_such_provider"),
    );
    let out = env.drill(&[]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\"valid\":false"), "{stdout}");
    assert!(env.sim_state().is_none(), "the failover ran");
    assert!(env.saved_reports().is_empty());
}

#[test]
fn a_drill_without_consent_and_no_terminal_runs_nothing() {
    let env = Env::new(&failover("1m", true), FAILBACK);
    let out = dr(
        env.path(),
        &["drill", "failover.toml", "--failback", "failback.toml"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert!(env.sim_state().is_none());
}

/// Ctrl-C while the drill holds on the secondary ends the hold at once: no
/// failback runs, traffic stays on the secondary, the report says
/// `interrupted` and the exit code is 1. Before, the hold was waited out and
/// the failback ran (exit 0).
#[test]
fn ctrl_c_during_the_hold_ends_the_drill_where_it_is() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let env = Env::new(&failover("1m", true), FAILBACK);
    let mut child = crate::support::dr_in(env.path())
        .args([
            "--json",
            "drill",
            "failover.toml",
            "--failback",
            "failback.toml",
        ])
        .args(["--yes", "--hold", "10m", "--state-dir", "sd"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let mut line = String::new();
    // The failover's end: the drill is about to hold on the secondary.
    while out.read_line(&mut line).unwrap() > 0 {
        let v: Value = serde_json::from_str(line.trim()).unwrap();
        line.clear();
        let done = v["event"] == "run_finished";
        lines.push(v);
        if done {
            break;
        }
    }
    assert_eq!(lines.last().unwrap()["status"], "succeeded", "{lines:?}");
    crate::support::kill(&child, "-INT");
    // A hold of ten minutes: without the interrupt this read would block
    // for that long, so the deadline below is only a guard against a hang.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut rest);
        let _ = tx.send(rest);
    });
    let rest = match rx.recv_timeout(std::time::Duration::from_secs(60)) {
        Ok(rest) => rest,
        Err(_) => {
            let _ = child.kill();
            panic!("the drill did not end after Ctrl-C during its hold");
        }
    };
    let status = child.wait().unwrap();
    let report: Value = rest
        .lines()
        .rev()
        .find(|l| l.contains("\"drill_finished\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap_or_else(|| panic!("no drill_finished line: {rest}"));
    assert_eq!(status.code(), Some(1), "{report:#}");
    assert_eq!(report["status"], "interrupted", "{report:#}");
    assert_eq!(report["met"], false);
    assert_eq!(report["failover"]["status"], "succeeded");
    assert!(report["failback"].is_null(), "no failback: {report:#}");
    assert!(
        !rest.contains("\"run_started\""),
        "the failback plan did not start: {rest}"
    );
    let reasons = report["reasons"].to_string();
    assert!(
        reasons.contains("interrupted on the secondary"),
        "{reasons}"
    );
    // Traffic is where the failover left it.
    assert_eq!(
        crate::support::split(env.path(), "failover.toml", "front"),
        serde_json::json!({"west": 100})
    );
    assert_eq!(env.saved_reports().len(), 2, "the report is saved");
}

/// A failover whose `[plan.after]` window finds the new side unhealthy
/// succeeded (nothing is undone), but the drill has not met its targets.
#[test]
fn an_unhealthy_after_window_of_the_failover_misses_the_drill() {
    let with_after = failover("1m", true).replace(
        "[resources.front]",
        "[plan.after]\nprobes = [\"web_after\"]\nfor = \"50ms\"\nevery = \"10ms\"\n\n\
         [resources.web_after]\nprovider = \"sim.probe\"\nhealthy = false\n\n[resources.front]",
    );
    let env = Env::new(&with_after, FAILBACK);
    let out = env.drill(&[]);
    let report = finished(&out);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    assert_eq!(report["status"], "missed");
    assert_eq!(report["failover"]["status"], "succeeded");
    assert_eq!(report["failover"]["after"], "unhealthy");
    assert_eq!(report["failback"]["status"], "succeeded");
    let reasons = report["reasons"].to_string();
    assert!(reasons.contains("[plan.after] window"), "{reasons}");

    // The same window, healthy: met.
    let env = Env::new(
        &with_after.replace("healthy = false", "healthy = true"),
        FAILBACK,
    );
    let out = env.drill(&[]);
    let report = finished(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["failover"]["after"], "healthy");
}
