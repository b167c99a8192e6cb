//! An unplanned Redis failover East → West, run as a plan by the dr-core executor
//! against two real `redis-server` processes, with a sim router in front.

use dr_core::TrafficSplit;
use dr_redis::testing::{Reply, pair};

use crate::common::{assert_all_succeeded, parse, run};

fn plan(east: &str, west: &str) -> String {
    format!(
        r#"
[plan]
name = "redis-east-to-west"
rto = "5m"
rpo = "30s"

[plan.safety]
never_route_to_unhealthy = true
min_healthy_targets = 1

[resources.front]
provider = "sim.router"
targets = ["east", "west"]
initial = {{ east = 100 }}
health = {{ west = "west_is_primary" }}

[resources.cache_west]          # the replica in the standby region
provider = "redis"
url = "{west}"
peer = "{east}"
promote = "force"               # unplanned: REPLICAOF NO ONE, so the fence has work to do
timeout = "2s"

[resources.cache_east]          # the primary, fenced after the promotion
provider = "redis"
url = "{east}"
peer = "{west}"
timeout = "2s"

[resources.west_is_primary]
provider = "redis"
url = "{west}"
expect_role = "primary"
timeout = "2s"

[[steps]]
id = "rpo"
action = "replication.check"
replicator = "cache_west"
max_lag = "30s"

[[steps]]
id = "promote-west"
action = "datastore.promote"
store = "cache_west"
max_lag = "30s"
depends_on = ["rpo"]

[[steps]]
id = "fence-east"
action = "datastore.fence"
store = "cache_east"
depends_on = ["promote-west"]

[[steps]]
id = "flush-west"
action = "datastore.flush"
store = "cache_west"
depends_on = ["fence-east"]

[[steps]]
id = "shift"
action = "traffic.shift"
router = "front"
to = "west"
phases = [50, 100]
gate = {{ probe = "west_is_primary", times = 2, every = "100ms", timeout = "30s" }}
on_failure = "rollback"
depends_on = ["flush-west"]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_failover_plan_promotes_west_fences_east_and_moves_traffic() {
    let (east, west) = pair().await;
    assert_eq!(
        east.set("session:1", "alice").await,
        Reply::Simple("OK".into())
    );
    west.wait_for_key("session:1", "alice").await;
    west.wait_in_sync_with(&east).await;
    assert_eq!(
        west.set("x", "1").await.error_code(),
        Some("READONLY"),
        "before the run west is a read-only replica"
    );

    let state = tempfile::tempdir().unwrap();
    let (executor, outcome) = run(parse(&plan(&east.url(), &west.url())), state.path()).await;
    assert_all_succeeded(&outcome);

    // West is a writable primary; the flush dropped the cache it inherited.
    assert_eq!(west.info_field("role").await.as_deref(), Some("master"));
    assert_eq!(west.get("session:1").await, None, "flush-west emptied west");
    assert_eq!(
        west.set("after", "failover").await,
        Reply::Simple("OK".into())
    );

    // East refuses writes: fenced by following west, so it also receives west's writes.
    assert_eq!(east.info_field("role").await.as_deref(), Some("slave"));
    assert_eq!(
        east.info_field("master_port").await,
        Some(west.port().to_string())
    );
    let refused = east.set("split", "brain").await;
    assert_eq!(refused.error_code(), Some("READONLY"), "{refused:?}");
    east.wait_for_key("after", "failover").await;

    // The sim router sends everything to west.
    let front = executor.plan().resource("front").unwrap().router().unwrap();
    let split = front.current(None).await.unwrap();
    assert!(split.same_as(&TrafficSplit::all_to("west")), "{split}");

    // The report: every step ran, in order, and the RPO was measured at promotion.
    let report = &outcome.report;
    let ids: Vec<&str> = report.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        ["rpo", "promote-west", "fence-east", "flush-west", "shift"]
    );
    let rpo = report.rpo_ms.expect("rpo_ms is set by the gated promote");
    assert!(rpo <= 30_000, "rpo {rpo} ms");
    assert_eq!(report.rpo_met, Some(true));
    assert_eq!(report.rpo_target_ms, Some(30_000));
    assert!(report.rto_ms.is_some(), "the traffic step sets rto_ms");
    let promote = &report.steps[1];
    assert_eq!(promote.action, "datastore.promote");
    assert_eq!(promote.lag_ms, Some(rpo));

    // The audit log is an intact hash chain with entries for this run.
    let entries = dr_core::audit::verify(state.path(), None)
        .expect("audit chain intact")
        .entries;
    assert!(entries >= report.steps.len(), "{entries} audit entries");
}
