//! Executor semantics, on the sim provider.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dr_core::executor::{Event, ExecError, Executor, RunStatus};
use dr_core::sim::SimWorld;
use dr_core::{LoadOptions, Plan, Registry, TrafficSplit};

use crate::common::{only_run_id, opts, recorder, split_of, world};

fn load(registry: &Registry, text: &str) -> Plan {
    Plan::parse(
        "plan.toml",
        text,
        registry,
        &LoadOptions::with_env(|n| {
            (n == "DR_TEST_SECRET").then(|| "hunter2-very-secret".to_string())
        }),
    )
    .unwrap_or_else(|d| panic!("{d}"))
}

const FAILOVER: &str = r#"
[plan]
name = "failover"
rto = "15m"
rpo = "15m"
max_parallel = 2

[resources.front]
provider = "sim.router"
targets = ["east", "west", "maint"]
initial = { east = 100 }

[resources.web_west]
provider = "sim.probe"
healthy = true

[resources.db]
provider = "sim.store"
role = "replica"
lag = "3s"

[resources.link]
provider = "sim.replicator"
lag = "2s"

[resources.cache]
provider = "sim.store"
role = "replica"

[resources.old]
provider = "sim.store"
role = "primary"

[[steps]]
id = "maintenance"
action = "traffic.set"
router = "front"
split = { maint = 100 }

[[steps]]
id = "rpo"
action = "replication.check"
replicator = "link"
max_lag = "1m"

[[steps]]
id = "stop"
action = "replication.stop"
replicator = "link"
depends_on = ["rpo"]

[[steps]]
id = "promote"
action = "datastore.promote"
store = "db"
max_lag = "15m"
depends_on = ["stop", "maintenance"]

[[steps]]
id = "fence"
action = "datastore.fence"
store = "old"
depends_on = ["promote"]

[[steps]]
id = "flush"
action = "datastore.flush"
store = "cache"
depends_on = ["promote"]

[[steps]]
id = "shift"
action = "traffic.shift"
router = "front"
to = "west"
phases = [50, 100]
gate = { probe = "web_west", times = 2, every = "1ms" }
depends_on = ["fence", "flush"]
"#;

fn expected_calls() -> Vec<(&'static str, &'static str, u64)> {
    vec![
        ("front", "apply", 3),
        ("link", "stop", 1),
        ("db", "promote", 1),
        ("old", "fence", 1),
        ("cache", "flush", 1),
    ]
}

#[tokio::test]
async fn a_failover_plan_runs_to_the_end_and_reports() {
    let (world, registry) = world();
    let dir = tempfile::tempdir().unwrap();
    let (events, sink) = recorder();
    let out = Executor::new(load(&registry, FAILOVER), opts(dir.path()).on_event(sink))
        .run()
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Succeeded, "{:#?}", out.report);
    for (res, call, n) in expected_calls() {
        assert_eq!(
            world.calls(res).get(call).copied().unwrap_or(0),
            n,
            "{res}.{call}"
        );
    }
    assert_eq!(
        split_of(&registry, "front", &["east", "west", "maint"]).await,
        TrafficSplit::all_to("west")
    );
    let r = &out.report;
    assert_eq!(
        r.rpo_ms,
        Some(3000),
        "largest lag at stop (2s) or promote (3s)"
    );
    assert_eq!(
        (r.rto_target_ms, r.rpo_target_ms),
        (Some(900_000), Some(900_000))
    );
    assert!(r.rto_ms.is_some() && r.rto_met == Some(true));
    assert_eq!(r.steps.len(), 7);
    assert!(
        r.steps.iter().all(|s| !s.action.is_empty()),
        "every step names its action: {:?}",
        r.steps
    );
    assert!(r.steps.iter().all(|s| s.status == "succeeded"
        && s.attempts >= 1
        && s.started_at.is_some()
        && s.finished_at.is_some()));
    let json = serde_json::to_value(r).unwrap();
    for key in [
        "run_id",
        "plan",
        "status",
        "started_at",
        "finished_at",
        "rto_ms",
        "rpo_ms",
        "rto_target_ms",
        "rpo_target_ms",
        "steps",
    ] {
        assert!(json.get(key).is_some(), "report lacks {key}");
    }
    assert!(
        r.to_markdown().contains("| RPO | 3s ✅ met | 15m |"),
        "{}",
        r.to_markdown()
    );
    let events = events.lock().unwrap();
    assert!(matches!(events.first(), Some(Event::RunStarted { .. })));
    assert!(
        matches!(events.last(), Some(Event::RunFinished { status, .. }) if status == "succeeded")
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::PhaseApplied { .. }))
            .count(),
        2
    );
    // the report on disk is the same report
    let on_disk = dr_core::report::Report::load(dir.path(), &out.run_id).unwrap();
    assert_eq!(on_disk.rpo_ms, Some(3000));
}

