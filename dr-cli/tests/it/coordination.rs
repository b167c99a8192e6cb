//! `--coordination etcd://..`: the plan lock, the journal and the audit log in
//! a real 3-member etcd cluster (Debian `etcd-server`, started on loopback by
//! the harness), so that runs and watches on several machines (here: several
//! state dirs and processes) see each other, take over from each other, and a
//! process that lost its lock applies nothing more. Leases of 2s.

use std::path::Path;
use std::time::{Duration, Instant};

use dr_etcd::testing::EtcdCluster;
use serde_json::Value;

use crate::support::{Bg, PATIENCE, calls, dr_with_state_dir, json_lines, split, with_plan};

/// fence east, hold 3s, promote west, then a gated shift to west.
const PLAN: &str = r#"
[plan]
name = "coordinated"

[resources.front]
provider = "sim.router"
targets = ["east", "west"]
initial = { east = 100 }
state_file = "sim.json"

[resources.web_west]
provider = "sim.probe"
follows = "front:west"
state_file = "sim.json"

[resources.db_east]
provider = "sim.store"
role = "primary"
state_file = "sim.json"

[resources.db_west]
provider = "sim.store"
role = "replica"
lag = "1s"
state_file = "sim.json"

[[steps]]
id = "fence"
action = "datastore.fence"
store = "db_east"

[[steps]]
id = "hold"
action = "wait"
duration = "3s"
depends_on = ["fence"]

[[steps]]
id = "promote"
action = "datastore.promote"
store = "db_west"
max_lag = "30s"
depends_on = ["hold"]

[[steps]]
id = "shift"
action = "traffic.shift"
router = "front"
to = "west"
phases = [50, 100]
gate = { probe = "web_west", times = 1, every = "50ms", timeout = "2s" }
depends_on = ["promote"]
"#;

fn url(c: &EtcdCluster, prefix: &str) -> String {
    c.url(&format!("?prefix=/{prefix}&lease_ttl=2s"))
}

/// `dr ARGS --coordination URL --json --state-dir SD` in `dir`: exit code and
/// JSON lines.
fn dr_c(dir: &Path, sd: &str, url: &str, args: &[&str]) -> (i32, Vec<Value>) {
    let out = dr_with_state_dir(dir, sd, args)
        .args(["--coordination", url, "--json"])
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), json_lines(&out.stdout))
}

/// `dr run` of [`PLAN`] from state dir `sdA` in the background, once it
/// holds in its `hold` step (fenced, not promoted yet); with its run id.
fn holding(dir: &Path, url: &str) -> (Bg, String) {
    let mut a = Bg::spawn_in(
        dir,
        "sdA",
        &["run", "p.toml", "--yes", "--coordination", url],
    );
    let run_id = a.event("run_started")["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    a.until("hold", |v| {
        v["event"] == "step_started" && v["step"] == "hold"
    });
    (a, run_id)
}

