//! The dr-core conformance suites against a real primary and streaming standby.

use std::time::Duration;

use dr_core::testing::{probe_conformance, replicator_conformance, store_conformance};
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

#[tokio::test]
async fn both_servers_pass_the_probe_suite() {
    let (primary, standby) = pair().await;
    for (server, role) in [(&primary, "primary"), (&standby, "replica")] {
        let probe = common::probe(server, json!({ "expect_role": role }));
        probe_conformance(probe.as_ref(), Duration::from_secs(5)).await;
        assert!(probe.probe().await.unwrap().is_healthy(), "{role}");
    }
}