#[tokio::test(start_paused = true)]
async fn independent_steps_reach_the_configured_parallelism() {
    let (_world, registry) = world();
    let mut text = String::from("[plan]\nname = \"par\"\nmax_parallel = 4\n");
    for i in 0..12 {
        text.push_str(&format!(
            "[[steps]]\nid = \"w{i}\"\naction = \"wait\"\nduration = \"1s\"\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let in_flight = Arc::new(Mutex::new((0i32, 0i32)));
    let f = in_flight.clone();
    let o = opts(dir.path()).on_event(move |e| {
        let mut g = f.lock().unwrap();
        match e {
            Event::StepStarted { .. } => g.0 += 1,
            Event::StepFinished { .. } => g.0 -= 1,
            _ => {}
        }
        g.1 = g.1.max(g.0);
    });
    let out = Executor::new(load(&registry, &text), o)
        .run()
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Succeeded);
    assert_eq!(in_flight.lock().unwrap().1, 4, "max in-flight steps");
}

#[tokio::test]
async fn fail_first_two_succeeds_on_the_third_attempt() {
    let (world, registry) = world();
    let plan = load(
        &registry,
        "[plan]\nname = \"r\"\n[resources.front]\nprovider = \"sim.router\"\ntargets = [\"east\", \"west\"]\nfail_first = 2\n\
         [[steps]]\nid = \"go\"\naction = \"traffic.set\"\nrouter = \"front\"\nsplit = { west = 100 }\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let (events, sink) = recorder();
    let out = Executor::new(plan, opts(dir.path()).on_event(sink))
        .run()
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Succeeded);
    assert_eq!(out.report.steps[0].attempts, 3);
    assert_eq!(world.calls("front")["apply"], 1);
    let retries: Vec<u32> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| {
            if let Event::Retrying { attempt, .. } = e {
                Some(*attempt)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(retries, vec![1, 2]);
}

mod failing {
    //! A router whose `apply` fails as told, for error-kind tests.
    use super::*;
    use dr_core::{ErrorKind, ProviderError, RouterCapabilities, TrafficRouter, async_trait};

    #[derive(Debug)]
    pub struct Flaky {
        pub errors: Mutex<Vec<ProviderError>>,
        pub applied: Mutex<u32>,
        pub split: Mutex<TrafficSplit>,
    }

    #[async_trait]
    impl TrafficRouter for Flaky {
        fn targets(&self) -> Vec<String> {
            vec!["east".into(), "west".into()]
        }
        fn capabilities(&self) -> RouterCapabilities {
            RouterCapabilities::weighted()
        }
        async fn current(&self, _: Option<&str>) -> Result<TrafficSplit, ProviderError> {
            Ok(self.split.lock().unwrap().clone())
        }
        async fn apply(&self, split: &TrafficSplit, _: Option<&str>) -> Result<(), ProviderError> {
            if let Some(e) = self.errors.lock().unwrap().pop() {
                return Err(e);
            }
            *self.applied.lock().unwrap() += 1;
            *self.split.lock().unwrap() = split.clone();
            Ok(())
        }
    }

    pub fn registry(errors: Vec<ProviderError>) -> (Registry, Arc<Flaky>) {
        let flaky = Arc::new(Flaky {
            errors: Mutex::new(errors),
            applied: Mutex::new(0),
            split: Mutex::new(TrafficSplit::all_to("east")),
        });
        let mut r = Registry::with_builtins();
        let f = flaky.clone();
        r.router("flaky", move |_| Ok(f.clone() as Arc<dyn TrafficRouter>));
        (r, flaky)
    }

    pub const PLAN: &str = "[plan]\nname = \"f\"\n[resources.front]\nprovider = \"flaky\"\n\
        [[steps]]\nid = \"go\"\naction = \"traffic.set\"\nrouter = \"front\"\nsplit = { west = 100 }\nretries = 5\n";

    pub fn auth() -> ProviderError {
        ProviderError::new(ErrorKind::Auth, "token rejected")
            .with_provider("flaky")
            .with_request_id("req-9")
    }
}

#[tokio::test]
async fn a_non_retryable_error_fails_at_once_naming_resource_operation_and_request_id() {
    let (registry, flaky) = failing::registry(vec![failing::auth()]);
    let dir = tempfile::tempdir().unwrap();
    let out = Executor::new(load(&registry, failing::PLAN), opts(dir.path()))
        .run()
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Failed);
    let s = &out.report.steps[0];
    assert_eq!(s.attempts, 1);
    let err = s.error.as_deref().unwrap();
    assert!(
        err.contains(
            "flaky resource `front`: apply failed: token rejected [auth, request id req-9]"
        ),
        "{err}"
    );
    assert_eq!(*flaky.applied.lock().unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured() {
    let throttled = dr_core::ProviderError::throttled(Some(Duration::from_secs(30)), "slow down");
    let (registry, flaky) = failing::registry(vec![throttled]);
    let dir = tempfile::tempdir().unwrap();
    let t0 = tokio::time::Instant::now();
    let out = Executor::new(load(&registry, failing::PLAN), opts(dir.path()))
        .run()
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Succeeded);
    assert!(
        tokio::time::Instant::now() - t0 >= Duration::from_secs(30),
        "waited at least retry_after (virtual time)"
    );
    assert_eq!(*flaky.applied.lock().unwrap(), 1);
    assert_eq!(out.report.steps[0].attempts, 2);
}

const ROLLBACK: &str = r#"
[plan]
name = "rb"

[resources.front]
provider = "sim.router"
targets = ["east", "west", "maint"]
initial = { east = 100 }

[resources.web_west]
provider = "sim.probe"
sequence = ["healthy", "healthy", "unhealthy"]

[[steps]]
id = "maintenance"
action = "traffic.set"
router = "front"
split = { east = 90, maint = 10 }

[[steps]]
id = "shift"
action = "traffic.shift"
router = "front"
to = "west"
phases = [20, 40, 60, 80, 100]
gate = { probe = "web_west", every = "1ms" }
on_failure = "rollback"
depends_on = ["maintenance"]
"#;

#[tokio::test]
async fn a_gate_turning_unhealthy_at_60_percent_rolls_back_to_the_original_split() {
    let (world, registry) = world();
    let dir = tempfile::tempdir().unwrap();
    let (events, sink) = recorder();
    let out = Executor::new(load(&registry, ROLLBACK), opts(dir.path()).on_event(sink))
        .run()
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::RolledBack);
    assert_eq!(
        split_of(&registry, "front", &["east", "west", "maint"]).await,
        TrafficSplit::all_to("east")
    );
    let phases: Vec<u32> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| {
            if let Event::PhaseApplied { phase, .. } = e {
                Some(*phase)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(phases, vec![20, 40, 60]);
    let shift = out.report.steps.iter().find(|s| s.id == "shift").unwrap();
    assert_eq!(shift.status, "failed");
    assert!(
        shift.error.as_deref().unwrap().contains("at 60%"),
        "{:?}",
        shift.error
    );
    // maintenance set (1) + phases 20/40/60 (3) + the shift restoring its split (1) + rollback of maintenance (1)
    assert_eq!(world.calls("front")["apply"], 6);
    let maint = out
        .report
        .steps
        .iter()
        .find(|s| s.id == "maintenance")
        .unwrap();
    assert!(
        maint
            .compensation
            .as_deref()
            .unwrap()
            .starts_with("succeeded"),
        "{maint:?}"
    );
    assert!(
        matches!(events.lock().unwrap().last(), Some(Event::RunFinished { status, .. }) if status == "rolled_back")
    );
}

#[tokio::test]
async fn the_rpo_gate_refuses_unless_data_loss_is_accepted() {
    let text = "[plan]\nname = \"rpo\"\n[resources.db]\nprovider = \"sim.store\"\nrole = \"replica\"\nlag = \"20m\"\n\
        [[steps]]\nid = \"promote\"\naction = \"datastore.promote\"\nstore = \"db\"\nmax_lag = \"15m\"\n";
    let (world, registry) = world();
    let dir = tempfile::tempdir().unwrap();
    let out = Executor::new(load(&registry, text), opts(dir.path()))
        .run()
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Failed);
    assert!(
        out.report.steps[0]
            .error
            .as_deref()
            .unwrap()
            .contains("RPO gate"),
        "{:?}",
        out.report.steps[0]
    );
    assert!(world.calls("db").is_empty(), "refused before promoting");

    let (events, sink) = recorder();
    let out = Executor::new(
        load(&registry, text),
        opts(dir.path()).accept_data_loss(true).on_event(sink),
    )
    .run()
    .await
    .unwrap();
    assert_eq!(out.status, RunStatus::Succeeded);
    assert_eq!(world.calls("db")["promote"], 1);
    assert_eq!(out.report.rpo_ms, Some(20 * 60_000));
    assert!(events.lock().unwrap().iter().any(
        |e| matches!(e, Event::Warning { message, .. } if message.contains("--accept-data-loss"))
    ));
}

#[tokio::test]
async fn an_approval_not_given_fails_the_run_before_later_steps() {
    let text = "[plan]\nname = \"ap\"\n[resources.front]\nprovider = \"sim.router\"\ntargets = [\"east\", \"west\"]\n\
        [[steps]]\nid = \"ok\"\naction = \"approval\"\nmessage = \"fail over?\"\n\
        [[steps]]\nid = \"go\"\naction = \"traffic.set\"\nrouter = \"front\"\nsplit = { west = 100 }\ndepends_on = [\"ok\"]\n";
    let (world, registry) = world();
    let dir = tempfile::tempdir().unwrap();
    let out = Executor::new(load(&registry, text), opts(dir.path()))
        .run()
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Failed);
    assert!(
        out.report.steps[0]
            .error
            .as_deref()
            .unwrap()
            .contains("--approve ok")
    );
    assert_eq!(out.report.steps[1].status, "not_run");
    assert!(world.invocations("front").is_empty());

    let out = Executor::new(load(&registry, text), opts(dir.path()).approve("ok"))
        .run()
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Succeeded);
    assert_eq!(world.calls("front")["apply"], 1);
}

#[tokio::test]
async fn continue_lets_dependents_run_abort_stops_them() {
    let text = |policy: &str| {
        format!(
            "[plan]\nname = \"c\"\n[[steps]]\nid = \"bad\"\naction = \"exec\"\ncommand = \"exit 3\"\non_failure = \"{policy}\"\n\
             [[steps]]\nid = \"after\"\naction = \"wait\"\nduration = \"0\"\ndepends_on = [\"bad\"]\n"
        )
    };
    let (_w, registry) = world();
    let dir = tempfile::tempdir().unwrap();
    let out = Executor::new(load(&registry, &text("continue")), opts(dir.path()))
        .run()
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Succeeded);
    assert_eq!(out.report.steps[1].status, "succeeded");
    let out = Executor::new(load(&registry, &text("abort")), opts(dir.path()))
        .run()
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Failed);
    assert_eq!(out.report.steps[1].status, "not_run");
}

