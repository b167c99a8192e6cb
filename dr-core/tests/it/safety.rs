//! What an engineer on call does to a run at 3 a.m.: one-way doors, interrupts,
//! the RPO gate after a stop, damaged journals, commands and actions that may
//! have taken effect. Each test failed before its fix.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dr_core::executor::{Event, ExecError, Executor, RunStatus};
use dr_core::journal::{self, Record};
use dr_core::sim::SimWorld;
use dr_core::{
    Action, ErrorKind, LoadOptions, Plan, ProviderError, Registry, ReplicationState,
    ReplicationStatus, Replicator, ReplicatorCapabilities, TrafficSplit, async_trait,
};
use tokio_util::sync::CancellationToken;

use crate::common::{only_run_id, opts, recorder, split_of, world};

fn load(registry: &Registry, text: &str) -> Plan {
    Plan::parse("plan.toml", text, registry, &LoadOptions::default())
        .unwrap_or_else(|d| panic!("{d}"))
}

async fn split(registry: &Registry, targets: &[&str]) -> TrafficSplit {
    split_of(registry, "front", targets).await
}

fn run_dir(dir: &std::path::Path, run_id: &str) -> std::path::PathBuf {
    dr_core::executor::run_dir(dir, run_id)
}

/// Maintenance, promote west, then a gated shift that rolls back on failure.
const PROMOTE_THEN_SHIFT: &str = r#"
[plan]
name = "doors"

[resources.front]
provider = "sim.router"
targets = ["east", "west", "maint"]
initial = { east = 100 }

[resources.web_west]
provider = "sim.probe"
follows = "front:west"

[resources.db]
provider = "sim.store"
role = "replica"
lag = "1s"

[[steps]]
id = "maintenance"
action = "traffic.set"
router = "front"
split = { maint = 100 }

[[steps]]
id = "promote"
action = "datastore.promote"
store = "db"
depends_on = ["maintenance"]

[[steps]]
id = "shift"
action = "traffic.shift"
router = "front"
to = "west"
phases = [50, 100]
gate = { probe = "web_west", times = 1, every = "1ms", timeout = "1s" }
on_failure = "rollback"
depends_on = ["promote"]
"#;

#[tokio::test]
async fn a_rollback_stops_at_a_completed_one_way_step_and_the_run_halts() {
    let (world, registry) = world();
    world.set_target_down("west", true);
    let dir = tempfile::tempdir().unwrap();
    let (events, sink) = recorder();
    let out = Executor::new(
        load(&registry, PROMOTE_THEN_SHIFT),
        opts(dir.path()).on_event(sink),
    )
    .run()
    .await
    .unwrap();
    assert_eq!(out.status, RunStatus::Halted);
    // Traffic stays on the maintenance page: back to east would write to a
    // database that is no longer the primary.
    assert_eq!(
        split(&registry, &["east", "west", "maint"]).await,
        TrafficSplit::all_to("maint")
    );
    assert_eq!(world.calls("db")["promote"], 1);
    let events = events.lock().unwrap().clone();
    let Some(Event::RunFinished {
        status,
        halted_by,
        decision,
        ..
    }) = events.last()
    else {
        panic!("no run_finished: {events:?}")
    };
    assert_eq!(status, "halted");
    assert_eq!(halted_by.as_deref(), Some("promote"));
    let decision = decision.as_deref().unwrap();
    assert!(decision.contains("dr resume"), "{decision}");
    assert!(decision.contains("`promote`"), "{decision}");
    // `maintenance` completed before the door: never compensated.
    assert!(!events.iter().any(
        |e| matches!(e, Event::RolledBack { step, .. } if step == "maintenance" || step == "promote")
    ));
    assert_eq!(out.report.status, "halted");
    assert_eq!(out.report.halted_by.as_deref(), Some("promote"));
    assert!(
        out.report
            .to_markdown()
            .contains("Halted at one-way step `promote`")
    );

    // Fixed, a resume retries the failed shift and goes forward.
    world.set_target_down("west", false);
    let resumed = Executor::resume(&registry, &out.run_id, opts(dir.path()))
        .await
        .unwrap();
    assert_eq!(resumed.status, RunStatus::Succeeded);
    assert_eq!(
        split(&registry, &["east", "west", "maint"]).await,
        TrafficSplit::all_to("west")
    );
    assert_eq!(world.calls("db")["promote"], 1, "promote ran once");
    // A succeeded run is finished for good.
    let again = Executor::resume(&registry, &out.run_id, opts(dir.path())).await;
    assert!(matches!(again, Err(ExecError::Resume(m)) if m.contains("already finished")));
}

