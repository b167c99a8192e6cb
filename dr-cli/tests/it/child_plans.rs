//! Child plans: `action = "plan.run"` runs another plan's steps as part of the
//! run (ids prefixed with the step's id), validated with the parent (errors
//! point into the child's file, cycles refused), one lock, one journal, one
//! report; a `kill -9` inside the child and `dr resume` apply nothing twice;
//! a rollback after the child halts at the child's promote (a one-way door).

use predicates::prelude::*;
use serde_json::Value;

use crate::support::{Bg, calls, dr, dr_stdout, json_lines, report_json, split};

const PARENT: &str = r#"
[plan]
name = "tiers"

[resources.front]
provider = "sim.router"
targets = ["east", "west", "maintenance"]
initial = { east = 100 }
state_file = "state.json"

[[steps]]
id = "maintenance"
action = "traffic.set"
router = "front"
split = { maintenance = 100 }

[[steps]]
id = "data-tier"
action = "plan.run"
plan = "tiers/data.toml"
depends_on = ["maintenance"]

[[steps]]
id = "open-west"
action = "traffic.set"
router = "front"
split = { west = 100 }
depends_on = ["data-tier"]
"#;

fn child(latency: &str) -> String {
    format!(
        r#"
[plan]
name = "data-tier"

[resources.db_west]
provider = "sim.store"
role = "replica"
latency = "{latency}"
state_file = "state.json"

[[steps]]
id = "promote"
action = "datastore.promote"
store = "db_west"

[[steps]]
id = "mark"
action = "exec"
command = "echo promoted >> marks.txt"
idempotent = true
depends_on = ["promote"]
"#
    )
}

fn tree(parent: &str, child: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("p.toml"), parent).unwrap();
    std::fs::create_dir_all(tmp.path().join("tiers")).unwrap();
    std::fs::write(tmp.path().join("tiers/data.toml"), child).unwrap();
    tmp
}