/// `dr resume RUN_ID` from state dir `sd`, again while the dead holder's lock
/// has not expired yet, or etcd (just restarted) does not answer yet (bounded).
fn resume_once_free(dir: &Path, sd: &str, url: &str, run_id: &str) -> (i32, Vec<Value>) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (code, lines) = dr_c(dir, sd, url, &["resume", run_id]);
        let locked = lines
            .iter()
            .any(|l| l["kind"] == "locked" || l["kind"] == "lock_lost");
        if !locked || Instant::now() > deadline {
            return (code, lines);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn last_status(lines: &[Value]) -> Value {
    lines
        .iter()
        .rev()
        .find(|l| l["event"] == "run_finished")
        .map(|l| l["status"].clone())
        .unwrap_or_else(|| panic!("no run_finished in {lines:#?}"))
}

/// Every mutation of the plan happened exactly once.
fn applied_once(dir: &Path) {
    assert_eq!(calls(dir, "p.toml", "db_east", "fence"), 1, "fence");
    assert_eq!(calls(dir, "p.toml", "db_west", "promote"), 1, "promote");
    assert_eq!(calls(dir, "p.toml", "front", "apply"), 2, "two phases");
    assert_eq!(
        split(dir, "p.toml", "front"),
        serde_json::json!({"west": 100})
    );
}

#[test]
fn a_second_machine_is_refused_while_the_first_holds_the_plan_and_sees_who_holds_it() {
    let etcd = EtcdCluster::start(3);
    let url = url(&etcd, "contention");
    let tmp = with_plan(PLAN);
    let dir = tmp.path();
    let (a, run_id) = holding(dir, &url);

    // Another state dir: the lock file of the first would not be seen there.
    let (code, lines) = dr_c(dir, "sdB", &url, &["run", "p.toml", "--yes"]);
    assert_eq!(code, 1, "{lines:#?}");
    let err = lines.last().unwrap();
    assert_eq!(err["kind"], "locked", "{err}");
    assert!(err["message"].as_str().unwrap().contains(&run_id), "{err}");
    let (code, lines) = dr_c(dir, "sdB", &url, &["status", "p.toml"]);
    assert_eq!(code, 0);
    assert_eq!(lines[0]["lock"]["held"], true, "{lines:#?}");
    assert_eq!(lines[0]["lock"]["run_id"], run_id.as_str());

    let (code, events) = a.finish();
    assert_eq!(code, 0, "{events:#?}");
    applied_once(dir);
    let (_, lines) = dr_c(dir, "sdB", &url, &["status", "p.toml"]);
    assert_eq!(
        lines[0]["lock"]["held"], false,
        "released at the end: {lines:#?}"
    );
    // The fencing token is journaled and audited.
    let journal =
        std::fs::read_to_string(dir.join(format!("sdA/runs/{run_id}/journal.jsonl"))).unwrap();
    assert!(journal.contains("\"lock_token\":"), "{journal}");
}

#[test]
fn a_run_whose_machine_died_is_resumed_reported_and_verified_from_another_state_dir() {
    let etcd = EtcdCluster::start(3);
    let url = url(&etcd, "machine-died");
    let tmp = with_plan(PLAN);
    let dir = tmp.path();
    let (a, run_id) = holding(dir, &url);
    a.signal("-9");
    drop(a);

    // sdB has never seen the run: everything comes from etcd.
    assert!(!dir.join("sdB").exists());
    let (code, lines) = resume_once_free(dir, "sdB", &url, &run_id);
    assert_eq!(code, 0, "{lines:#?}");
    assert_eq!(last_status(&lines), "succeeded");
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "step_skipped" && l["step"] == "fence"),
        "the fence ran before the machine died: not again: {lines:#?}"
    );
    applied_once(dir);

    // A third machine reads the report and verifies the audit chain.
    let out = dr_with_state_dir(dir, "sdC", &["report", &run_id, "--format", "json"])
        .args(["--coordination", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["status"], "succeeded", "{report}");
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 4, "{report}");
    let (code, lines) = dr_c(dir, "sdC", &url, &["audit", "verify"]);
    assert_eq!(code, 0, "{lines:#?}");
    assert_eq!(lines[0]["intact"], true);
    assert!(
        lines[0]["runs_checked"].as_u64().unwrap() >= 1,
        "{lines:#?}"
    );
    assert!(
        !dir.join("sdC/runs").exists(),
        "report and verify write nothing locally"
    );
}

#[test]
fn a_frozen_holder_taken_over_applies_nothing_more_when_it_thaws() {
    let etcd = EtcdCluster::start(3);
    let url = url(&etcd, "frozen");
    let tmp = with_plan(PLAN);
    let dir = tmp.path();
    let (a, run_id) = holding(dir, &url);
    a.signal("-STOP");
    // Past the 2s lease: etcd deletes the lock key.
    std::thread::sleep(Duration::from_secs(3));
    let (code, lines) = resume_once_free(dir, "sdB", &url, &run_id);
    assert_eq!(code, 0, "{lines:#?}");
    assert_eq!(last_status(&lines), "succeeded");
    applied_once(dir);

    a.signal("-CONT");
    let (code, events) = a.finish();
    assert_eq!(code, 1, "{events:#?}");
    let err = events.last().unwrap();
    assert_eq!(err["kind"], "lock_lost", "{events:#?}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("stopped interrupted"),
        "{err}"
    );
    assert!(
        !events
            .iter()
            .any(|e| e["event"] == "step_started" && e["step"] != "fence" && e["step"] != "hold"),
        "the thawed process started nothing: {events:#?}"
    );
    // Nothing it did after it thawed: every count is still one.
    applied_once(dir);
}