#[tokio::test]
async fn without_a_one_way_step_the_rollback_is_complete() {
    let (world, registry) = world();
    world.set_target_down("west", true);
    let dir = tempfile::tempdir().unwrap();
    // `one_way = false` on the promote: the operator says going back is safe.
    let text = PROMOTE_THEN_SHIFT.replace(
        "store = \"db\"\ndepends_on",
        "store = \"db\"\none_way = false\ndepends_on",
    );
    let out = Executor::new(load(&registry, &text), opts(dir.path()))
        .run()
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::RolledBack);
    assert_eq!(
        split(&registry, &["east", "west", "maint"]).await,
        TrafficSplit::all_to("east")
    );
    // The HTML report of a rolled-back run: one lane per step, the verdict.
    let html = out.report.to_html();
    assert_eq!(html.matches("class=\"lane\"").count(), 3);
    assert!(html.contains("rolled_back"), "{html}");
    let resumed = Executor::resume(&registry, &out.run_id, opts(dir.path())).await;
    assert!(matches!(resumed, Err(ExecError::Resume(m)) if m.contains("already finished")));
}

#[test]
fn validate_warns_about_a_rollback_after_a_one_way_step() {
    let (_w, registry) = world();
    let plan = load(&registry, PROMOTE_THEN_SHIFT);
    assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
    let w = &plan.warnings[0];
    let line = PROMOTE_THEN_SHIFT
        .lines()
        .position(|l| l.starts_with("on_failure = \"rollback\""))
        .unwrap()
        + 1;
    assert_eq!((w.line, w.column), (line, 14), "{w:?}");
    assert_eq!(w.key, "steps[2].on_failure");
    assert!(
        w.message.contains("one-way step `promote`"),
        "{}",
        w.message
    );
    // No warning when nothing one-way comes before the shift.
    let text = PROMOTE_THEN_SHIFT.replace(
        "store = \"db\"\ndepends_on",
        "store = \"db\"\none_way = false\ndepends_on",
    );
    assert!(load(&registry, &text).warnings.is_empty());
}

/// A shift whose gate takes a while, so an interrupt lands while it holds.
const SLOW_SHIFT: &str = r#"
[plan]
name = "slow"

[resources.front]
provider = "sim.router"
targets = ["east", "west"]
initial = { east = 100 }

[resources.web_west]
provider = "sim.probe"
healthy = true

[[steps]]
id = "shift"
action = "traffic.shift"
router = "front"
to = "west"
phases = [25, 50, 100]
gate = { probe = "web_west", times = 3, every = "100ms", timeout = "1m" }
on_failure = "rollback"
"#;

