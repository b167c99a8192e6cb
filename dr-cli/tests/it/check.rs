//! `dr check` on the sim provider: ready, not ready (a store already primary,
//! lag over `max_lag`, an unhealthy gate probe, an unreadable resource), an RTO
//! the plan cannot meet, an invalid plan, and no side effects.

use std::path::Path;

use serde_json::Value;

use crate::support::{dr, json_lines, with_plan};

const PLAN: &str = r#"
[plan]
name = "ready"
rto = "5m"

[resources.front]
provider = "sim.router"
targets = ["east", "west", "maintenance"]
initial = { east = 100 }
state_file = "sim.json"
health = { west = "web_west" }

[resources.web_west]
provider = "sim.probe"
sequence = ["healthy", "unhealthy"]
state_file = "sim.json"

[resources.db]
provider = "sim.store"
role = "replica"
lag = "2s"
state_file = "sim.json"

[resources.link]
provider = "sim.replicator"
lag = "2s"
state_file = "sim.json"

[[steps]]
id = "maintenance"
action = "traffic.set"
router = "front"
split = { maintenance = 100 }

[[steps]]
id = "lag"
action = "replication.check"
replicator = "link"
max_lag = "10s"

[[steps]]
id = "stop"
action = "replication.stop"
replicator = "link"
depends_on = ["lag"]

[[steps]]
id = "promote"
action = "datastore.promote"
store = "db"
max_lag = "10s"
depends_on = ["maintenance", "stop"]

[[steps]]
id = "settle"
action = "wait"
duration = "1m"
depends_on = ["promote"]

[[steps]]
id = "shift"
action = "traffic.shift"
router = "front"
to = "west"
phases = [50, 100]
gate = { probe = "web_west", healthy_for = "1m", every = "10s" }
depends_on = ["settle"]
"#;

/// `dr check --json`: exit code and findings.
fn check(dir: &Path, code: i32) -> Vec<Value> {
    let out = dr(dir, &["check", "p.toml", "--json"]).assert().code(code);
    json_lines(&out.get_output().stdout)
}

fn failed(findings: &[Value]) -> Vec<&Value> {
    findings.iter().filter(|f| f["ok"] == false).collect()
}

#[test]
fn a_ready_plan_passes_every_check_and_exits_0() {
    let tmp = with_plan(PLAN);
    let findings = check(tmp.path(), 0);
    assert!(failed(&findings).is_empty(), "{findings:#?}");
    for kind in [
        "reachable",
        "router_target",
        "store_role",
        "replication_lag",
        "gate_probe",
        "capability",
        "rto",
    ] {
        assert!(
            findings.iter().any(|f| f["check"] == kind),
            "no `{kind}` finding: {findings:#?}"
        );
    }
    // Each finding: check, ok, message; resource and step where they apply.
    let role = findings
        .iter()
        .find(|f| f["check"] == "store_role")
        .unwrap();
    assert_eq!(role["resource"], "db");
    assert_eq!(role["step"], "promote");
    assert!(role["message"].as_str().unwrap().contains("replica"));
    let rto = findings.iter().find(|f| f["check"] == "rto").unwrap();
    assert!(rto.get("resource").is_none());
    // 1m wait + 2 phases × 1m gate = 3m of the 5m rto.
    assert!(
        rto["message"].as_str().unwrap().contains("3m of rto 5m"),
        "{rto}"
    );
    // Text output ends with the verdict.
    let out = dr(tmp.path(), &["check", "p.toml"]).assert().code(0);
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.trim_end().ends_with("plan `ready` is ready"), "{text}");
}

#[test]
fn check_has_no_side_effects() {
    let tmp = with_plan(PLAN);
    let dir = tmp.path();
    check(dir, 0);
    check(dir, 0);
    // Nothing mutating was called, and the gate probe's sequence did not move:
    // it still says `healthy` (its first entry).
    let out = dr(dir, &["status", "p.toml", "--json"]).assert().code(0);
    for v in json_lines(&out.get_output().stdout) {
        assert!(
            v.get("calls")
                .is_none_or(|c| c.as_object().unwrap().is_empty()),
            "{v}"
        );
        if v["resource"] == "web_west" {
            assert_eq!(v["status"], "healthy");
        }
    }
    // The sim state file is written by state changes only (none here).
    let state: Value = std::fs::read_to_string(dir.join("sim.json"))
        .map_or(Value::Null, |t| serde_json::from_str(&t).unwrap());
    for r in ["front", "db", "link"] {
        let inv = &state["resources"][r]["invocations"];
        assert!(
            inv.is_null() || inv.as_object().unwrap().is_empty(),
            "{r}: {state}"
        );
    }
    assert!(!dir.join("sd/runs").exists());
}

