//! What an engineer on call does to the lock and the audit log at 3 a.m.

use std::path::Path;

use dr_core::executor::{ExecError, Executor, RunOptions};
use dr_core::lock::{PlanLock, lock_dir};
use dr_core::sim::SimWorld;
use dr_core::{LoadOptions, Plan, Registry};

fn registry() -> Registry {
    let mut registry = Registry::with_builtins();
    SimWorld::new().register(&mut registry);
    registry
}

/// A one-step plan on a sim router; `extra` goes into `[plan]`.
fn plan(registry: &Registry, extra: &str) -> Plan {
    let text = format!(
        r#"
[plan]
name = "locked-plan"
{extra}

[resources.front]
provider = "sim.router"
targets = ["east", "west"]
initial = {{ east = 100 }}

[[steps]]
id = "shift"
action = "traffic.set"
router = "front"
split = {{ west = 100 }}
"#
    );
    Plan::parse(
        "plan.toml",
        &text,
        registry,
        &LoadOptions::with_env(|_| None),
    )
    .unwrap_or_else(|d| panic!("{d}"))
}

fn toml_path(p: &Path) -> String {
    p.display().to_string().replace('\\', "/")
}

#[test]
fn a_run_whose_lock_was_deleted_does_not_release_the_next_runs_lock() {
    let dir = tempfile::tempdir().unwrap();
    let a = PlanLock::acquire(dir.path(), "p", "run-a").unwrap();
    let file = a.path().to_path_buf();
    // The engineer deletes A's lock while A is still running.
    std::fs::remove_file(&file).unwrap();
    assert!(!a.is_held());
    let b = PlanLock::acquire(dir.path(), "p", "run-b").unwrap();
    assert!(b.is_held());
    // A exits: it must not delete B's lock.
    drop(a);
    assert!(file.exists(), "A removed B's lock");
    assert!(b.is_held());
    let err = PlanLock::acquire(dir.path(), "p", "run-c").unwrap_err();
    assert!(
        matches!(&err, dr_core::lock::LockError::Held { holder, .. } if holder.run_id == "run-b"),
        "{err}"
    );
    // B releases its own lock; then C may run.
    drop(b);
    assert!(!file.exists());
    let c = PlanLock::acquire(dir.path(), "p", "run-c").unwrap();
    assert!(c.is_held());
}

#[test]
fn the_lock_file_names_its_holder_and_a_random_token() {
    let dir = tempfile::tempdir().unwrap();
    let a = PlanLock::acquire(dir.path(), "p", "run-a").unwrap();
    let first: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.path()).unwrap()).unwrap();
    assert_eq!(first["run_id"], "run-a");
    assert_eq!(first["pid"], std::process::id());
    drop(a);
    let a2 = PlanLock::acquire(dir.path(), "p", "run-a").unwrap();
    let second: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a2.path()).unwrap()).unwrap();
    let (t1, t2) = (
        first["token"].as_str().unwrap(),
        second["token"].as_str().unwrap(),
    );
    assert!(t1.len() >= 32 && t2.len() >= 32, "{t1} {t2}");
    assert_ne!(t1, t2, "every acquisition gets its own token");
}