#[tokio::test]
async fn an_interrupt_stops_at_a_safe_point_rolls_nothing_back_and_resume_continues() {
    let (world, registry) = world();
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    let (events, sink) = recorder();
    let sink = move |e: &Event| {
        if let Event::PhaseApplied { phase: 50, .. } = e {
            c.cancel(); // Ctrl-C while the 50% gate holds
        }
        sink(e)
    };
    let out = Executor::new(
        load(&registry, SLOW_SHIFT),
        opts(dir.path()).with_cancel(cancel).on_event(sink),
    )
    .run()
    .await
    .unwrap();
    assert_eq!(out.status, RunStatus::Interrupted);
    // Traffic stays where the last completed phase put it.
    assert_eq!(
        split(&registry, &["east", "west"]).await,
        TrafficSplit::from_pairs([("east", 50), ("west", 50)])
    );
    {
        let events = events.lock().unwrap();
        assert!(!events.iter().any(|e| matches!(e, Event::RolledBack { .. })));
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::StepInterrupted { step, .. } if step == "shift"))
        );
    }
    assert_eq!(out.report.steps[0].status, "interrupted");
    let html = out.report.to_html();
    assert_eq!(html.matches("class=\"lane\"").count(), 1);
    assert!(html.contains("interrupted"), "{html}");
    let entries = journal::read(&run_dir(dir.path(), &out.run_id)).unwrap();
    assert!(entries.iter().any(
        |e| matches!(&e.record, Record::RunFinished { status, .. } if status == "interrupted")
    ));

    let resumed = Executor::resume(&registry, &out.run_id, opts(dir.path()))
        .await
        .unwrap();
    assert_eq!(resumed.status, RunStatus::Succeeded);
    assert_eq!(
        split(&registry, &["east", "west"]).await,
        TrafficSplit::all_to("west")
    );
    // 25, 50 before the interrupt, 100 after: each phase applied once.
    assert_eq!(world.calls("front")["apply"], 3);
}

#[tokio::test]
async fn a_hard_stop_abandons_a_running_command_and_resume_asks_before_rerunning_it() {
    let (_w, registry) = world();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("exec.log");
    let once = dir.path().join("slept");
    // Slow the first time only, so the resumed run is quick.
    let text = format!(
        r#"
[plan]
name = "hard"

[[steps]]
id = "cmd"
action = "exec"
command = "echo a >> '{log}'; if [ ! -f '{once}' ]; then touch '{once}'; sleep 5; fi; echo b >> '{log}'"
"#,
        log = log.display(),
        once = once.display()
    );
    let abort = CancellationToken::new();
    let a = abort.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        a.cancel();
    });
    let started = std::time::Instant::now();
    let out = Executor::new(load(&registry, &text), opts(dir.path()).with_abort(abort))
        .run()
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Interrupted);
    // Not a safe point: the command was killed mid-way, and the run says so.
    let decision = out.report.decision.clone().unwrap_or_default();
    assert!(
        decision.contains("not at a safe point")
            && !decision.contains("interrupted at a safe point"),
        "{decision}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the command was not killed"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "a\n");

    // In flight and neither idempotent nor verifiable: resume refuses...
    let refused = Executor::resume(&registry, &out.run_id, opts(dir.path())).await;
    let Err(ExecError::Resume(msg)) = refused else {
        panic!("resume should refuse: {refused:?}")
    };
    assert!(msg.contains("--rerun cmd"), "{msg}");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "a\n");
    // ...until the operator consents.
    let resumed = Executor::resume(&registry, &out.run_id, opts(dir.path()).rerun("cmd"))
        .await
        .unwrap();
    assert_eq!(resumed.status, RunStatus::Succeeded);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "a\na\nb\n");
}

#[tokio::test]
async fn an_idempotent_command_in_flight_at_a_crash_is_run_again_without_asking() {
    let (_w, registry) = world();
    for (idempotent, resumes) in [(true, true), (false, false)] {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("marker");
        let text = format!(
            "[plan]\nname = \"idem\"\n[[steps]]\nid = \"touch\"\naction = \"exec\"\n\
             command = \"touch '{}'\"\nidempotent = {idempotent}\n",
            marker.display()
        );
        let mut o = opts(dir.path());
        // 1 run_started, 2 step_started, 3 child_spawned: "die" there.
        o.crash_after_journal_entries = Some(2);
        assert!(matches!(
            Executor::new(load(&registry, &text), o).run().await,
            Err(ExecError::Crashed)
        ));
        let run_id = only_run_id(dir.path());
        let r = Executor::resume(&registry, &run_id, opts(dir.path())).await;
        assert_eq!(r.is_ok(), resumes, "idempotent = {idempotent}: {r:?}");
        if resumes {
            assert_eq!(r.unwrap().status, RunStatus::Succeeded);
            assert!(marker.exists());
        }
    }
}

/// A link whose lag is known while it replicates and unknown once stopped
/// (like Redis after `REPLICAOF NO ONE`).
#[derive(Debug)]
struct Link {
    lag: Duration,
    stopped: Mutex<bool>,
}

