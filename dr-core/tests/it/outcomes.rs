//! Typed outcomes: a failed provider call keeps its kind and request id all the
//! way to the journal, the events and the report; `continue` failures are not
//! hidden in a plain `succeeded`; durations agree with the timeline.

use std::sync::{Arc, Mutex};

use dr_core::executor::{Event, Executor, RunOptions, RunStatus};
use dr_core::journal::{self, Record};
use dr_core::outcome::StepStatus;
use dr_core::sim::SimWorld;
use dr_core::{
    ErrorKind, LoadOptions, Plan, ProviderError, Registry, RouterCapabilities, TrafficRouter,
    TrafficSplit, async_trait,
};

#[derive(Debug)]
struct Refusing;

#[async_trait]
impl TrafficRouter for Refusing {
    fn targets(&self) -> Vec<String> {
        vec!["east".into(), "west".into()]
    }
    fn capabilities(&self) -> RouterCapabilities {
        RouterCapabilities::weighted()
    }
    async fn current(&self, _: Option<&str>) -> Result<TrafficSplit, ProviderError> {
        Ok(TrafficSplit::all_to("east"))
    }
    async fn apply(&self, _: &TrafficSplit, _: Option<&str>) -> Result<(), ProviderError> {
        // No provider, resource or operation: the core names them.
        Err(ProviderError::new(ErrorKind::Auth, "token rejected").with_request_id("req-42"))
    }
}

fn recorder() -> (
    Arc<Mutex<Vec<Event>>>,
    impl Fn(&Event) + Send + Sync + 'static,
) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    (events, move |ev: &Event| e.lock().unwrap().push(ev.clone()))
}

#[tokio::test]
async fn a_provider_error_keeps_its_kind_and_request_id_in_journal_events_and_report() {
    let mut registry = Registry::with_builtins();
    registry.router("refusing", |_| {
        Ok(Arc::new(Refusing) as Arc<dyn TrafficRouter>)
    });
    let text = "[plan]\nname = \"typed\"\n[resources.front]\nprovider = \"refusing\"\n\
        [[steps]]\nid = \"go\"\naction = \"traffic.set\"\nrouter = \"front\"\nsplit = { west = 100 }\n";
    let plan = Plan::parse("p.toml", text, &registry, &LoadOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (events, sink) = recorder();
    let out = Executor::new(plan, RunOptions::new(dir.path()).on_event(sink))
        .run()
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Failed);

    let step = &out.report.steps[0];
    assert_eq!(step.status, StepStatus::Failed);
    assert!(
        step.error
            .as_deref()
            .unwrap()
            .starts_with("refusing resource `front`: apply failed: token rejected"),
        "{:?}",
        step.error
    );
    assert_eq!(step.error_kind.as_deref(), Some("auth"));
    assert_eq!(step.request_id.as_deref(), Some("req-42"));
    let json = serde_json::to_value(&out.report).unwrap();
    assert_eq!(json["steps"][0]["error_kind"], "auth");
    assert_eq!(json["steps"][0]["request_id"], "req-42");

    let entries = journal::read(&dr_core::executor::run_dir(dir.path(), &out.run_id)).unwrap();
    assert!(entries.iter().any(|e| matches!(
        &e.record,
        Record::StepFinished { error_kind: Some(k), request_id: Some(id), .. }
            if k == "auth" && id == "req-42"
    )));

    let events = events.lock().unwrap();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::StepFinished { error_kind: Some(k), request_id: Some(id), .. }
            if k == "auth" && id == "req-42"
    )));
    let Some(Event::RunFinished {
        error_kind,
        request_id,
        ..
    }) = events.last()
    else {
        panic!("no run_finished")
    };
    assert_eq!(error_kind.as_deref(), Some("auth"));
    assert_eq!(request_id.as_deref(), Some("req-42"));
}

const CONTINUE: &str = r#"
[plan]
name = "partial"

[resources.db]
provider = "sim.store"
role = "replica"
lag = "1s"

[resources.gate]
provider = "sim.probe"
healthy = false

[[steps]]
id = "check"
action = "probe.wait"
probe = "gate"
every = "1ms"
timeout = "20ms"
on_failure = "continue"

[[steps]]
id = "promote"
action = "datastore.promote"
store = "db"
depends_on = ["check"]
"#;

#[tokio::test]
async fn continue_failures_are_named_in_a_succeeded_run() {
    let world = SimWorld::new();
    let mut registry = Registry::with_builtins();
    world.register(&mut registry);
    let plan = Plan::parse("p.toml", CONTINUE, &registry, &LoadOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (events, sink) = recorder();
    let out = Executor::new(plan, RunOptions::new(dir.path()).on_event(sink))
        .run()
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Succeeded);
    assert_eq!(out.report.failed_steps, vec!["check".to_string()]);
    assert!(
        out.report
            .to_markdown()
            .contains("Succeeded with 1 failed step(s)"),
        "{}",
        out.report.to_markdown()
    );
    let events = events.lock().unwrap();
    let Some(Event::RunFinished { failed_steps, .. }) = events.last() else {
        panic!("no run_finished")
    };
    assert_eq!(failed_steps, &vec!["check".to_string()]);
    // No traffic step: the RTO is the whole run, and says so.
    assert_eq!(out.report.rto_basis.as_deref(), Some("run"));
    assert!(
        out.report
            .to_markdown()
            .contains("whole run: no traffic step")
    );
}

#[tokio::test]
async fn step_durations_agree_with_the_timeline_and_read_only_steps_have_a_start() {
    let world = SimWorld::new();
    let mut registry = Registry::with_builtins();
    world.register(&mut registry);
    // Latency makes the capture before the change take a while.
    let text = r#"
[plan]
name = "timing"

[resources.db]
provider = "sim.store"
role = "replica"
lag = "1s"
latency = "40ms"

[[steps]]
id = "check"
action = "replication.check"
replicator = "db"
max_lag = "1m"

[[steps]]
id = "promote"
action = "datastore.promote"
store = "db"
max_lag = "1m"
depends_on = ["check"]
"#;
    let plan = Plan::parse("p.toml", text, &registry, &LoadOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Executor::new(plan, RunOptions::new(dir.path()))
        .run()
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Succeeded);
    for step in &out.report.steps {
        let line = |what: &str| {
            out.report
                .timeline
                .iter()
                .find(|t| t.what.starts_with(&format!("step `{}` {what}", step.id)))
                .unwrap_or_else(|| {
                    panic!(
                        "no `{what}` line for {}: {:#?}",
                        step.id, out.report.timeline
                    )
                })
                .offset_ms
        };
        let between = (line("succeeded") - line("started")) as u64;
        let duration = step.duration_ms.unwrap();
        assert!(
            between.abs_diff(duration) <= 1,
            "{}: {duration} ms in the table, {between} ms between its timeline lines",
            step.id
        );
    }
}
