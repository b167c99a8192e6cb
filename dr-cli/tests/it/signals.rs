//! `dr` under what an operator does at 3 a.m., with real signals: Ctrl-C
//! (SIGINT) and SIGTERM mid-shift, `kill -9` while a command runs, no terminal
//! and no `--yes`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

use crate::support::{calls, dr, dr_in, json_lines, kill, split, with_plan};

/// `dr run PLAN --json --yes` in the background, its stdout lines readable.
fn spawn_run(dir: &Path, plan: &str) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = dr_in(dir)
        .args(["run", plan, "--json", "--yes", "--state-dir", "sd"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    (child, out)
}

/// Reads events until one satisfies `until` (bounded); returns them all.
fn read_until(
    out: &mut BufReader<std::process::ChildStdout>,
    until: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 {
        let v: Value = serde_json::from_str(line.trim()).unwrap();
        line.clear();
        let stop = until(&v);
        seen.push(v);
        if stop {
            return seen;
        }
    }
    panic!("the run ended before the expected event: {seen:?}");
}

const SHIFT: &str = r#"
[plan]
name = "signals"

[resources.front]
provider = "sim.router"
targets = ["east", "west", "maintenance"]
initial = { east = 100 }
state_file = "sim.json"

[resources.web_west]
provider = "sim.probe"
healthy = true

[resources.db]
provider = "sim.store"
role = "replica"
state_file = "sim.json"

[[steps]]
id = "maintenance"
action = "traffic.set"
router = "front"
split = { maintenance = 100 }

[[steps]]
id = "promote"
action = "datastore.promote"
store = "db"
depends_on = ["maintenance"]

[[steps]]
id = "shift"
action = "traffic.shift"
router = "front"
to = "west"
phases = [50, 100]
gate = { probe = "web_west", times = 10, every = "200ms", timeout = "1m" }
on_failure = "rollback"
depends_on = ["promote"]
"#;

#[test]
fn sigint_or_sigterm_mid_shift_leaves_traffic_where_it_is_and_resume_continues() {
    for sig in ["-INT", "-TERM"] {
        let tmp = with_plan(SHIFT);
        let dir = tmp.path();
        let (mut child, mut out) = spawn_run(dir, "p.toml");
        let seen = read_until(&mut out, |e| {
            e["event"] == "phase_applied" && e["phase"] == 50
        });
        let run_id = seen[0]["run_id"].as_str().unwrap().to_string();
        kill(&child, sig);
        let rest = read_until(&mut out, |e| e["event"] == "run_finished");
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(1), "{sig}");
        let last = rest.last().unwrap();
        assert_eq!(last["status"], "interrupted", "{sig}: {last}");
        assert!(
            !rest.iter().any(|e| e["event"] == "rolled_back"),
            "{sig}: nothing is rolled back: {rest:?}"
        );
        assert!(rest.iter().any(|e| e["event"] == "step_interrupted"));
        // Traffic stays at the phase in effect; the failover is not undone.
        assert_eq!(
            split(dir, "p.toml", "front"),
            serde_json::json!({"maintenance": 50, "west": 50}),
            "{sig}"
        );
        let out = dr(dir, &["resume", &run_id, "--json"]).assert().code(0);
        let events = json_lines(&out.get_output().stdout);
        assert_eq!(events.last().unwrap()["status"], "succeeded", "{sig}");
        assert_eq!(
            split(dir, "p.toml", "front"),
            serde_json::json!({"west": 100})
        );
        // maintenance, 50 %, 100 %: each once; the promote once.
        assert_eq!(calls(dir, "p.toml", "front", "apply"), 3, "{sig}");
        assert_eq!(calls(dir, "p.toml", "db", "promote"), 1, "{sig}");
    }
}

#[test]
fn kill_9_while_a_command_runs_kills_the_command_and_resume_asks_for_consent() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let log: PathBuf = dir.join("exec.log");
    let plan = format!(
        r#"
[plan]
name = "cmd"

[[steps]]
id = "write"
action = "exec"
command = "echo a >> '{log}'; sleep 1; echo b >> '{log}'"
"#,
        log = log.display()
    );
    std::fs::write(dir.join("p.toml"), plan).unwrap();
    let (mut child, mut out) = spawn_run(dir, "p.toml");
    let seen = read_until(&mut out, |e| e["event"] == "step_started");
    let run_id = seen[0]["run_id"].as_str().unwrap().to_string();
    // Wait (bounded) until the command is running, then kill -9 `dr`.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log).is_ok_and(|t| t.contains('a')) {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    kill(&child, "-9");
    child.wait().unwrap();
    drop(out);
    // The command died with `dr`: its side effect never happens.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "a\n");

    // In flight, neither idempotent nor verifiable: resume asks first.
    let refused = dr(dir, &["resume", &run_id]).assert().code(2);
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    assert!(stderr.contains("--rerun write"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "a\n");
    dr(dir, &["resume", &run_id, "--rerun", "write"])
        .assert()
        .code(0);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "a\na\nb\n");
}

#[test]
fn run_without_a_terminal_and_without_yes_refuses_and_changes_nothing() {
    let tmp = with_plan(SHIFT);
    let dir = tmp.path();
    let out = dr(dir, &["run", "p.toml"]).assert().code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("--yes"), "{stderr}");
    assert!(!dir.join("sd").join("runs").exists());
    assert_eq!(calls(dir, "p.toml", "front", "apply"), 0);
}

#[test]
fn validate_warns_when_a_rollback_would_stop_at_a_one_way_step() {
    let tmp = with_plan(SHIFT);
    let dir = tmp.path();
    let out = dr(dir, &["validate", "p.toml"]).assert().code(0);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("warning"), "{stderr}");
    assert!(stderr.contains("one-way step `promote`"), "{stderr}");
    let line = SHIFT
        .lines()
        .position(|l| l.starts_with("on_failure"))
        .unwrap()
        + 1;
    assert!(stderr.contains(&format!("p.toml:{line}:14")), "{stderr}");
    let out = dr(dir, &["validate", "p.toml", "--json"]).assert().code(0);
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["warnings"][0]["line"], line);
}

#[test]
fn the_operator_is_dr_operator_else_the_os_user() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let plan =
        "[plan]\nname = \"who\"\n[[steps]]\nid = \"w\"\naction = \"wait\"\nduration = \"1ms\"\n";
    std::fs::write(dir.join("p.toml"), plan).unwrap();
    let operator = |cmd: &mut Command| {
        let out = cmd.assert().code(0);
        let events = json_lines(&out.get_output().stdout);
        let run_id = events[0]["run_id"].as_str().unwrap().to_string();
        let out = dr(dir, &["report", &run_id, "--format", "json"])
            .assert()
            .code(0);
        let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        report["operator"].as_str().unwrap().to_string()
    };
    let mut with = dr(dir, &["run", "p.toml", "--yes", "--json"]);
    with.env("DR_OPERATOR", "alice@oncall");
    assert_eq!(operator(&mut with), "alice@oncall");
    // A plain shell without USER and friends: the account of the user id.
    let mut plain = dr(dir, &["run", "p.toml", "--yes", "--json"]);
    for v in ["DR_OPERATOR", "USER", "LOGNAME", "USERNAME"] {
        plain.env_remove(v);
    }
    let who = operator(&mut plain);
    let expected = String::from_utf8(StdCommand::new("id").arg("-un").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(who, expected);
    assert_ne!(who, "unknown");
}