#[async_trait]
impl Replicator for Link {
    fn capabilities(&self) -> ReplicatorCapabilities {
        ReplicatorCapabilities::full()
    }
    async fn status(&self) -> Result<ReplicationStatus, ProviderError> {
        Ok(if *self.stopped.lock().unwrap() {
            ReplicationStatus::new(ReplicationState::Paused, None)
        } else {
            ReplicationStatus::new(ReplicationState::Replicating, Some(self.lag))
        })
    }
    async fn stop(&self) -> Result<(), ProviderError> {
        *self.stopped.lock().unwrap() = true;
        Ok(())
    }
    async fn reverse(&self) -> Result<(), ProviderError> {
        Ok(())
    }
}

const CANONICAL: &str = r#"
[plan]
name = "canonical"

[resources.old]
provider = "sim.store"
role = "primary"

[resources.db]
provider = "sim.store"
role = "replica"

[resources.link]
provider = "link"

[[steps]]
id = "check"
action = "replication.check"
replicator = "link"
max_lag = "1m"

[[steps]]
id = "fence"
action = "datastore.fence"
store = "old"
depends_on = ["check"]

[[steps]]
id = "stop"
action = "replication.stop"
replicator = "link"
depends_on = ["fence"]

[[steps]]
id = "promote"
action = "datastore.promote"
store = "db"
replicator = "link"
max_lag = "15m"
depends_on = ["stop"]
"#;

fn with_link(lag: Duration) -> (SimWorld, Registry) {
    let (world, mut registry) = world();
    let link = Arc::new(Link {
        lag,
        stopped: Mutex::new(false),
    });
    registry.replicator("link", move |_| Ok(link.clone() as Arc<dyn Replicator>));
    (world, registry)
}

#[tokio::test]
async fn check_fence_stop_promote_passes_the_rpo_gate_with_the_lag_measured_at_the_stop() {
    let (world, registry) = with_link(Duration::from_secs(2));
    let dir = tempfile::tempdir().unwrap();
    let out = Executor::new(load(&registry, CANONICAL), opts(dir.path()))
        .run()
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Succeeded, "{:?}", out.report.steps);
    assert_eq!(world.calls("db")["promote"], 1);
    assert_eq!(out.report.rpo_ms, Some(2000));

    // A lag over max_lag at the stop is refused, as a live lag would be.
    let (world, registry) = with_link(Duration::from_secs(20 * 60));
    let text = CANONICAL.replace("max_lag = \"1m\"", "max_lag = \"1h\"");
    let dir = tempfile::tempdir().unwrap();
    let out = Executor::new(load(&registry, &text), opts(dir.path()))
        .run()
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Failed);
    let err = out.report.steps[3].error.clone().unwrap();
    assert!(err.contains("RPO gate") && err.contains("20m"), "{err}");
    assert_eq!(world.calls("db").get("promote"), None);
}

#[tokio::test]
async fn the_stop_lag_survives_a_crash_between_stop_and_promote() {
    let (_w, registry) = with_link(Duration::from_secs(2));
    let dir = tempfile::tempdir().unwrap();
    let full = Executor::new(load(&registry, CANONICAL), opts(dir.path()))
        .run()
        .await
        .unwrap();
    let entries = journal::read(&run_dir(dir.path(), &full.run_id)).unwrap();
    let after_stop = entries
        .iter()
        .position(|e| matches!(&e.record, Record::StepFinished { step, .. } if step == "stop"))
        .unwrap()
        + 1;
    let (world, registry) = with_link(Duration::from_secs(2));
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.crash_after_journal_entries = Some(after_stop);
    assert!(matches!(
        Executor::new(load(&registry, CANONICAL), o).run().await,
        Err(ExecError::Crashed)
    ));
    // The new process's link object is stopped too (the stop took effect).
    let (_w2, mut registry2) = (SimWorld::new(), Registry::with_builtins());
    world.register(&mut registry2);
    let link = Arc::new(Link {
        lag: Duration::from_secs(2),
        stopped: Mutex::new(true),
    });
    registry2.replicator("link", move |_| Ok(link.clone() as Arc<dyn Replicator>));
    let out = Executor::resume(&registry2, &only_run_id(dir.path()), opts(dir.path()))
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Succeeded, "{:?}", out.report.steps);
    assert_eq!(world.calls("db")["promote"], 1);
}