#[test]
fn not_ready_names_each_problem_and_exits_1() {
    let text = PLAN
        // The store was already promoted.
        .replace("role = \"replica\"", "role = \"primary\"")
        // The link lags more than the check allows.
        .replace(
            "lag = \"2s\"\nstate_file = \"sim.json\"\n\n[[steps]]",
            "lag = \"1m\"\nstate_file = \"sim.json\"\n\n[[steps]]",
        )
        // The side the plan moves to is down.
        .replace("sequence = [\"healthy\", \"unhealthy\"]", "healthy = false");
    let tmp = with_plan(&text);
    let findings = check(tmp.path(), 1);
    let bad = failed(&findings);
    let has = |check: &str, resource: &str, text: &str| {
        bad.iter().any(|f| {
            f["check"] == check
                && f["resource"] == resource
                && f["message"].as_str().unwrap().contains(text)
        })
    };
    assert!(
        has("store_role", "db", "is primary, not a replica"),
        "{bad:#?}"
    );
    assert!(
        has("replication_lag", "link", "lags 1m, more than max_lag 10s"),
        "{bad:#?}"
    );
    assert!(has("gate_probe", "web_west", "is unhealthy"), "{bad:#?}");
    // The probe linked to the target the shift moves to, too.
    assert!(
        bad.iter().any(|f| f["check"] == "gate_probe"
            && f["message"]
                .as_str()
                .unwrap()
                .contains("health of `front:west`")),
        "{bad:#?}"
    );
    let out = dr(tmp.path(), &["check", "p.toml"]).assert().code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("is not ready"), "{text}");
}

#[test]
fn an_unreadable_resource_is_not_ready() {
    // The sim state file is a directory: every read of it fails.
    let tmp = with_plan(&PLAN.replace("state_file = \"sim.json\"", "state_file = \"broken\""));
    std::fs::create_dir(tmp.path().join("broken")).unwrap();
    let findings = check(tmp.path(), 1);
    let unreachable: Vec<&Value> = failed(&findings)
        .into_iter()
        .filter(|f| f["check"] == "reachable")
        .collect();
    assert_eq!(unreachable.len(), 4, "{findings:#?}");
    assert!(
        unreachable[0]["message"]
            .as_str()
            .unwrap()
            .contains("cannot read")
    );
}

#[test]
fn a_plan_that_cannot_meet_its_rto_says_so_with_the_arithmetic() {
    let text = PLAN
        .replace("rto = \"5m\"", "rto = \"2m\"")
        .replace("duration = \"1m\"", "duration = \"90s\"");
    let tmp = with_plan(&text);
    let findings = check(tmp.path(), 1);
    let bad = failed(&findings);
    assert_eq!(bad.len(), 1, "{bad:#?}");
    let msg = bad[0]["message"].as_str().unwrap();
    assert_eq!(bad[0]["check"], "rto");
    for part in [
        "cannot finish within rto 2m",
        "stop → promote → settle → shift",
        "`settle` wait 1m30s",
        "`shift` 2 phases × gate 1m = 2m",
        "= 3m30s",
        "1m30s over",
    ] {
        assert!(msg.contains(part), "`{part}` not in: {msg}");
    }
}

#[test]
fn a_step_timeout_shorter_than_its_gates_is_not_ready() {
    let text = PLAN.replace(
        "depends_on = [\"settle\"]",
        "depends_on = [\"settle\"]\ntimeout = \"1m\"",
    );
    let tmp = with_plan(&text);
    let bad: Vec<Value> = failed(&check(tmp.path(), 1)).into_iter().cloned().collect();
    assert_eq!(bad[0]["check"], "step_timeout", "{bad:#?}");
    assert_eq!(bad[0]["step"], "shift");
    assert!(
        bad[0]["message"]
            .as_str()
            .unwrap()
            .contains("needs at least 2m"),
        "{bad:#?}"
    );
}

#[test]
fn an_invalid_plan_exits_2() {
    let tmp = with_plan(&PLAN.replace("store = \"db\"", "store = \"dbx\""));
    let out = dr(tmp.path(), &["check", "p.toml", "--json"])
        .assert()
        .code(2);
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert!(
        v["diagnostics"][0]["message"]
            .as_str()
            .unwrap()
            .contains("unknown resource `dbx`")
    );
}