#[test]
fn two_of_three_members_lost_mid_run_stop_it_interrupted_and_it_resumes_once_they_are_back() {
    let mut etcd = EtcdCluster::start(3);
    let url = url(&etcd, "quorum");
    let tmp = with_plan(PLAN);
    let dir = tmp.path();
    let (a, run_id) = holding(dir, &url);
    etcd.stop(1);
    etcd.stop(2);
    let (code, events) = a.finish();
    assert_eq!(code, 1, "{events:#?}");
    assert_eq!(events.last().unwrap()["kind"], "lock_lost", "{events:#?}");
    assert_eq!(
        calls(dir, "p.toml", "db_west", "promote"),
        0,
        "no step after the loss"
    );

    etcd.restart(1);
    etcd.restart(2);
    etcd.wait_healthy(PATIENCE);
    let (code, lines) = resume_once_free(dir, "sdA", &url, &run_id);
    assert_eq!(code, 0, "{lines:#?}");
    assert_eq!(last_status(&lines), "succeeded");
    applied_once(dir);
}

/// A plan watched through `web_east` (following `front:east` in `sim.json`).
fn watched(watch_extra: &str, gate_times: u32) -> String {
    format!(
        r#"
[plan]
name = "watched-everywhere"

[plan.watch]
probes = ["web_east"]
interval = "200ms"
timeout = "150ms"
failure_threshold = 2
{watch_extra}

[resources.front]
provider = "sim.router"
targets = ["east", "west"]
initial = {{ east = 100 }}
state_file = "sim.json"

[resources.web_east]
provider = "sim.probe"
follows = "front:east"
state_file = "sim.json"

[resources.web_west]
provider = "sim.probe"
healthy = true

[resources.db]
provider = "sim.store"
role = "replica"
lag = "1s"
state_file = "sim.json"

[[steps]]
id = "promote"
action = "datastore.promote"
store = "db"
max_lag = "5s"

[[steps]]
id = "shift"
action = "traffic.shift"
router = "front"
to = "west"
phases = [25, 50, 75, 100]
gate = {{ probe = "web_west", times = {gate_times}, every = "300ms" }}
depends_on = ["promote"]
"#
    )
}

fn sim_down(dir: &Path) {
    dr_with_state_dir(
        dir,
        "sd",
        &["sim", "down", "east", "--state-file", "sim.json"],
    )
    .assert()
    .code(0);
}

fn watcher(dir: &Path, sd: &str, url: &str, name: &str) -> Bg {
    let mut w = Bg::spawn_in(
        dir,
        sd,
        &["watch", "p.toml", "--coordination", url, "--instance", name],
    );
    w.until("its leadership", |v| v["event"] == "watch_leader");
    w
}

#[test]
fn one_watcher_that_sees_the_side_fail_is_not_enough_with_two_witnesses() {
    let etcd = EtcdCluster::start(3);
    let url = url(&etcd, "witnesses");
    // Three machines, each with its own view of the side (its own sim.json).
    let text = watched("witnesses = 2", 1);
    let dirs: Vec<_> = (0..3).map(|_| with_plan(&text)).collect();
    let mut w1 = watcher(dirs[0].path(), "sd", &url, "w1");
    let mut w2 = watcher(dirs[1].path(), "sd", &url, "w2");
    let _w3 = watcher(dirs[2].path(), "sd", &url, "w3");
    assert!(
        w1.seen_any(|v| v["event"] == "watch_leader" && v["leader"] == true),
        "w1 started first and leads"
    );

    // Only w1's network "breaks".
    sim_down(dirs[0].path());
    for _ in 0..2 {
        let v = w1.event("watch_witnesses");
        assert_eq!(v["seen"], serde_json::json!(["w1"]), "{v}");
        assert_eq!(v["needed"], 2);
    }
    assert!(!w1.seen_any(|v| v["event"] == "watch_triggered" || v["event"] == "run_started"));
    assert_eq!(calls(dirs[0].path(), "p.toml", "db", "promote"), 0);

    // A second witness: now the leader triggers and runs the plan.
    sim_down(dirs[1].path());
    w1.event("watch_triggered");
    let (code, events) = w1.finish();
    assert_eq!(code, 0, "{events:#?}");
    assert_eq!(last_status(&events), "succeeded");
    assert_eq!(calls(dirs[0].path(), "p.toml", "db", "promote"), 1);
    assert!(
        !w2.seen_any(|v| v["event"] == "run_started"),
        "a follower never runs the plan"
    );
}