const TWO_STEPS: &str = r#"
[plan]
name = "two"

[resources.front]
provider = "sim.router"
targets = ["east", "west"]
initial = { east = 100 }

[[steps]]
id = "a"
action = "traffic.set"
router = "front"
split = { east = 50, west = 50 }

[[steps]]
id = "b"
action = "traffic.set"
router = "front"
split = { west = 100 }
depends_on = ["a"]
"#;

#[tokio::test]
async fn a_torn_last_journal_line_is_cut_before_the_resume_appends() {
    let (world, registry) = world();
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.crash_after_journal_entries = Some(3); // run_started, a started, a finished
    assert!(matches!(
        Executor::new(load(&registry, TWO_STEPS), o).run().await,
        Err(ExecError::Crashed)
    ));
    let run_id = only_run_id(dir.path());
    let path = journal::Journal::path_in(&run_dir(dir.path(), &run_id));
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(r#"{"seq":4,"ts":"2026-11-22T00:00:00Z","type":"step_sta"#);
    std::fs::write(&path, &text).unwrap();

    let out = Executor::resume(&registry, &run_id, opts(dir.path()))
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Succeeded);
    // Every line is a whole entry, numbered without a gap, so a second resume
    // sees that the run finished instead of re-running steps.
    let entries = journal::read_for_resume(&run_dir(dir.path(), &run_id)).unwrap();
    assert!(matches!(
        entries.last().unwrap().record,
        Record::RunFinished { .. }
    ));
    let again = Executor::resume(&registry, &run_id, opts(dir.path())).await;
    assert!(matches!(again, Err(ExecError::Resume(m)) if m.contains("already finished")));
    assert_eq!(world.calls("front")["apply"], 2);
}

#[tokio::test]
async fn a_damaged_record_inside_the_journal_makes_resume_refuse_with_its_line() {
    let (world, registry) = world();
    let dir = tempfile::tempdir().unwrap();
    let out = Executor::new(load(&registry, TWO_STEPS), opts(dir.path()))
        .run()
        .await
        .unwrap();
    let path = journal::Journal::path_in(&run_dir(dir.path(), &out.run_id));
    let mut lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines.insert(2, "GARBAGE".into());
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let r = Executor::resume(&registry, &out.run_id, opts(dir.path())).await;
    let Err(ExecError::Resume(msg)) = r else {
        panic!("resume should refuse: {r:?}")
    };
    assert!(msg.contains("journal.jsonl:3:"), "{msg}");
    assert!(msg.contains("damaged"), "{msg}");
    assert_eq!(world.calls("front")["apply"], 2, "nothing ran again");

    // A removed line breaks the numbering: also refused.
    lines.remove(2);
    lines.remove(2);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let r = Executor::resume(&registry, &out.run_id, opts(dir.path())).await;
    assert!(matches!(r, Err(ExecError::Resume(m)) if m.contains("expected 3")));
}

/// An action whose first `run()` fails with a retryable error after (maybe)
/// taking effect.
#[derive(Debug)]
struct Flaky {
    runs: AtomicU32,
    idempotent: bool,
    verifies: bool,
    applied: Mutex<bool>,
}

#[async_trait]
impl Action for Flaky {
    fn describe(&self) -> String {
        "flaky".into()
    }
    fn idempotent(&self) -> bool {
        self.idempotent
    }
    fn verifies(&self) -> bool {
        self.verifies
    }
    async fn verify(&self) -> Result<bool, ProviderError> {
        Ok(self.verifies && *self.applied.lock().unwrap())
    }
    async fn run(&self) -> Result<serde_json::Value, ProviderError> {
        *self.applied.lock().unwrap() = true;
        if self.runs.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(ProviderError::new(ErrorKind::Timeout, "answer lost"));
        }
        Ok(serde_json::json!({}))
    }
}

