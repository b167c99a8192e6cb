//! Graceful and ungraceful runs: a planned promote that cannot happen (the old
//! primary does not answer) goes on as a forced one when the operator switches
//! the run (`dr resume RUN_ID --ungraceful`), recorded with who and when in the
//! journal, the audit log and every report; `dr run --ungraceful` and `[plan]
//! mode` start a run ungraceful; steps say what they do in one (`ungraceful =
//! "skip" | "continue"`); real Redis promotes with `FAILOVER` or `REPLICAOF NO
//! ONE` as the run's mode says.

use std::path::Path;

use dr_redis::testing::RedisServer;
use predicates::prelude::*;
use serde_json::Value;

use crate::support::{calls, dr, dr_stdout, json_lines, report_json, status, with_plan};

/// `db_west` is the replica to promote, and its planned promote fails (the old
/// primary does not answer); `fence_east` needs the old region
/// (`ungraceful = "skip"`), `notify_east` may fail in an ungraceful run
/// (`ungraceful = "continue"`).
fn plan(extra_plan: &str, planned_promote: &str) -> String {
    format!(
        r#"
[plan]
name = "modes"
{extra_plan}

[resources.front]
provider = "sim.router"
targets = ["east", "west"]
initial = {{ east = 100 }}
state_file = "state.json"

[resources.db_east]
provider = "sim.store"
role = "primary"
state_file = "state.json"

[resources.db_west]
provider = "sim.store"
role = "replica"
lag = "1s"
{planned_promote}
state_file = "state.json"

[[steps]]
id = "fence_east"
action = "datastore.fence"
store = "db_east"
ungraceful = "skip"

[[steps]]
id = "notify_east"
action = "exec"
command = "test -e east-is-up"
ungraceful = "continue"
depends_on = ["fence_east"]

[[steps]]
id = "promote"
action = "datastore.promote"
store = "db_west"
max_lag = "5s"
depends_on = ["notify_east"]

[[steps]]
id = "shift"
action = "traffic.set"
router = "front"
split = {{ west = 100 }}
depends_on = ["promote"]
"#
    )
}

fn store_line(dir: &Path, resource: &str) -> Value {
    status(dir, "p.toml")
        .into_iter()
        .find(|v| v["resource"] == resource && v["kind"] == "store")
        .unwrap_or_else(|| panic!("no store line for {resource}"))
}

fn step_status(report: &Value, id: &str) -> String {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id}"))["status"]
        .as_str()
        .unwrap()
        .to_string()
}

