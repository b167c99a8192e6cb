//! `dr status` reads and changes nothing: not even a sim probe's sequence.

use dr_core::sim::SimWorld;
use dr_core::{HealthStatus, LoadOptions, Plan, Registry};

const PLAN: &str = r#"
[plan]
name = "status"

[resources.front]
provider = "sim.router"
targets = ["east", "west"]
initial = { east = 100 }

[resources.web_west]
provider = "sim.probe"
sequence = ["unhealthy", "degraded", "healthy"]

[[steps]]
id = "wait"
action = "probe.wait"
probe = "web_west"
"#;

fn load() -> (Plan, Registry) {
    let mut registry = Registry::with_builtins();
    SimWorld::new().register(&mut registry);
    let plan = Plan::parse(
        "plan.toml",
        PLAN,
        &registry,
        &LoadOptions::with_env(|_| None),
    )
    .unwrap_or_else(|d| panic!("{d}"));
    (plan, registry)
}

fn probe_status(lines: &[serde_json::Value]) -> String {
    lines
        .iter()
        .find(|v| v["resource"] == "web_west" && v["kind"] == "probe")
        .map(|v| v["status"].as_str().unwrap().to_string())
        .expect("a probe line")
}

#[tokio::test]
async fn status_does_not_consume_a_sequence_probe() {
    let (plan, registry) = load();
    let probe = plan.resource("web_west").unwrap().probe().unwrap().clone();
    // Twice: both show the entry the next probe will return.
    for _ in 0..2 {
        let lines = dr_core::status::collect(&plan, &registry)
            .await
            .iter()
            .map(|s| s.to_json())
            .collect::<Vec<_>>();
        assert_eq!(probe_status(&lines), "unhealthy");
    }
    // The next run's probe still starts at the first entry.
    assert_eq!(probe.probe().await.unwrap().status, HealthStatus::Unhealthy);
    // Status follows what runs consume, and still consumes nothing itself.
    let lines = dr_core::status::collect(&plan, &registry)
        .await
        .iter()
        .map(|s| s.to_json())
        .collect::<Vec<_>>();
    assert_eq!(probe_status(&lines), "degraded");
    assert_eq!(probe.peek().await.unwrap().status, HealthStatus::Degraded);
    assert_eq!(probe.probe().await.unwrap().status, HealthStatus::Degraded);
    assert_eq!(probe.probe().await.unwrap().status, HealthStatus::Healthy);
    assert_eq!(probe.peek().await.unwrap().status, HealthStatus::Healthy);
}