/// With no history, `rto` is the static bound of waits and gates (none here:
/// ready). After a run measured what the steps take (a sim router answering
/// in 150 ms, three chained steps), the forecast from that run exceeds the
/// 300 ms rto and the plan is not ready, saying which runs and percentile.
#[test]
fn the_rto_forecast_uses_what_earlier_runs_measured() {
    const TIMED: &str = r#"
[plan]
name = "timed"
rto = "300ms"

[resources.front]
provider = "sim.router"
targets = ["east", "west"]
initial = { east = 100 }
latency = "150ms"
state_file = "sim.json"

[[steps]]
id = "a"
action = "traffic.set"
router = "front"
split = { west = 100 }

[[steps]]
id = "b"
action = "traffic.set"
router = "front"
split = { east = 100 }
depends_on = ["a"]

[[steps]]
id = "c"
action = "traffic.set"
router = "front"
split = { west = 100 }
depends_on = ["b"]
"#;
    let tmp = with_plan(TIMED);
    let dir = tmp.path();
    let rto = |dir: &Path| -> (i32, Value) {
        let out = dr(dir, &["check", "p.toml", "--json"]).output().unwrap();
        let rto = json_lines(&out.stdout)
            .into_iter()
            .find(|f| f["check"] == "rto")
            .unwrap();
        (out.status.code().unwrap(), rto)
    };
    let (code, before) = rto(dir);
    assert_eq!(before["ok"], true, "{before}");
    assert_eq!(code, 0, "{before}");
    assert!(
        before["message"].as_str().unwrap().contains("at least"),
        "{before}"
    );

    dr(dir, &["run", "p.toml", "--yes"]).assert().code(0);
    let (code, after) = rto(dir);
    let msg = after["message"].as_str().unwrap();
    assert_eq!(after["ok"], false, "{after}");
    assert_eq!(code, 1, "{after}");
    assert!(
        msg.contains("p90 of each step's time in the 1 earlier run of this plan"),
        "{msg}"
    );
    assert!(msg.contains("p90"), "{msg}");
    assert!(msg.contains("a → b → c"), "{msg}");
    assert!(msg.contains("static lower bound is 0s"), "{msg}");
}

/// `action_preflight` of `exec` steps: a bare name is looked up on the `PATH`
/// (the step's `env`'s, else dr's), a path must be an executable file.
const EXEC: &str = r#"
[plan]
name = "commands"

[[steps]]
id = "shell"
action = "exec"
command = "echo hi"

[[steps]]
id = "argv"
action = "exec"
command = ["true"]

[[steps]]
id = "script"
action = "exec"
command = ["./run.sh"]
"#;

fn preflights(findings: &[Value]) -> Vec<&Value> {
    findings
        .iter()
        .filter(|f| f["check"] == "action_preflight")
        .collect()
}

#[test]
fn exec_programs_on_path_or_executable_pass_the_preflight() {
    let tmp = with_plan(EXEC);
    let script = tmp.path().join("run.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let findings = check(tmp.path(), 0);
    let pre = preflights(&findings);
    assert_eq!(pre.len(), 3, "{findings:#?}");
    for (f, step, says) in [
        (pre[0], "shell", "program `sh` is on PATH"),
        (pre[1], "argv", "program `true` is on PATH"),
        (pre[2], "script", "program `./run.sh` is executable"),
    ] {
        assert_eq!(f["ok"], true, "{f:#?}");
        assert_eq!(f["step"], step);
        assert!(f.get("resource").is_none());
        assert!(f["message"].as_str().unwrap().contains(says), "{f:#?}");
    }
}

#[test]
fn an_exec_program_not_on_path_or_not_executable_is_not_ready() {
    let text = EXEC
        .replace(
            "command = [\"true\"]",
            "command = [\"dr-no-such-program\", \"--now\"]",
        )
        // The step's own PATH: `sh` is in none of its directories.
        .replace(
            "command = \"echo hi\"",
            "command = \"echo hi\"\nenv = { PATH = \"/nonexistent-dr-bin\" }",
        );
    let tmp = with_plan(&text);
    // Not executable.
    std::fs::write(tmp.path().join("run.sh"), "#!/bin/sh\n").unwrap();
    let findings = check(tmp.path(), 1);
    let bad = failed(&findings);
    assert_eq!(bad.len(), 3, "{findings:#?}");
    for (f, step, says) in [
        (
            bad[0],
            "shell",
            "program `sh` is not on PATH (from the step's env)",
        ),
        (
            bad[1],
            "argv",
            "program `dr-no-such-program` is not on PATH",
        ),
        (bad[2], "script", "program `./run.sh` is not executable"),
    ] {
        assert_eq!(f["check"], "action_preflight", "{f:#?}");
        assert_eq!(f["step"], step);
        assert!(f["message"].as_str().unwrap().contains(says), "{f:#?}");
    }
}