#[test]
fn when_the_leader_dies_mid_shift_a_follower_takes_the_run_over_and_applies_each_change_once() {
    let etcd = EtcdCluster::start(3);
    let url = url(&etcd, "takeover");
    // Two machines watching the same side (one sim.json), with their own
    // state dirs; the shift's gate holds each phase ~1s.
    let tmp = with_plan(&watched("", 3));
    let dir = tmp.path();
    let mut a = watcher(dir, "sdA", &url, "a");
    let mut b = watcher(dir, "sdB", &url, "b");
    assert!(a.seen_any(|v| v["event"] == "watch_leader" && v["leader"] == true));
    assert!(b.seen_any(|v| v["event"] == "watch_leader" && v["leader"] == false));

    sim_down(dir);
    let run_id = a.event("run_started")["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Phase 25% applied; its gate is being held: kill -9 the leader.
    a.until("phase 25", |v| {
        v["event"] == "phase_applied" && v["phase"] == 25
    });
    a.signal("-9");
    drop(a);

    let took = b.until("the takeover", |v| v["event"] == "run_taken_over");
    assert_eq!(took["run_id"], run_id.as_str(), "{took}");
    assert_eq!(took["from"], "a");
    assert_eq!(took["to"], "b");
    assert!(took["after_ms"].as_u64().is_some(), "{took}");
    let (code, events) = b.finish();
    assert_eq!(code, 0, "{events:#?}");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "run_started" && e["resumed"] == true)
    );
    assert_eq!(last_status(&events), "succeeded");
    // The promote and each of the four phases happened exactly once.
    assert_eq!(calls(dir, "p.toml", "db", "promote"), 1);
    assert_eq!(calls(dir, "p.toml", "front", "apply"), 4);
    assert_eq!(
        split(dir, "p.toml", "front"),
        serde_json::json!({"west": 100})
    );
}

#[test]
fn without_an_etcd_majority_a_watch_does_not_trigger_and_does_once_it_is_back() {
    let mut etcd = EtcdCluster::start(3);
    let url = url(&etcd, "no-majority");
    let tmp = with_plan(&watched("", 1));
    let dir = tmp.path();
    let mut w = watcher(dir, "sd", &url, "solo");
    assert!(w.seen_any(|v| v["event"] == "watch_leader" && v["leader"] == true));
    etcd.stop(1);
    etcd.stop(2);
    // Its leadership cannot be confirmed: it stops leading, then the side fails.
    w.until("the loss of the leadership", |v| {
        v["event"] == "watch_leader" && v["leader"] == false
    });
    sim_down(dir);
    for _ in 0..3 {
        let refused = w.until("a refused trigger", |v| {
            v["event"] == "watch_trigger_refused"
        });
        assert_eq!(refused["reason"], "not_leader", "{refused}");
    }
    assert!(!w.seen_any(|v| v["event"] == "watch_triggered" || v["event"] == "run_started"));
    assert_eq!(calls(dir, "p.toml", "db", "promote"), 0);

    etcd.restart(1);
    etcd.restart(2);
    w.event("watch_triggered");
    let (code, events) = w.finish();
    assert_eq!(code, 0, "{events:#?}");
    assert_eq!(last_status(&events), "succeeded");
    assert_eq!(calls(dir, "p.toml", "db", "promote"), 1);
}
