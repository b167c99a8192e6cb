//! The bounds validation enforces are also safe to run: a plan with every
//! duration at `MAX_DURATION`, `retries` and `max_parallel` at their maximum runs
//! to the end (deadlines of now + 365 days overflow nothing), while the values
//! just past the bounds never get to run at all.

use std::time::Duration;

use dr_core::executor::{Executor, RunOptions, RunStatus};
use dr_core::retry::RetryPolicy;
use dr_core::sim::SimWorld;
use dr_core::{LoadOptions, Plan, Registry, TrafficSplit};

fn plan(text: &str, registry: &Registry) -> Result<Plan, dr_core::Diagnostics> {
    Plan::parse(
        "plan.toml",
        text,
        registry,
        &LoadOptions::with_env(|_| None),
    )
}

const AT_THE_BOUNDS: &str = r#"
[plan]
name = "bounds"
rto = "365d"
rpo = "8760h"
max_parallel = 1024

[resources.front]
provider = "sim.router"
targets = ["east", "west"]
initial = { east = 100 }

[resources.web]
provider = "sim.probe"
healthy = true

[resources.db]
provider = "sim.store"
role = "replica"
lag = "1s"

[[steps]]
id = "check"
action = "replication.check"
replicator = "db"
max_lag = "365d"
timeout = "365d"
retries = 100

[[steps]]
id = "promote"
action = "datastore.promote"
store = "db"
max_lag = "365d"
depends_on = ["check"]

[[steps]]
id = "ready"
action = "probe.wait"
probe = "web"
times = 3
every = "1ms"
timeout = "365d"

[[steps]]
id = "shift"
action = "traffic.shift"
router = "front"
to = "west"
phases = [1, 20, 100]
gate = { probe = "web", times = 2, every = "1ms", timeout = "365d" }
timeout = "365d"
retries = 100
on_failure = "rollback"
depends_on = ["promote", "ready"]

[[steps]]
id = "settle"
action = "wait"
duration = "1ms"
timeout = "365d"
depends_on = ["shift"]
"#;

#[tokio::test]
async fn a_plan_at_every_bound_runs_to_the_end() {
    let world = SimWorld::new();
    let mut registry = Registry::with_builtins();
    world.register(&mut registry);
    let plan = plan(AT_THE_BOUNDS, &registry).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(plan.rto, Some(dr_core::MAX_DURATION));
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions::new(dir.path()).with_retry(RetryPolicy {
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        ..Default::default()
    });
    let outcome = Executor::new(plan, opts).run().await.unwrap();
    assert_eq!(outcome.status, RunStatus::Succeeded);
    let front = registry
        .build_router(&dr_core::Settings::from_json(
            "front",
            "sim.router",
            serde_json::json!({ "targets": ["east", "west"] }),
        ))
        .unwrap()
        .unwrap();
    assert_eq!(
        front.current(None).await.unwrap(),
        TrafficSplit::all_to("west")
    );
}

#[test]
fn one_past_each_bound_never_runs() {
    let registry = Registry::with_builtins();
    for (from, to) in [
        ("rto = \"365d\"", "rto = \"365d1ms\""),
        ("max_parallel = 1024", "max_parallel = 1025"),
        ("max_lag = \"365d\"\ntimeout", "max_lag = \"366d\"\ntimeout"),
        ("times = 3", "times = 10001"),
        ("every = \"1ms\"\ntimeout", "every = \"0.9ms\"\ntimeout"),
        ("timeout = \"365d\" }", "timeout = \"200000000000000d\" }"),
        ("retries = 100\non_failure", "retries = 101\non_failure"),
        ("duration = \"1ms\"", "duration = \"365d1ms\""),
    ] {
        assert_eq!(AT_THE_BOUNDS.matches(from).count(), 1, "{from}");
        let text = AT_THE_BOUNDS.replace(from, to);
        let d = plan(&text, &registry).expect_err(to);
        assert_eq!(d.len(), 1, "{to}: {d}");
    }
}
