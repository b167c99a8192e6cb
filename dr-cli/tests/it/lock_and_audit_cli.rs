//! `DR_LOCK_DIR` and `DR_AUDIT_KEY` through the `dr` binary. Each test works
//! in its own temp dir (the cwd) with its own state dirs.

use dr_core::Redactor;
use dr_core::audit::{AuditRecord, AuditWriter};
use serde_json::Value;

use crate::support::{dr_with_state_dir, with_plan};

const PLAN: &str = r#"
[plan]
name = "shared"

[resources.front]
provider = "sim.router"
targets = ["east", "west"]
initial = { east = 100 }
state_file = "sim.json"

[[steps]]
id = "shift"
action = "traffic.set"
router = "front"
split = { west = 100 }
"#;

#[test]
fn dr_lock_dir_makes_two_state_dirs_exclude_each_other() {
    let tmp = with_plan(PLAN);
    let shared = tmp.path().join("shared-locks");
    std::fs::create_dir_all(&shared).unwrap();
    // A live run of the plan (this test process) holds the shared lock ...
    let holder = serde_json::json!({
        "run_id": "20260101T000000Z-op1",
        "pid": std::process::id(),
        "host": "elsewhere",
        "started_at": "2026-01-01T00:00:00Z",
        "token": "op1-token",
    });
    std::fs::write(shared.join("shared.lock"), holder.to_string()).unwrap();
    // ... so a run through another state dir with the same DR_LOCK_DIR is refused,
    let out = dr_with_state_dir(tmp.path(), "sd2", &["run", "p.toml", "--yes"])
        .env("DR_LOCK_DIR", &shared)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("20260101T000000Z-op1"), "{stderr}");
    assert!(
        !tmp.path().join("sim.json").exists()
            || !std::fs::read_to_string(tmp.path().join("sim.json"))
                .unwrap()
                .contains("\"west\""),
        "the refused run changed the router"
    );
    // while without it, that state dir has its own lock and the run goes ahead.
    dr_with_state_dir(tmp.path(), "sd2", &["run", "p.toml", "--yes"])
        .assert()
        .code(0);
    assert!(tmp.path().join("sd2/locks").is_dir());
    assert!(
        shared.join("shared.lock").exists(),
        "the other holder's lock is untouched"
    );
}

fn record(step: &str) -> AuditRecord {
    AuditRecord {
        operator: "op".into(),
        host: "h".into(),
        plan: "p".into(),
        plan_digest: "d".into(),
        run_id: "r".into(),
        step: step.into(),
        action: "traffic.set".into(),
        before: serde_json::json!({}),
        after: serde_json::json!({}),
        result: "succeeded".into(),
    }
}

#[test]
fn audit_verify_prints_the_head_and_checks_macs_with_dr_audit_key() {
    let tmp = tempfile::tempdir().unwrap();
    let key = "k3y-for-the-audit-log";
    let mut w = AuditWriter::open(&tmp.path().join("sd"), Some(key.as_bytes())).unwrap();
    for s in ["a", "b"] {
        w.append(&record(s), &Redactor::default()).unwrap();
    }
    let head = w.head().unwrap().unwrap();
    drop(w);

    // Without the key: intact, not keyed, with the head hash to keep elsewhere.
    let out = dr_with_state_dir(tmp.path(), "sd", &["audit", "verify", "--json"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["intact"], true);
    assert_eq!(v["entries"], 2);
    assert_eq!(v["keyed"], false);
    assert_eq!(v["head"]["seq"], 2);
    assert_eq!(v["head"]["hash"], head.hash.as_str());
    let text = dr_with_state_dir(tmp.path(), "sd", &["audit", "verify"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains(&head.hash), "{text}");

    // With the right key: keyed; the key is never printed.
    let out = dr_with_state_dir(tmp.path(), "sd", &["audit", "verify", "--json"])
        .env("DR_AUDIT_KEY", key)
        .assert()
        .code(0)
        .get_output()
        .clone();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["keyed"], true);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(key));

    // With a wrong key: tampered (exit 1), and still no key in the output.
    let out = dr_with_state_dir(tmp.path(), "sd", &["audit", "verify", "--json"])
        .env("DR_AUDIT_KEY", "not-the-key")
        .assert()
        .code(1)
        .get_output()
        .clone();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["intact"], false);
    assert!(v["message"].as_str().unwrap().contains("mac"), "{v}");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("not-the-key") && !all.contains(key), "{all}");
}

#[test]
fn audit_verify_detects_a_deleted_head() {
    let tmp = with_plan(PLAN);
    dr_with_state_dir(tmp.path(), "sd", &["run", "p.toml", "--yes"])
        .assert()
        .code(0);
    dr_with_state_dir(tmp.path(), "sd", &["audit", "verify"])
        .assert()
        .code(0);
    std::fs::remove_file(tmp.path().join("sd/audit.head")).unwrap();
    let out = dr_with_state_dir(tmp.path(), "sd", &["audit", "verify"])
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8_lossy(&out);
    assert!(
        err.contains("tampered") && err.contains("audit.head is missing"),
        "{err}"
    );
}
