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
        matches!(&err, ExecError::Locked(m) if m.contains("being run by run run-b")),
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
        matches!(&err, ExecError::Locked(m) if m.contains("run-1")),
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