#[test]
fn the_default_lock_lives_in_the_state_dir_so_two_state_dirs_do_not_exclude() {
    let registry = registry();
    let plan = plan(&registry, "");
    let (sd1, sd2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    assert_eq!(plan.lock_dir, None);
    // Assumes the test environment does not set DR_LOCK_DIR (CI does not).
    if std::env::var_os("DR_LOCK_DIR").is_none() {
        assert_eq!(lock_dir(sd1.path(), &plan), sd1.path().join("locks"));
        assert_ne!(lock_dir(sd1.path(), &plan), lock_dir(sd2.path(), &plan));
    }
}

#[tokio::test]
async fn two_state_dirs_sharing_a_plan_lock_dir_exclude_each_other() {
    let registry = registry();
    let shared = tempfile::tempdir().unwrap();
    let plan_text_dir = toml_path(&shared.path().join("locks"));
    let (sd1, sd2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let p = plan(&registry, &format!("lock_dir = \"{plan_text_dir}\""));
    assert_eq!(
        p.lock_dir.as_deref(),
        Some(shared.path().join("locks").as_path())
    );
    assert_eq!(lock_dir(sd1.path(), &p), lock_dir(sd2.path(), &p));

    // Operator 1 holds the plan through state dir 1 ...
    let held = PlanLock::acquire(&lock_dir(sd1.path(), &p), &p.name, "run-1").unwrap();
    assert!(held.path().starts_with(shared.path()));
    // ... so operator 2, with another state dir, is refused.
    let err = Executor::new(
        plan(&registry, &format!("lock_dir = \"{plan_text_dir}\"")),
        RunOptions::new(sd2.path()),
    )
    .run()
    .await
    .unwrap_err();
    assert!(
        matches!(&err, ExecError::Locked(m) if m.to_string().contains("run-1")),
        "{err}"
    );
    assert!(!sd2.path().join("locks").exists());
    drop(held);
    let out = Executor::new(
        plan(&registry, &format!("lock_dir = \"{plan_text_dir}\"")),
        RunOptions::new(sd2.path()),
    )
    .run()
    .await
    .unwrap();
    assert_eq!(out.status, dr_core::executor::RunStatus::Succeeded);
    assert_eq!(
        std::fs::read_dir(shared.path().join("locks"))
            .unwrap()
            .count(),
        0,
        "released after the run"
    );
}

// ---- audit ----

use dr_core::Redactor;
use dr_core::audit::{AuditHead, AuditRecord, AuditWriter, verify};
use sha2::{Digest, Sha256};

fn record(step: &str) -> AuditRecord {
    AuditRecord {
        operator: "op".into(),
        host: "h".into(),
        plan: "p".into(),
        plan_digest: "d".into(),
        run_id: "r1".into(),
        step: step.into(),
        action: "traffic.set".into(),
        before: serde_json::json!({"east": 100}),
        after: serde_json::json!({"west": 100}),
        result: "succeeded".into(),
    }
}

/// Three entries, written with `key`; returns the head.
fn three_entries(dir: &Path, key: Option<&[u8]>) -> AuditHead {
    let mut w = AuditWriter::open(dir, key).unwrap();
    assert_eq!(w.head().unwrap(), None);
    for s in ["a", "b", "c"] {
        w.append(&record(s), &Redactor::default()).unwrap();
    }
    w.sync().unwrap();
    w.head().unwrap().unwrap()
}

/// A run journal whose final record carries the audit head at run end (as the
/// executor writes it), after an unparsable line and a record without it.
fn journal_with_head(dir: &Path, run: &str, head: &AuditHead) {
    let d = dir.join("runs").join(run);
    std::fs::create_dir_all(&d).unwrap();
    let lines = [
        serde_json::json!({"seq": 1, "type": "run_started", "run_id": run}).to_string(),
        "{not json".to_string(),
        serde_json::json!({"seq": 2, "type": "run_finished", "status": "failed"}).to_string(),
        serde_json::json!({"seq": 3, "type": "run_finished", "status": "succeeded", "run_id": run,
            "audit_head": {"seq": head.seq, "hash": head.hash}})
        .to_string(),
    ];
    std::fs::write(d.join("journal.jsonl"), lines.join("\n") + "\n").unwrap();
}

fn log(dir: &Path) -> std::path::PathBuf {
    dir.join("audit.jsonl")
}

fn head_file(dir: &Path) -> std::path::PathBuf {
    dir.join("audit.head")
}

#[test]
fn verify_reports_entries_and_head() {
    let dir = tempfile::tempdir().unwrap();
    let empty = verify(dir.path(), None).unwrap();
    assert_eq!((empty.entries, empty.head, empty.keyed), (0, None, false));
    let head = three_entries(dir.path(), None);
    assert_eq!(head.seq, 3);
    assert_eq!(head.hash.len(), 64);
    let r = verify(dir.path(), None).unwrap();
    assert_eq!(
        (r.entries, r.head.as_ref(), r.keyed),
        (3, Some(&head), false)
    );
    assert_eq!(r.runs_checked, 0);
    journal_with_head(dir.path(), "r1", &head);
    assert_eq!(verify(dir.path(), None).unwrap().runs_checked, 1);
}

#[test]
fn a_deleted_or_emptied_log_and_head_are_tampering_while_runs_recorded_the_head() {
    for how in ["deleted", "emptied"] {
        let dir = tempfile::tempdir().unwrap();
        let head = three_entries(dir.path(), None);
        journal_with_head(dir.path(), "r1", &head);
        assert!(verify(dir.path(), None).is_ok());
        for f in [log(dir.path()), head_file(dir.path())] {
            if how == "deleted" {
                std::fs::remove_file(f).unwrap();
            } else {
                std::fs::write(f, "").unwrap();
            }
        }
        let t = verify(dir.path(), None).unwrap_err();
        assert!(
            t.message.contains("run r1 recorded audit entry 3") && t.message.contains(&head.hash),
            "{how}: {t}"
        );
    }
}

#[test]
fn a_missing_empty_or_garbled_head_with_entries_is_tampering() {
    for (what, content) in [
        ("missing", None),
        ("empty", Some("")),
        ("not a valid head", Some("{\"seq\":")),
    ] {
        let dir = tempfile::tempdir().unwrap();
        three_entries(dir.path(), None);
        match content {
            None => std::fs::remove_file(head_file(dir.path())).unwrap(),
            Some(c) => std::fs::write(head_file(dir.path()), c).unwrap(),
        }
        let t = verify(dir.path(), None).unwrap_err();
        assert!(t.message.contains(what), "{what}: {t}");
        assert_eq!(t.line, 4);
    }
}

#[test]
fn a_head_with_a_missing_or_empty_log_is_tampering() {
    for remove in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        three_entries(dir.path(), None);
        if remove {
            std::fs::remove_file(log(dir.path())).unwrap();
        } else {
            std::fs::write(log(dir.path()), "").unwrap();
        }
        let t = verify(dir.path(), None).unwrap_err();
        assert!(t.message.contains("audit.head records 3 entries"), "{t}");
    }
}

/// What someone with write access and no key does: changes an entry, then
/// recomputes every hash and the head, so the chain is consistent again.
fn rewrite_whole_chain(dir: &Path, keep_macs: bool) {
    let text = std::fs::read_to_string(log(dir)).unwrap();
    let mut prev = "0".repeat(64);
    let mut out = String::new();
    let mut n = 0;
    for line in text.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        let obj = v.as_object_mut().unwrap();
        obj.remove("hash");
        let mac = obj.remove("mac");
        obj.insert("prev_hash".into(), prev.clone().into());
        if obj["step"] == "b" {
            obj.insert("result".into(), "failed".into());
        }
        let hash = hex::encode(Sha256::digest(serde_json::to_vec(&v).unwrap()));
        v["hash"] = hash.clone().into();
        if let (true, Some(mac)) = (keep_macs, mac) {
            v["mac"] = mac;
        }
        out.push_str(&v.to_string());
        out.push('\n');
        prev = hash;
        n += 1;
    }
    std::fs::write(log(dir), out).unwrap();
    std::fs::write(
        head_file(dir),
        serde_json::json!({"seq": n, "hash": prev}).to_string(),
    )
    .unwrap();
}

