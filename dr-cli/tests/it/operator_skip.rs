//! `dr resume RUN_ID --skip STEP`: the operator goes on without a step that
//! failed (a failed run) or whose failure halted the run; it ends `skipped`,
//! the steps after it run, and who skipped it and when is in the journal, the
//! audit log and every report. A step that succeeded cannot be skipped.

use std::path::Path;

use predicates::prelude::*;
use serde_json::Value;

use crate::support::{dr, dr_stdout, json_lines, report_json, sim_failover, split, with_plan};

/// `broken` fails (abort: the run fails); `mirror` and `last` wait for it,
/// `last` after `mirror` too. `first` succeeds before it.
const FAILING: &str = r#"
[plan]
name = "skippable"

[[steps]]
id = "first"
action = "exec"
command = "echo ran >> first.txt"

[[steps]]
id = "broken"
action = "exec"
command = "false"
depends_on = ["first"]

[[steps]]
id = "mirror"
action = "exec"
command = "touch mirror.txt"
depends_on = ["broken"]

[[steps]]
id = "last"
action = "exec"
command = "touch last.txt"
depends_on = ["mirror"]
"#;

fn step(report: &Value, id: &str) -> Value {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id}: {report}"))
        .clone()
}

fn journal(dir: &Path, run_id: &str) -> String {
    std::fs::read_to_string(
        dir.join("sd")
            .join("runs")
            .join(run_id)
            .join("journal.jsonl"),
    )
    .unwrap()
}