/// Runs FAILOVER, "dies" after `k` journal entries, resumes, and returns the sim
/// calls that took effect.
async fn crash_and_resume(k: usize) -> (SimWorld, RunStatus) {
    let (world, registry) = world();
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.crash_after_journal_entries = Some(k);
    let first = Executor::new(load(&registry, FAILOVER), o).run().await;
    let run_id = only_run_id(dir.path());
    let status = match first {
        Err(ExecError::Crashed) => {
            let out = Executor::resume(&registry, &run_id, opts(dir.path()))
                .await
                .unwrap_or_else(|e| panic!("resume after {k}: {e}"));
            out.status
        }
        Ok(out) => out.status,
        Err(e) => panic!("unexpected error {e}"),
    };
    (world, status)
}

#[tokio::test]
async fn resume_after_a_crash_at_every_journal_entry_applies_each_change_exactly_once() {
    let (_w, registry) = world();
    let dir = tempfile::tempdir().unwrap();
    let out = Executor::new(load(&registry, FAILOVER), opts(dir.path()))
        .run()
        .await
        .unwrap();
    let total = dr_core::journal::read(&dr_core::executor::run_dir(dir.path(), &out.run_id))
        .unwrap()
        .len();
    assert!(total > 15, "journal has {total} entries");
    for k in 1..=total {
        let (world, status) = crash_and_resume(k).await;
        assert_eq!(status, RunStatus::Succeeded, "crash after entry {k}");
        for (res, call, n) in expected_calls() {
            assert_eq!(
                world.calls(res).get(call).copied().unwrap_or(0),
                n,
                "crash after entry {k}: {res}.{call}"
            );
        }
    }
}