#[test]
fn a_consistently_rewritten_chain_passes_without_a_key_and_fails_with_it() {
    let key = b"correct horse battery staple".as_slice();
    for keep_macs in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        three_entries(dir.path(), Some(key));
        let r = verify(dir.path(), Some(key)).unwrap();
        assert!(r.keyed && r.entries == 3);
        rewrite_whole_chain(dir.path(), keep_macs);
        assert!(
            std::fs::read_to_string(log(dir.path()))
                .unwrap()
                .contains("\"failed\"")
        );
        // The hash chain alone cannot tell.
        let unkeyed = verify(dir.path(), None).unwrap();
        assert!(!unkeyed.keyed && unkeyed.entries == 3);
        // The key can: entry 2 changed, so its mac no longer matches (or is gone).
        let t = verify(dir.path(), Some(key)).unwrap_err();
        let want = if keep_macs { 2 } else { 1 };
        assert_eq!(t.line, want, "{t}");
        assert!(t.message.contains("mac"), "{t}");
    }
}

#[test]
fn a_wrong_key_or_entries_written_without_a_key_fail_keyed_verification() {
    let dir = tempfile::tempdir().unwrap();
    three_entries(dir.path(), Some(b"the right key"));
    assert!(verify(dir.path(), Some(b"the right key")).is_ok());
    let t = verify(dir.path(), Some(b"a wrong key")).unwrap_err();
    assert_eq!(t.line, 1);
    assert!(t.message.contains("mac does not match"), "{t}");
    // Every entry carries a mac; the key itself is nowhere in the log.
    let text = std::fs::read_to_string(log(dir.path())).unwrap();
    assert_eq!(text.matches("\"mac\":").count(), 3);
    assert!(!text.contains("the right key"));

    let unkeyed = tempfile::tempdir().unwrap();
    three_entries(unkeyed.path(), None);
    let t = verify(unkeyed.path(), Some(b"the right key")).unwrap_err();
    assert!(t.message.contains("no mac"), "{t}");
}

#[test]
fn a_run_head_that_the_log_does_not_hold_is_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let head = three_entries(dir.path(), None);
    journal_with_head(dir.path(), "r1", &head);
    // The log is cut back to two entries and the head rewritten to match: the
    // chain is consistent, the run's record is not.
    let text = std::fs::read_to_string(log(dir.path())).unwrap();
    let two: Vec<&str> = text.lines().take(2).collect();
    let second: serde_json::Value = serde_json::from_str(two[1]).unwrap();
    std::fs::write(log(dir.path()), two.join("\n") + "\n").unwrap();
    std::fs::write(
        head_file(dir.path()),
        serde_json::json!({"seq": 2, "hash": second["hash"]}).to_string(),
    )
    .unwrap();
    let t = verify(dir.path(), None).unwrap_err();
    assert!(t.message.contains("the log has 2 entries"), "{t}");
    // A different chain of the same length.
    let other = tempfile::tempdir().unwrap();
    let mut w = AuditWriter::open(other.path(), None).unwrap();
    for s in ["x", "y", "z"] {
        w.append(&record(s), &Redactor::default()).unwrap();
    }
    journal_with_head(other.path(), "r1", &head);
    let t = verify(other.path(), None).unwrap_err();
    assert_eq!(t.line, 3);
    assert!(t.message.contains("with hash"), "{t}");
}
