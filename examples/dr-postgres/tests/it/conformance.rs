//! The dr-core conformance suites against a real primary and streaming standby.

use std::time::Duration;

use dr_core::testing::{
    probe_conformance, replicator_conformance, replicator_reverse_conformance, store_conformance,
};
use dr_postgres::testing::pair;
use serde_json::json;

use crate::common;

#[tokio::test]
async fn the_standby_passes_the_store_suite() {
    let (_primary, standby) = pair().await;
    store_conformance(common::store(&standby, json!({})).as_ref()).await;
}

#[tokio::test]
async fn the_link_passes_the_replicator_suite() {
    let (primary, standby) = pair().await;
    replicator_conformance(common::replicator(&standby, &primary).as_ref()).await;
}

/// After a failover, with `reverse_command` a real `pg_rewind` of the old
/// primary onto the new one.
#[tokio::test]
async fn the_link_passes_the_reverse_suite_after_a_failover() {
    let (old, new) = pair().await;
    let link = common::replicator_with(
        &new,
        &old,
        json!({ "reverse_command": old.rejoin_command() }),
    );
    link.stop().await.unwrap();
    common::store(&new, json!({})).promote().await.unwrap();
    replicator_reverse_conformance(link.as_ref()).await;
    assert_eq!(old.rejoin_runs(), 1, "the second reverse ran nothing");
}

#[tokio::test]
async fn both_servers_pass_the_probe_suite() {
    let (primary, standby) = pair().await;
    for (server, role) in [(&primary, "primary"), (&standby, "replica")] {
        let probe = common::probe(server, json!({ "expect_role": role }));
        probe_conformance(probe.as_ref(), Duration::from_secs(5)).await;
        assert!(probe.probe().await.unwrap().is_healthy(), "{role}");
    }
}