async fn run_flaky(idempotent: bool, verifies: bool) -> (RunStatus, u32) {
    let flaky = Arc::new(Flaky {
        runs: AtomicU32::new(0),
        idempotent,
        verifies,
        applied: Mutex::new(false),
    });
    let mut registry = Registry::with_builtins();
    let f = flaky.clone();
    registry.action("test.flaky", move |_| Ok(f.clone() as Arc<dyn Action>));
    let dir = tempfile::tempdir().unwrap();
    let text = "[plan]\nname = \"a\"\n[[steps]]\nid = \"act\"\naction = \"test.flaky\"\n";
    let out = Executor::new(load(&registry, text), opts(dir.path()))
        .run()
        .await
        .unwrap();
    (out.status, flaky.runs.load(Ordering::SeqCst))
}

#[tokio::test]
async fn an_action_is_retried_after_a_timeout_only_when_that_is_safe() {
    // Neither idempotent nor verifiable: not retried, the step fails.
    assert_eq!(run_flaky(false, false).await, (RunStatus::Failed, 1));
    // Idempotent: retried.
    assert_eq!(run_flaky(true, false).await, (RunStatus::Succeeded, 2));
    // Verifiable: verify() says it took effect, so run() is not repeated.
    assert_eq!(run_flaky(false, true).await, (RunStatus::Succeeded, 1));
}

#[test]
fn the_graph_gives_every_step_its_own_node_whatever_its_id() {
    let (_w, registry) = world();
    let text = "[plan]\nname = \"g\"\n\
        [[steps]]\nid = \"a-b\"\naction = \"wait\"\nduration = \"1ms\"\n\
        [[steps]]\nid = \"a_b\"\naction = \"wait\"\nduration = \"1ms\"\ndepends_on = [\"a-b\"]\n\
        [[steps]]\nid = \"x<br/>y\"\naction = \"wait\"\nduration = \"1ms\"\ndepends_on = [\"a_b\"]\n";
    let m = load(&registry, text).mermaid();
    assert!(m.contains("    s0[\"a-b<br/>wait\"]"), "{m}");
    assert!(m.contains("    s1[\"a_b<br/>wait\"]"), "{m}");
    assert!(m.contains("    s2[\"x#lt;br/#gt;y<br/>wait\"]"), "{m}");
    assert!(m.contains("    s0 --> s1\n    s1 --> s2\n"), "{m}");
}

#[tokio::test]
async fn resume_refuses_when_an_env_value_changed_since_the_run_started() {
    let (world, registry) = world();
    let text = r#"
[plan]
name = "env"

[resources.front]
provider = "sim.router"
targets = ["east", "west", "central"]
initial = { east = 100 }

[[steps]]
id = "shift"
action = "traffic.shift"
router = "front"
to = "${env:DR_T_TARGET}"
phases = [50, 100]
"#;
    let env = |value: &'static str| {
        LoadOptions::with_env(move |n| (n == "DR_T_TARGET").then(|| value.to_string()))
    };
    let plan = Plan::parse("plan.toml", text, &registry, &env("west")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.crash_after_journal_entries = Some(3); // run_started, step_started, phase 50
    assert!(matches!(
        Executor::new(plan, o).run().await,
        Err(ExecError::Crashed)
    ));
    let run_id = only_run_id(dir.path());
    // The journal keeps a salted digest per variable, never the value.
    let entries = journal::read(&run_dir(dir.path(), &run_id)).unwrap();
    let Record::RunStarted { env: digests, .. } = &entries[0].record else {
        panic!("no run_started")
    };
    let digest = &digests["DR_T_TARGET"];
    assert_eq!(digest.len(), 16, "{digest}");
    assert!(digest.chars().all(|c| c.is_ascii_hexdigit()), "{digest}");
    let applied_before = world.calls("front")["apply"];

    let changed =
        Executor::resume_with(&registry, &run_id, opts(dir.path()), &env("central")).await;
    let Err(ExecError::Resume(msg)) = changed else {
        panic!("resume should refuse: {changed:?}")
    };
    assert!(msg.contains("${env:DR_T_TARGET}"), "{msg}");
    assert_eq!(world.calls("front")["apply"], applied_before, "nothing ran");

    let out = Executor::resume_with(&registry, &run_id, opts(dir.path()), &env("west"))
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Succeeded);
    assert_eq!(
        split(&registry, &["east", "west", "central"]).await,
        TrafficSplit::all_to("west")
    );
}