fn run_id(out: &[u8]) -> String {
    json_lines(out)
        .into_iter()
        .find(|e| e["event"] == "run_started")
        .expect("run_started")["run_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_planned_promote_that_fails_goes_on_as_a_forced_one_when_the_operator_switches_the_run() {
    let tmp = with_plan(&plan("", "planned_promote = \"fails\""));
    let dir = tmp.path();
    std::fs::write(dir.join("east-is-up"), "").unwrap();
    let out = dr(dir, &["run", "p.toml", "--yes", "--json"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let id = run_id(&out);
    let events = json_lines(&out);
    let started = events.iter().find(|e| e["event"] == "run_started").unwrap();
    assert_eq!(started["mode"], "graceful");
    let last = events.last().unwrap();
    assert_eq!(last["status"], "failed");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("old primary unreachable"),
        "{last}"
    );
    // Nothing half-done: the graceful promote changed nothing.
    assert_eq!(store_line(dir, "db_west")["role"], "replica");
    assert!(store_line(dir, "db_west").get("last_promote").is_none());
    assert_eq!(calls(dir, "p.toml", "db_east", "fence"), 1);

    // A failed run does not go on by itself; the refusal says how it can.
    dr(dir, &["resume", &id])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--ungraceful"));

    let out = dr(dir, &["resume", &id, "--ungraceful", "--json"])
        .env("DR_OPERATOR", "alice")
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let events = json_lines(&out);
    let changed = events
        .iter()
        .find(|e| e["event"] == "mode_changed")
        .expect("a mode_changed event");
    assert_eq!(changed["from"], "graceful");
    assert_eq!(changed["to"], "ungraceful");
    assert_eq!(changed["operator"], "alice");
    let db = store_line(dir, "db_west");
    assert_eq!(db["role"], "primary");
    assert_eq!(db["last_promote"], "forced");
    assert_eq!(db["calls"]["promote"], 1);
    // Steps done before the switch are not done again.
    assert_eq!(calls(dir, "p.toml", "db_east", "fence"), 1);

    let r = report_json(dir, &id);
    assert_eq!(r["status"], "succeeded");
    assert_eq!(r["mode"], "ungraceful");
    let changes = r["mode_changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["from"], "graceful");
    assert_eq!(changes[0]["to"], "ungraceful");
    assert_eq!(changes[0]["by"], "alice");
    assert!(changes[0]["at"].as_str().is_some());
    assert_eq!(step_status(&r, "fence_east"), "succeeded");
    assert_eq!(step_status(&r, "promote"), "succeeded");
    let md = dr_stdout(dir, &["report", &id], 0);
    assert!(
        md.contains("Mode: ungraceful (switched from graceful to ungraceful by alice"),
        "{md}"
    );
    let html = dr_stdout(dir, &["report", &id, "--format", "html"], 0);
    assert!(html.contains("Mode: ungraceful (switched from graceful to ungraceful by alice"));

    let journal =
        std::fs::read_to_string(dir.join("sd/runs").join(&id).join("journal.jsonl")).unwrap();
    let entries = json_lines(journal.as_bytes());
    assert_eq!(entries[0]["mode"], "graceful");
    let switch = entries
        .iter()
        .find(|e| e["type"] == "mode_changed")
        .expect("mode_changed journaled");
    assert_eq!(switch["operator"], "alice");
    let audit = std::fs::read_to_string(dir.join("sd/audit.jsonl")).unwrap();
    let mode_entry = json_lines(audit.as_bytes())
        .into_iter()
        .find(|e| e["action"] == "mode")
        .expect("the switch is audited");
    assert_eq!(mode_entry["operator"], "alice");
    assert_eq!(mode_entry["result"], "ungraceful");
    assert_eq!(mode_entry["after"]["mode"], "ungraceful");
    dr(dir, &["audit", "verify"]).assert().code(0);
}

#[test]
fn an_ungraceful_run_skips_and_continues_the_steps_that_say_so_and_forces_its_promotes() {
    // The same plan, graceful: the old region's steps run, and one failing
    // stops the run before the promote.
    let tmp = with_plan(&plan("", ""));
    let dir = tmp.path();
    dr(dir, &["run", "p.toml", "--yes"]).assert().code(1);
    assert_eq!(calls(dir, "p.toml", "db_east", "fence"), 1);
    assert_eq!(store_line(dir, "db_west")["role"], "replica");

    let tmp = with_plan(&plan("", ""));
    let dir = tmp.path();
    let out = dr(dir, &["run", "p.toml", "--yes", "--ungraceful", "--json"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let id = run_id(&out);
    let events = json_lines(&out);
    assert_eq!(
        events.iter().find(|e| e["event"] == "run_started").unwrap()["mode"],
        "ungraceful"
    );
    let skipped = events
        .iter()
        .find(|e| e["event"] == "step_skipped" && e["step"] == "fence_east")
        .expect("fence_east skipped");
    assert!(
        skipped["reason"].as_str().unwrap().contains("ungraceful"),
        "{skipped}"
    );
    assert_eq!(events.last().unwrap()["failed_steps"][0], "notify_east");
    // The old region was left alone; the promote was forced.
    assert_eq!(calls(dir, "p.toml", "db_east", "fence"), 0);
    assert_eq!(store_line(dir, "db_west")["last_promote"], "forced");
    let r = report_json(dir, &id);
    assert_eq!(r["mode"], "ungraceful");
    assert_eq!(r["mode_changes"], serde_json::json!([]));
    assert_eq!(step_status(&r, "fence_east"), "skipped");
    assert_ne!(
        r["steps"][0]["skipped_by_operator"].as_bool(),
        Some(true),
        "{}",
        r["steps"][0]
    );
    assert_eq!(step_status(&r, "notify_east"), "failed");
    assert_eq!(step_status(&r, "promote"), "succeeded");
    dr(dir, &["audit", "verify"]).assert().code(0);
}

#[test]
fn plan_mode_ungraceful_starts_the_run_ungraceful_and_the_rpo_gate_still_holds() {
    let tmp = with_plan(
        &plan("mode = \"ungraceful\"", "planned_promote = \"fails\"")
            .replace("lag = \"1s\"", "lag = \"9s\""),
    );
    let dir = tmp.path();
    // A forced promote does not lift the RPO gate: 9 s of lag > max_lag 5 s.
    let out = dr(dir, &["run", "p.toml", "--yes"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("RPO gate"), "{text}");
    assert_eq!(store_line(dir, "db_west")["role"], "replica");
    dr(dir, &["run", "p.toml", "--yes", "--accept-data-loss"])
        .assert()
        .code(0);
    assert_eq!(store_line(dir, "db_west")["last_promote"], "forced");
}

#[test]
fn a_failed_ungraceful_run_is_not_switched_again_and_bad_modes_are_refused_where_they_stand() {
    let tmp = with_plan(&plan("", "").replace(
        "command = \"test -e east-is-up\"\nungraceful = \"continue\"",
        "command = \"test -e east-is-up\"",
    ));
    let dir = tmp.path();
    let out = dr(dir, &["run", "p.toml", "--yes", "--ungraceful", "--json"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let id = run_id(&out);
    let before =
        std::fs::read_to_string(dir.join("sd/runs").join(&id).join("journal.jsonl")).unwrap();
    dr(dir, &["resume", &id, "--ungraceful"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--skip"));
    let after =
        std::fs::read_to_string(dir.join("sd/runs").join(&id).join("journal.jsonl")).unwrap();
    assert_eq!(before, after, "a refused resume writes nothing");

    let tmp = with_plan(
        &plan("mode = \"sideways\"", "").replace("ungraceful = \"skip\"", "ungraceful = \"maybe\""),
    );
    let out = dr(tmp.path(), &["validate", "p.toml"])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8_lossy(&out);
    assert!(err.contains("p.toml:4:"), "{err}");
    assert!(err.contains("sideways"), "{err}");
    assert!(err.contains("maybe"), "{err}");
}

/// Two real Redis servers, `west` a replica of `east`, the primary alive: a
/// graceful run's promote is a `FAILOVER` (east follows west afterwards, no
/// write lost), an ungraceful run's a `REPLICAOF NO ONE` (east is not asked
/// and stays a primary: the fence step is what stops it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_promotes_with_failover_in_a_graceful_run_and_replicaof_no_one_in_an_ungraceful_one()
{
    for ungraceful in [false, true] {
        let east = RedisServer::start().await;
        let west = RedisServer::start().await;
        west.replicate_from(&east).await;
        east.set("order:1", "paid").await;
        let tmp = with_plan(&format!(
            r#"
[plan]
name = "cache"

[resources.cache_west]
provider = "redis"
url = "{}"

[[steps]]
id = "promote"
action = "datastore.promote"
store = "cache_west"
"#,
            west.url()
        ));
        let dir = tmp.path().to_path_buf();
        let mut args = vec!["run", "p.toml", "--yes"];
        if ungraceful {
            args.push("--ungraceful");
        }
        let out = tokio::task::spawn_blocking(move || {
            dr(&dir, &args).assert().code(0).get_output().stdout.clone()
        })
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&out).to_string();
        assert_eq!(
            west.info_field("role").await.as_deref(),
            Some("master"),
            "{text}"
        );
        assert_eq!(west.get("order:1").await.as_deref(), Some("paid"));
        let east_role = east.info_field("role").await;
        if ungraceful {
            assert!(text.contains("(ungraceful promote)"), "{text}");
            assert_eq!(east_role.as_deref(), Some("master"), "not asked: {text}");
        } else {
            assert!(text.contains("(graceful promote)"), "{text}");
            assert_eq!(east_role.as_deref(), Some("slave"), "switched over: {text}");
        }
    }
}

#[test]
fn dr_plan_of_an_ungraceful_plan_says_which_steps_it_leaves_out() {
    let tmp = with_plan(&plan("mode = \"ungraceful\"", ""));
    let out = dr_stdout(tmp.path(), &["plan", "p.toml"], 0);
    let fence = out
        .lines()
        .find(|l| l.contains("fence_east"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(fence.contains("not run: the plan is ungraceful"), "{out}");
    let tmp = with_plan(&plan("", ""));
    let out = dr_stdout(tmp.path(), &["plan", "p.toml"], 0);
    assert!(!out.contains("not run"), "{out}");
}