#[tokio::test]
async fn a_run_that_died_is_reported_as_stopped_without_a_safe_point() {
    let (_w, registry) = world();
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    // run_started, then the first step's step_started: it dies in flight.
    o.crash_after_journal_entries = Some(2);
    let first = Executor::new(load(&registry, FAILOVER), o).run().await;
    assert!(matches!(first, Err(ExecError::Crashed)), "{first:?}");
    let run_id = only_run_id(dir.path());
    let report = dr_core::report::Report::load(dir.path(), &run_id).unwrap();
    assert_eq!(report.status, "running");
    let decision = report.decision.clone().unwrap_or_default();
    assert!(decision.contains("without a safe point"), "{decision}");
    assert!(decision.contains("in flight: `"), "{decision}");
    assert!(
        decision.contains(&format!("dr resume {run_id}")),
        "{decision}"
    );
    assert!(
        report.to_markdown().contains("without a safe point"),
        "{}",
        report.to_markdown()
    );
}

#[tokio::test]
async fn resume_finishes_an_interrupted_rollback() {
    let (_w, registry) = world();
    let dir = tempfile::tempdir().unwrap();
    let out = Executor::new(load(&registry, ROLLBACK), opts(dir.path()))
        .run()
        .await
        .unwrap();
    let entries =
        dr_core::journal::read(&dr_core::executor::run_dir(dir.path(), &out.run_id)).unwrap();
    let at = entries
        .iter()
        .position(|e| matches!(e.record, dr_core::journal::Record::RollbackStarted { .. }))
        .unwrap()
        + 1;
    let (world, registry) = world();
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.crash_after_journal_entries = Some(at);
    assert!(matches!(
        Executor::new(load(&registry, ROLLBACK), o).run().await,
        Err(ExecError::Crashed)
    ));
    let run_id = only_run_id(dir.path());
    let out = Executor::resume(&registry, &run_id, opts(dir.path()))
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::RolledBack);
    assert_eq!(
        split_of(&registry, "front", &["east", "west", "maint"]).await,
        TrafficSplit::all_to("east")
    );
    assert_eq!(world.calls("front")["apply"], 6);
}