/// Another process holds the audit log's file lock while a run appends: the
/// run waits, but not on a runtime worker thread, so other tasks keep running.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_held_audit_lock_does_not_stall_the_runtime() {
    use std::sync::atomic::AtomicBool;
    use std::sync::mpsc;
    let (_w, registry) = world();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path()).unwrap();
    let released = Arc::new(AtomicBool::new(false));
    let (locked_tx, locked_rx) = mpsc::channel();
    let (probe_tx, probe_rx) = mpsc::channel::<()>();
    let lock_path = dir.path().join("audit.lock");
    let rel = released.clone();
    let holder = std::thread::spawn(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock_path)
            .unwrap();
        let mut lock = fd_lock::RwLock::new(file);
        let guard = lock.write().unwrap();
        locked_tx.send(()).unwrap();
        // Hold it until the probe task ran (or give up after 5 s).
        let _ = probe_rx.recv_timeout(Duration::from_secs(5));
        rel.store(true, Ordering::SeqCst);
        drop(guard);
    });
    locked_rx.recv().unwrap();
    let text =
        "[plan]\nname = \"held\"\n[[steps]]\nid = \"w\"\naction = \"wait\"\nduration = \"1ms\"\n";
    let plan = load(&registry, text);
    let state = dir.path().to_path_buf();
    let run = tokio::spawn(async move { Executor::new(plan, opts(&state)).run().await });
    // Wait (bounded) until the run is at its first audit append: the step's end
    // is journaled right before it.
    let journal_glob = dir.path().join("runs");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let finished = std::fs::read_dir(&journal_glob)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .and_then(|e| std::fs::read_to_string(e.path().join("journal.jsonl")).ok())
            .is_some_and(|t| t.contains("step_finished"));
        if finished {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run never finished its step"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    // With the only worker blocked on the lock, this task would run only after
    // the lock is released.
    let rel = released.clone();
    let ran_while_held = tokio::spawn(async move {
        let held = !rel.load(Ordering::SeqCst);
        let _ = probe_tx.send(());
        held
    })
    .await
    .unwrap();
    assert!(
        ran_while_held,
        "a task could not run while the audit lock was held"
    );
    holder.join().unwrap();
    assert_eq!(run.await.unwrap().unwrap().status, RunStatus::Succeeded);
}

#[tokio::test]
async fn a_plan_loaded_with_placeholders_for_unset_variables_never_runs() {
    let (world, registry) = world();
    let text = "[plan]\nname = \"ph\"\n[resources.front]\nprovider = \"sim.router\"\n\
        targets = [\"east\", \"west\"]\ninitial = { east = 100 }\n\
        [[steps]]\nid = \"go\"\naction = \"traffic.shift\"\nrouter = \"front\"\nto = \"west\"\n\
        [[steps]]\nid = \"hook\"\naction = \"notify\"\nurl = \"${env:DR_T_UNSET_WEBHOOK}\"\nmessage = \"x\"\n";
    let plan = Plan::parse(
        "plan.toml",
        text,
        &registry,
        &LoadOptions::with_env(|_| None).allow_unset_env(),
    )
    .unwrap();
    assert_eq!(plan.warnings.len(), 1);
    let dir = tempfile::tempdir().unwrap();
    let r = Executor::new(plan, opts(dir.path())).run().await;
    let Err(ExecError::UnsetEnv(vars)) = r else {
        panic!("a placeholder plan ran: {r:?}")
    };
    assert_eq!(vars, vec!["DR_T_UNSET_WEBHOOK".to_string()]);
    assert!(world.calls("front").is_empty(), "nothing ran");
    assert!(!dir.path().join("runs").exists());
}
