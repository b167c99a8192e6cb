//! CLI polish: `--json` means JSON everywhere, flags only where they apply,
//! clear errors for approvals and sim targets that do not exist.

use std::path::Path;

use serde_json::Value;
use tempfile::TempDir;

use crate::support::{dr, with_plan};

const PLAN: &str = r#"[plan]
name = "polish"

[resources.front]
provider = "sim.router"
targets = ["east", "west"]
initial = { east = 100 }
state_file = "sim.json"

[[steps]]
id = "go"
action = "approval"

[[steps]]
id = "shift"
action = "traffic.set"
router = "front"
split = { west = 100 }
depends_on = ["go"]
"#;

const BROKEN: &str =
    "[plan]\nname = \"b\"\n[[steps]]\nid = \"a\"\naction = \"wait\"\nduration = \"soon\"\n";

fn setup() -> TempDir {
    let dir = with_plan(PLAN);
    std::fs::write(dir.path().join("broken.toml"), BROKEN).unwrap();
    dir
}

/// (exit code, stdout, stderr)
fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = dr(dir, args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn subcommand_help_lists_only_the_flags_that_apply() {
    let dir = setup();
    let (_, audit, _) = run(dir.path(), &["audit", "verify", "--help"]);
    assert!(!audit.contains("--approve"), "{audit}");
    assert!(!audit.contains("--accept-data-loss"), "{audit}");
    assert!(!audit.contains("--yes"), "{audit}");
    assert!(
        audit.contains("--json") && audit.contains("--state-dir"),
        "{audit}"
    );
    let (_, run_help, _) = run(dir.path(), &["run", "--help"]);
    for flag in ["--approve", "--accept-data-loss", "--yes"] {
        assert!(run_help.contains(flag), "{run_help}");
    }
    let (_, resume, _) = run(dir.path(), &["resume", "--help"]);
    assert!(resume.contains("--approve"), "{resume}");
    // The forms scripts use keep working: flags after the plan, repeated --approve.
    let (code, _, err) = run(
        dir.path(),
        &[
            "run",
            "p.toml",
            "--yes",
            "--approve",
            "go",
            "--approve",
            "go",
        ],
    );
    assert_eq!(code, 0, "{err}");
}

#[test]
fn approving_a_step_that_does_not_exist_runs_nothing() {
    let dir = setup();
    let (code, out, err) = run(dir.path(), &["run", "p.toml", "--yes", "--approve", "nope"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("no approval step `nope`"), "{err}");
    assert!(err.contains("its approval steps: go"), "{err}");
    assert!(!dir.path().join("sd").join("runs").exists());
    let (code, out, _) = run(
        dir.path(),
        &["run", "p.toml", "--yes", "--approve", "nope", "--json"],
    );
    assert_eq!(code, 2);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["event"], "error");
    assert_eq!(v["kind"], "unknown_approval");
}

#[test]
fn json_means_json_for_invalid_plans() {
    let dir = setup();
    for args in [
        &["validate", "broken.toml", "--json"][..],
        &["plan", "broken.toml", "--json"],
        &["run", "broken.toml", "--yes", "--json"],
        &["status", "broken.toml", "--json"],
        &["graph", "broken.toml", "--json"],
    ] {
        let (code, out, err) = run(dir.path(), args);
        assert_eq!(code, 2, "{args:?}");
        let v: Value = serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"));
        assert_eq!(v["valid"], false, "{args:?}");
        assert_eq!(v["diagnostics"][0]["key"], "steps[0].duration", "{args:?}");
        assert!(!err.contains("error:"), "{args:?}: {err}");
    }
}

#[test]
fn validate_json_prints_only_the_object() {
    let dir = setup();
    let (code, out, err) = run(dir.path(), &["validate", "p.toml", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn report_json_is_the_json_report() {
    let dir = setup();
    let (code, out, err) = run(
        dir.path(),
        &["run", "p.toml", "--yes", "--approve", "go", "--json"],
    );
    assert_eq!(code, 0, "{err}");
    let last: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let run_id = last["run_id"].as_str().unwrap().to_string();
    let (code, out, _) = run(dir.path(), &["report", &run_id, "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["run_id"], run_id.as_str());
    let (code, out, _) = run(dir.path(), &["report", "no-such-run", "--json"]);
    assert_eq!(code, 2);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["kind"], "unknown_run");
}

#[test]
fn sim_down_of_a_target_the_plan_does_not_have_names_its_targets() {
    let dir = setup();
    let (code, _, err) = run(dir.path(), &["sim", "down", "mars", "--plan", "p.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("no sim target `mars`"), "{err}");
    assert!(err.contains("east, west"), "{err}");
    let (code, out, _) = run(dir.path(), &["sim", "down", "west", "--plan", "p.toml"]);
    assert_eq!(code, 0);
    assert!(out.contains("marked `west` down in sim.json"), "{out}");
    // Without a plan the state file may be shared: it is marked, and named.
    let (code, out, _) = run(dir.path(), &["sim", "down", "mars"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("marked `mars` down in sd/sim-state.json"),
        "{out}"
    );
}

#[test]
fn the_run_flags_still_work_in_every_position_they_did_when_global() {
    let dir = setup();
    // Before the subcommand, as when they were global flags.
    let (code, out, err) = run(
        dir.path(),
        &["--yes", "--approve", "go", "run", "p.toml", "--json"],
    );
    assert_eq!(code, 0, "{err}");
    let last: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(last["status"], "succeeded");
    let run_id = last["run_id"].as_str().unwrap().to_string();
    // `--yes` on resume and demo is accepted (neither asks).
    let (code, _, err) = run(dir.path(), &["resume", &run_id, "--yes"]);
    assert_eq!(code, 2, "{err}"); // the run finished: nothing to resume, not a usage error
    assert!(err.contains("already finished"), "{err}");
    // Hidden where they do not apply.
    let (_, top, _) = run(dir.path(), &["--help"]);
    assert!(!top.contains("--approve"), "{top}");
}