#[tokio::test]
async fn two_runs_of_one_plan_cannot_overlap_and_a_stale_lock_is_reported() {
    let (_w, registry) = world();
    let dir = tempfile::tempdir().unwrap();
    let held = dr_core::lock::PlanLock::acquire(&dir.path().join("locks"), "failover", "other-run")
        .unwrap();
    let err = Executor::new(load(&registry, FAILOVER), opts(dir.path()))
        .run()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExecError::Locked(m) if m.to_string().contains("being run by run other-run")),
        "{err}"
    );
    drop(held);

    let lock = dir.path().join("locks/failover.lock");
    let host = hostname::get().unwrap().into_string().unwrap();
    std::fs::write(&lock, format!(r#"{{"run_id":"dead-run","pid":4194300,"host":"{host}","started_at":"2026-01-01T00:00:00Z"}}"#)).unwrap();
    let err = Executor::new(load(&registry, FAILOVER), opts(dir.path()))
        .run()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("stale lock") && err.contains("dead-run") && err.contains("remove"),
        "{err}"
    );
    std::fs::remove_file(&lock).unwrap();
    assert_eq!(
        Executor::new(load(&registry, FAILOVER), opts(dir.path()))
            .run()
            .await
            .unwrap()
            .status,
        RunStatus::Succeeded
    );
    assert!(!lock.exists(), "released after the run");
}