fn ids_and_statuses(report: &Value) -> Vec<(String, String)> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_parent_runs_its_child_plans_steps_under_one_run_with_prefixed_ids() {
    let tmp = tree(PARENT, &child("0ms"));
    let dir = tmp.path();
    dr(dir, &["validate", "p.toml"]).assert().code(0);
    let graph = dr_stdout(dir, &["graph", "p.toml"], 0);
    assert!(graph.contains("data-tier/promote"), "{graph}");
    let out = dr(dir, &["run", "p.toml", "--yes", "--json"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let events = json_lines(&out);
    let id = events[0]["run_id"].as_str().unwrap().to_string();
    let r = report_json(dir, &id);
    assert_eq!(
        ids_and_statuses(&r),
        [
            ("maintenance", "succeeded"),
            ("data-tier/promote", "succeeded"),
            ("data-tier/mark", "succeeded"),
            ("data-tier", "succeeded"),
            ("open-west", "succeeded"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    // The child's steps ran after the parent's step it depends on, and before
    // the parent's step that depends on the child.
    let order: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "step_started")
        .map(|e| e["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "maintenance",
            "data-tier/promote",
            "data-tier/mark",
            "data-tier",
            "open-west"
        ]
    );
    assert_eq!(
        split(dir, "p.toml", "front"),
        serde_json::json!({"west": 100})
    );
    assert_eq!(calls(dir, "p.toml", "db_west", "promote"), 1);
    // The run keeps the child plan as it ran.
    let copies: Vec<_> = std::fs::read_dir(dir.join("sd/runs").join(&id).join("children"))
        .unwrap()
        .collect();
    assert_eq!(copies.len(), 1);
    let md = dr_stdout(dir, &["report", &id], 0);
    assert!(md.contains("data-tier/promote"), "{md}");
}

#[test]
fn a_childs_errors_point_into_its_file_and_cycles_are_refused() {
    let tmp = tree(
        PARENT,
        &child("0ms").replace("store = \"db_west\"", "store = \"nope\""),
    );
    let out = dr(tmp.path(), &["validate", "p.toml"])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8_lossy(&out);
    assert!(err.contains("tiers/data.toml:14:"), "{err}");
    assert!(err.contains("nope"), "{err}");
    assert!(
        err.contains("p.toml:20:"),
        "the parent's step is named too: {err}"
    );

    // data.toml includes the parent again.
    let looping =
        child("0ms") + "\n[[steps]]\nid = \"again\"\naction = \"plan.run\"\nplan = \"../p.toml\"\n";
    let tmp = tree(PARENT, &looping);
    dr(tmp.path(), &["validate", "p.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "child plans form a cycle: p.toml -> tiers/data.toml -> p.toml",
        ));

    let tmp = tree(&PARENT.replace("tiers/data.toml", "tiers/missing.toml"), "");
    dr(tmp.path(), &["validate", "p.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read child plan `tiers/missing.toml`",
        ));
}

#[test]
fn kill_9_inside_the_child_then_resume_applies_nothing_twice_and_an_edited_child_copy_is_refused() {
    let tmp = tree(PARENT, &child("3s"));
    let dir = tmp.path();
    let mut bg = Bg::spawn(dir, &["run", "p.toml", "--yes"]);
    let started = bg.until("the child's promote started", |v| {
        v["event"] == "step_started" && v["step"] == "data-tier/promote"
    });
    assert_eq!(started["action"], "datastore.promote");
    bg.signal("-9");
    let (code, seen) = bg.finish();
    assert_ne!(code, 0);
    let id = seen[0]["run_id"].as_str().unwrap().to_string();
    assert_eq!(calls(dir, "p.toml", "db_west", "promote"), 0);

    // An edited copy of the child is not the plan the run started with.
    let copy = std::fs::read_dir(dir.join("sd/runs").join(&id).join("children"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let original = std::fs::read_to_string(&copy).unwrap();
    std::fs::write(&copy, original.replace("marks.txt", "other.txt")).unwrap();
    dr(dir, &["resume", &id])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "not the plan the run started with",
        ));
    std::fs::write(&copy, &original).unwrap();
    // The child file itself may change: the run resumes from its copy.
    let file = std::fs::read_to_string(dir.join("tiers/data.toml")).unwrap();
    std::fs::write(dir.join("tiers/data.toml"), "garbage").unwrap();
    dr(dir, &["resume", &id]).assert().code(0);
    std::fs::write(dir.join("tiers/data.toml"), file).unwrap();
    assert_eq!(calls(dir, "p.toml", "db_west", "promote"), 1);
    assert_eq!(calls(dir, "p.toml", "front", "apply"), 2);
    assert_eq!(
        std::fs::read_to_string(dir.join("marks.txt")).unwrap(),
        "promoted\n"
    );
    let r = report_json(dir, &id);
    assert_eq!(r["status"], "succeeded");
    assert_eq!(r["resumed"], 1);
}

#[test]
fn a_rollback_after_the_child_halts_at_the_childs_promote() {
    let parent = PARENT.replace(
        "id = \"open-west\"\naction = \"traffic.set\"\nrouter = \"front\"\nsplit = { west = 100 }",
        "id = \"open-west\"\naction = \"exec\"\ncommand = \"false\"\non_failure = \"rollback\"",
    );
    let tmp = tree(&parent, &child("0ms"));
    let dir = tmp.path();
    let out = dr(dir, &["run", "p.toml", "--yes", "--json"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let last = json_lines(&out).pop().unwrap();
    assert_eq!(last["status"], "halted", "{last}");
    assert_eq!(last["halted_by"], "data-tier/promote");
    // Traffic stays on the maintenance page: the old side is no longer the primary.
    assert_eq!(
        split(dir, "p.toml", "front"),
        serde_json::json!({"maintenance": 100})
    );
}
