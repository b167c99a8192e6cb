//! "Check lag, fence the old primary, stop replication, promote": the canonical
//! failover sequence against two real `redis-server` processes. After the stop,
//! the new primary reports no replication lag at all, so the promote's RPO gate
//! must use the lag this run measured when it stopped the link.

use dr_redis::testing::{Reply, pair};

use crate::common::{assert_all_succeeded, parse, run};

fn plan(east: &str, west: &str) -> String {
    format!(
        r#"
[plan]
name = "redis-canonical"
rto = "5m"
rpo = "30s"

[resources.cache_west]          # the replica in the standby region
provider = "redis"
url = "{west}"
peer = "{east}"
timeout = "2s"

[resources.cache_east]          # the primary
provider = "redis"
url = "{east}"
peer = "{west}"
timeout = "2s"

[[steps]]
id = "check-lag"
action = "replication.check"
replicator = "cache_west"
max_lag = "30s"

[[steps]]
id = "fence-east"
action = "datastore.fence"
store = "cache_east"
depends_on = ["check-lag"]

[[steps]]
id = "stop-replication"
action = "replication.stop"
replicator = "cache_west"
depends_on = ["fence-east"]

[[steps]]
id = "promote-west"
action = "datastore.promote"
store = "cache_west"
max_lag = "30s"
depends_on = ["stop-replication"]
"#
    )
}

#[tokio::test]
async fn check_fence_stop_promote_passes_the_rpo_gate_on_real_redis() {
    let (east, west) = pair().await;
    for i in 0..100 {
        assert_eq!(
            east.set(&format!("k{i}"), "v").await,
            Reply::Simple("OK".into())
        );
    }
    west.wait_for_key("k99", "v").await;
    let state = tempfile::tempdir().unwrap();
    let (_exec, outcome) = run(parse(&plan(&east.url(), &west.url())), state.path()).await;
    assert_all_succeeded(&outcome);

    // The lag the gate judged was measured at the stop (the link reports none now).
    let promote = &outcome.report.steps[3];
    assert_eq!(promote.id, "promote-west");
    let stop = &outcome.report.steps[2];
    let measured = stop.lag_ms.expect("lag measured at the stop");
    assert!(measured <= 30_000, "{measured}");
    assert_eq!(outcome.report.rpo_ms, Some(measured));
    let journal = std::fs::read_to_string(
        dr_core::executor::run_dir(state.path(), &outcome.run_id).join("journal.jsonl"),
    )
    .unwrap();
    assert!(
        journal.contains("measured when step `stop-replication` stopped `cache_west`"),
        "{journal}"
    );

    // West took every write and accepts new ones; east refuses them.
    assert_eq!(west.get("k99").await.as_deref(), Some("v"));
    assert_eq!(west.set("after", "1").await, Reply::Simple("OK".into()));
    let refused = east.set("after", "1").await;
    assert!(
        refused.error_code().is_some(),
        "east still writable: {refused:?}"
    );
}
