//! `dr resume` on files it cannot trust (a journal cut after the audit log
//! recorded a step, an edited plan copy) and `dr resume --done STEP` for a
//! non-idempotent `exec` that took effect before `dr` died. The run dies for
//! real: its second step kills `dr` (`kill -9 $PPID`) once, after touching a
//! marker, so the step is in flight with its effect in place.

use std::path::{Path, PathBuf};

use predicates::prelude::*;
use serde_json::Value;

use crate::support::{dr, json_lines, report_json, with_plan};

const PLAN: &str = r#"
[plan]
name = "half-done"

[[steps]]
id = "effect"
action = "exec"
command = "echo ran >> effect.txt"

[[steps]]
id = "die"
action = "exec"
command = "test -f died || { touch died; kill -9 $PPID; sleep 5; }"
depends_on = ["effect"]
"#;

/// Runs the plan in `dir` until `dr` dies in step `die`; returns the run id.
fn run_until_dr_dies(dir: &Path) -> String {
    let out = dr(dir, &["run", "p.toml", "--yes", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), None, "dr was to be killed: {out:?}");
    let first = json_lines(&out.stdout).into_iter().next().unwrap();
    assert_eq!(first["event"], "run_started");
    assert!(dir.join("died").exists());
    first["run_id"].as_str().unwrap().to_string()
}

fn effects(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("effect.txt"))
        .unwrap()
        .lines()
        .count()
}

fn run_dir(dir: &Path, run_id: &str) -> PathBuf {
    dir.join("sd").join("runs").join(run_id)
}

#[test]
fn resume_refuses_a_cut_journal_and_an_edited_plan_copy_naming_each_reason() {
    let tmp = with_plan(PLAN);
    let dir = tmp.path();
    let run_id = run_until_dr_dies(dir);
    assert_eq!(effects(dir), 1);
    // The journal loses everything after run_started (cut at a record boundary);
    // the audit log still says `effect` succeeded. And the plan copy is edited.
    let journal = run_dir(dir, &run_id).join("journal.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.contains("\"step\":\"effect\""), "{text}");
    std::fs::write(&journal, format!("{}\n", text.lines().next().unwrap())).unwrap();
    let copy = run_dir(dir, &run_id).join("plan.toml");
    let mut plan = std::fs::read_to_string(&copy).unwrap();
    plan.push_str("\n# edited\n");
    std::fs::write(&copy, plan).unwrap();

    dr(dir, &["resume", &run_id]).assert().code(2).stderr(
        predicate::str::contains(
            "the audit log records that step `effect` (exec) succeeded, which the journal does not",
        )
        .and(predicate::str::contains("edited or replaced")),
    );
    // Nothing ran again.
    assert_eq!(effects(dir), 1);
}

#[test]
fn resume_done_attests_an_in_flight_exec_without_running_it_again() {
    let tmp = with_plan(PLAN);
    let dir = tmp.path();
    let run_id = run_until_dr_dies(dir);
    std::fs::remove_file(dir.join("died")).unwrap();

    // Without a word from the operator the in-flight command is not repeated.
    dr(dir, &["resume", &run_id])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "dr resume {run_id} --done die"
        )));
    // --done is only for a step in doubt: a usage error otherwise.
    for (step, why) in [
        ("effect", "it already succeeded"),
        ("nosuch", "has no step `nosuch`"),
    ] {
        dr(dir, &["resume", &run_id, "--done", step])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(why));
    }

    let events = json_lines(
        dr(dir, &["resume", &run_id, "--done", "die", "--json"])
            .env("DR_OPERATOR", "alice")
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone(),
    );
    assert_eq!(events.last().unwrap()["status"], "succeeded");
    // The command ran neither again (no new marker) nor did `effect` repeat.
    assert!(!dir.join("died").exists());
    assert_eq!(effects(dir), 1);

    // Who and when: report, journal, audit log.
    let report = report_json(dir, &run_id);
    let die = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "die")
        .unwrap()
        .clone();
    assert_eq!(die["status"], "succeeded");
    assert_eq!(die["done_by_operator"], true);
    assert_eq!(die["attested"]["operator"], "alice");
    assert!(die["attested"]["at"].is_string());
    let journal = std::fs::read_to_string(run_dir(dir, &run_id).join("journal.jsonl")).unwrap();
    assert!(
        journal.contains("\"attested\":{\"operator\":\"alice\""),
        "{journal}"
    );
    let audit = std::fs::read_to_string(dir.join("sd").join("audit.jsonl")).unwrap();
    let attested: Vec<Value> = json_lines(&audit)
        .into_iter()
        .filter(|e| e["result"] == "done_by_operator")
        .collect();
    assert_eq!(attested.len(), 1, "{audit}");
    assert_eq!(attested[0]["step"], "die");
    assert_eq!(attested[0]["operator"], "alice");
    dr(dir, &["audit", "verify"]).assert().code(0);
}