#[test]
fn skipping_the_failed_step_of_a_failed_run_runs_its_dependents_and_records_the_operator() {
    let tmp = with_plan(FAILING);
    let dir = tmp.path();
    let events = json_lines(dr_stdout(dir, &["run", "p.toml", "--yes", "--json"], 1));
    assert_eq!(events.last().unwrap()["status"], "failed");
    let run_id = events[0]["run_id"].as_str().unwrap().to_string();
    assert!(!dir.join("mirror.txt").exists());

    // A step that succeeded, or no step of the plan: a usage error that says
    // why, and nothing is written.
    let before = journal(dir, &run_id);
    for (step, why) in [
        ("first", "it already succeeded"),
        ("nosuch", "has no step `nosuch`"),
    ] {
        dr(dir, &["resume", &run_id, "--skip", step])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!("--skip {step}: ")))
            .stderr(predicate::str::contains(why));
    }
    // Without --skip a failed run is finished.
    dr(dir, &["resume", &run_id])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already finished"));
    assert_eq!(journal(dir, &run_id), before);
    assert!(!dir.join("mirror.txt").exists());

    // Two steps skipped (the failed one and one not yet run): the step after
    // them runs, neither skipped one does, `first` does not repeat.
    let events = json_lines(
        dr(
            dir,
            &[
                "resume", &run_id, "--skip", "broken", "--skip", "mirror", "--json",
            ],
        )
        .env("DR_OPERATOR", "alice")
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone(),
    );
    assert_eq!(events.last().unwrap()["status"], "succeeded");
    assert!(dir.join("last.txt").exists());
    assert!(!dir.join("mirror.txt").exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("first.txt")).unwrap(),
        "ran\n"
    );

    let report = report_json(dir, &run_id);
    assert_eq!(report["status"], "succeeded");
    for id in ["broken", "mirror"] {
        let s = step(&report, id);
        assert_eq!(s["status"], "skipped", "{s}");
        assert_eq!(s["skipped_by_operator"], true, "{s}");
        assert!(s.get("done_by_operator").is_none(), "{s}");
        assert_eq!(s["attested"]["operator"], "alice", "{s}");
        assert_eq!(s["attested"]["decision"], "skip", "{s}");
        assert!(s["attested"]["at"].is_string(), "{s}");
    }
    assert_eq!(step(&report, "last")["status"], "succeeded");
    assert!(step(&report, "last").get("skipped_by_operator").is_none());
    let md = dr_stdout(dir, &["report", &run_id], 0);
    assert!(md.contains("| `broken` |"), "{md}");
    assert!(md.contains("skipped by operator alice"), "{md}");
    let html = dr_stdout(dir, &["report", &run_id, "--format", "html"], 0);
    assert!(html.contains("skipped by operator alice"), "{html}");

    let j = journal(dir, &run_id);
    assert!(
        j.contains(r#""skip":["broken","mirror"]"#),
        "the resume records what was skipped: {j}"
    );
    assert!(j.contains(r#""status":"skipped""#), "{j}");
    let audit = std::fs::read_to_string(dir.join("sd").join("audit.jsonl")).unwrap();
    let skipped: Vec<Value> = json_lines(&audit)
        .into_iter()
        .filter(|e| e["result"] == "skipped_by_operator")
        .collect();
    assert_eq!(skipped.len(), 2, "{audit}");
    assert_eq!(skipped[0]["step"], "broken");
    assert_eq!(skipped[1]["step"], "mirror");
    assert!(skipped.iter().all(|e| e["operator"] == "alice"), "{audit}");
    dr(dir, &["audit", "verify"]).assert().code(0);

    // Finished: nothing more to skip.
    dr(dir, &["resume", &run_id, "--skip", "last"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already finished"));
}

#[test]
fn skipping_the_shift_that_halted_a_failover_runs_what_follows_and_leaves_traffic_alone() {
    let extra = r#"
[[steps]]
id = "announce"
action = "exec"
command = "touch announced.txt"
depends_on = ["shift"]
"#;
    let tmp = with_plan(&sim_failover("skip-halted", "0ms", extra));
    let dir = tmp.path();
    dr(dir, &["sim", "down", "west", "--plan", "p.toml"])
        .assert()
        .code(0);
    let events = json_lines(dr_stdout(dir, &["run", "p.toml", "--yes", "--json"], 1));
    let last = events.last().unwrap();
    assert_eq!(last["status"], "halted", "{last}");
    let run_id = events[0]["run_id"].as_str().unwrap().to_string();

    // The one-way promote took effect: it cannot be skipped.
    dr(dir, &["resume", &run_id, "--skip", "promote"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("it already succeeded"));

    let events = json_lines(
        dr(dir, &["resume", &run_id, "--skip", "shift", "--json"])
            .env("DR_OPERATOR", "bob")
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone(),
    );
    assert_eq!(events.last().unwrap()["status"], "succeeded");
    assert!(dir.join("announced.txt").exists());
    // The shift did not run: traffic stays where the halt left it.
    assert_eq!(
        split(dir, "p.toml", "front"),
        serde_json::json!({"maintenance": 100})
    );
    let report = report_json(dir, &run_id);
    let shift = step(&report, "shift");
    assert_eq!(shift["status"], "skipped", "{shift}");
    assert_eq!(shift["skipped_by_operator"], true, "{shift}");
    assert_eq!(shift["attested"]["operator"], "bob", "{shift}");
    let audit = std::fs::read_to_string(dir.join("sd").join("audit.jsonl")).unwrap();
    assert!(
        json_lines(&audit)
            .iter()
            .any(|e| e["result"] == "skipped_by_operator"
                && e["step"] == "shift"
                && e["operator"] == "bob"),
        "{audit}"
    );
    dr(dir, &["audit", "verify"]).assert().code(0);
}

/// `die` kills `dr` once (after touching a marker), so it is in flight when
/// the run stops; `after` waits for it.
const DIES: &str = r#"
[plan]
name = "dies-in-flight"

[[steps]]
id = "die"
action = "exec"
command = "test -f died || { touch died; kill -9 $PPID; sleep 5; }"

[[steps]]
id = "after"
action = "exec"
command = "touch after.txt"
depends_on = ["die"]
"#;

#[test]
fn a_step_in_flight_when_dr_died_can_be_skipped_instead_of_run_again() {
    let tmp = with_plan(DIES);
    let dir = tmp.path();
    let out = dr(dir, &["run", "p.toml", "--yes", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), None, "dr was to be killed: {out:?}");
    let run_id = json_lines(&out.stdout)[0]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Not idempotent: a plain resume refuses and names --skip among the ways on.
    dr(dir, &["resume", &run_id])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "dr resume {run_id} --skip die"
        )));
    // Skipping it and attesting it done at once is refused.
    dr(dir, &["resume", &run_id, "--skip", "die", "--done", "die"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot be both done"));
    std::fs::remove_file(dir.join("died")).unwrap();
    dr(dir, &["resume", &run_id, "--skip", "die"])
        .env("DR_OPERATOR", "carol")
        .assert()
        .code(0);
    // The command did not run again (it would have touched the marker).
    assert!(!dir.join("died").exists());
    assert!(dir.join("after.txt").exists());
    let report = report_json(dir, &run_id);
    let die = step(&report, "die");
    assert_eq!(die["status"], "skipped", "{die}");
    assert_eq!(die["skipped_by_operator"], true);
    assert_eq!(die["attested"]["operator"], "carol");
    dr(dir, &["audit", "verify"]).assert().code(0);
}