#[tokio::test]
async fn preview_reads_state_and_changes_nothing() {
    let (world, registry) = world();
    let dir = tempfile::tempdir().unwrap();
    let preview = Executor::new(load(&registry, FAILOVER), opts(dir.path()))
        .preview()
        .await;
    let changes: BTreeMap<String, String> = preview
        .iter()
        .map(|p| (p.step.clone(), p.change.clone()))
        .collect();
    assert_eq!(changes["maintenance"], "front: east 100 -> maint 100");
    assert_eq!(
        changes["shift"],
        "front: maint 100 -> west 100 in phases 50%/100%, gated on `web_west`"
    );
    assert_eq!(changes["promote"], "db: replica -> primary");
    assert_eq!(changes["stop"], "link: replicating (lag 2s) -> stopped");
    for r in ["front", "db", "link", "cache", "old", "web_west"] {
        assert!(
            world.invocations(r).is_empty(),
            "{r} got a mutating call: {:?}",
            world.invocations(r)
        );
    }
    assert!(!dir.path().join("runs").exists(), "a preview writes no run");
}

#[tokio::test]
async fn the_audit_log_chains_every_change_and_detects_tampering() {
    let (_w, registry) = world();
    let dir = tempfile::tempdir().unwrap();
    Executor::new(
        load(&registry, FAILOVER),
        opts(dir.path()).with_operator("alice"),
    )
    .run()
    .await
    .unwrap();
    let n = dr_core::audit::verify(dir.path(), None).unwrap().entries;
    assert_eq!(n, 8, "one entry per step plus the run");
    let path = dir.path().join("audit.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"operator\":\"alice\"") && text.contains("\"plan_digest\""));
    std::fs::write(
        &path,
        text.replacen("\"result\":\"succeeded\"", "\"result\":\"failed\"", 1),
    )
    .unwrap();
    assert_eq!(
        dr_core::audit::verify(dir.path(), None).unwrap_err().line,
        1
    );
}

#[tokio::test]
async fn a_run_without_the_key_of_a_keyed_audit_log_is_refused_before_it_starts() {
    let (world, registry) = world();
    let dir = tempfile::tempdir().unwrap();
    let key = b"k3y".to_vec();
    Executor::new(
        load(&registry, FAILOVER),
        opts(dir.path()).with_audit_key(Some(key.clone())),
    )
    .run()
    .await
    .unwrap();
    let applied = world.calls("front")["apply"];
    for other in [None, Some(b"another".to_vec())] {
        let err = Executor::new(
            load(&registry, FAILOVER),
            opts(dir.path()).with_audit_key(other),
        )
        .run()
        .await
        .unwrap_err();
        assert!(matches!(err, ExecError::AuditKey(_)), "{err}");
        assert!(err.to_string().contains("DR_AUDIT_KEY"), "{err}");
    }
    // Nothing ran, nothing was written: one run, a log intact with the key.
    assert_eq!(world.calls("front")["apply"], applied);
    assert_eq!(
        std::fs::read_dir(dir.path().join("runs")).unwrap().count(),
        1
    );
    assert!(dr_core::audit::verify(dir.path(), Some(&key)).is_ok());
}

#[tokio::test]
async fn secrets_from_env_never_reach_events_journal_audit_or_report() {
    let text = "[plan]\nname = \"sec\"\n[[steps]]\nid = \"hook\"\naction = \"exec\"\n\
        command = \"echo token=${env:DR_TEST_SECRET} >&2; exit 3\"\n";
    let (_w, registry) = world();
    let dir = tempfile::tempdir().unwrap();
    let (events, sink) = recorder();
    let out = Executor::new(load(&registry, text), opts(dir.path()).on_event(sink))
        .run()
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Failed);
    let err = out.report.steps[0].error.clone().unwrap();
    assert!(err.contains("token=******"), "{err}");
    let secret = "hunter2-very-secret";
    let mut everything = format!("{:?}", events.lock().unwrap());
    for entry in walk(dir.path()) {
        everything.push_str(&std::fs::read_to_string(entry).unwrap_or_default());
    }
    assert!(everything.contains("******"));
    assert!(!everything.contains(secret), "a secret leaked");
    assert!(!serde_json::to_string(&out.report).unwrap().contains(secret));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
