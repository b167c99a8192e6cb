//! The dr-core conformance suites against the ARM stand-in and Azurite.

use std::time::Duration;

use dr_azure::testing::{ArmStandIn, Azurite, names, pg_path, rpath};
use dr_core::{ReplicationState, Role};
use serde_json::json;

use crate::common;

#[tokio::test]
async fn traffic_manager_weighted_router_passes_router_conformance() {
    let arm = ArmStandIn::proseware().await;
    dr_core::testing::router_conformance(common::tm_router(&arm).as_ref()).await;
}

#[tokio::test]
async fn traffic_manager_priority_router_passes_router_conformance() {
    let arm = ArmStandIn::proseware().await;
    let profile = rpath(&format!(
        "Microsoft.Network/trafficmanagerprofiles/{}",
        names::TM_PROFILE
    ));
    let mut p = arm.get(&profile).unwrap();
    p["properties"]["trafficRoutingMethod"] = json!("Priority");
    arm.put(&profile, p);
    let mut extra = common::tm_settings(&arm);
    extra["routing_method"] = json!("priority");
    let s = common::settings(&arm, "front", "azure.traffic_manager", extra);
    let router = common::registry().build_router(&s).unwrap().unwrap();
    assert!(!router.capabilities().weighted);
    dr_core::testing::router_conformance(router.as_ref()).await;
}

#[tokio::test]
async fn traffic_manager_probe_passes_probe_conformance() {
    let arm = ArmStandIn::proseware().await;
    dr_core::testing::probe_conformance(
        common::tm_probe(&arm, "eastus").as_ref(),
        Duration::from_secs(30),
    )
    .await;
}

#[tokio::test]
async fn front_door_router_passes_router_conformance() {
    let arm = ArmStandIn::proseware().await;
    dr_core::testing::router_conformance(common::fd_router(&arm).as_ref()).await;
}

#[tokio::test]
async fn front_door_probe_passes_probe_conformance() {
    let arm = ArmStandIn::proseware().await;
    dr_core::testing::probe_conformance(
        common::fd_probe(&arm, "eastus").as_ref(),
        Duration::from_secs(30),
    )
    .await;
}

#[tokio::test]
async fn storage_account_store_passes_store_conformance() {
    let arm = ArmStandIn::proseware().await;
    let west = common::storage_store(&arm, "westus");
    assert_eq!(
        west.role().await.unwrap(),
        Role::Replica {
            of: Some("eastus".into())
        }
    );
    dr_core::testing::store_conformance(west.as_ref()).await;
    // The old primary's resource now sees itself gone from the account.
    assert!(common::storage_store(&arm, "eastus").role().await.is_err());
}

#[tokio::test]
async fn storage_account_replicator_passes_replicator_and_reverse_conformance() {
    let arm = ArmStandIn::proseware().await;
    let rep = common::storage_replicator(&arm, "westus");
    let status = rep.status().await.unwrap();
    assert_eq!(status.state, ReplicationState::Replicating);
    let lag = status.lag.expect("Live has a lag");
    assert!(
        lag >= Duration::from_secs(29) && lag < Duration::from_secs(120),
        "{lag:?}"
    );
    dr_core::testing::replicator_conformance(rep.as_ref()).await;
    common::storage_store(&arm, "westus")
        .promote()
        .await
        .unwrap();
    assert_eq!(
        rep.status().await.unwrap().state,
        ReplicationState::Broken,
        "LRS after an unplanned failover"
    );
    dr_core::testing::replicator_reverse_conformance(rep.as_ref()).await;
    assert_eq!(
        rep.status().await.unwrap().state,
        ReplicationState::Replicating
    );
}

#[tokio::test]
async fn postgres_store_passes_store_conformance() {
    let arm = ArmStandIn::proseware().await;
    dr_core::testing::store_conformance(common::pg_store(&arm, names::DB_WEST).as_ref()).await;
}

#[tokio::test]
async fn postgres_replicator_passes_replicator_and_reverse_conformance() {
    let arm = ArmStandIn::proseware().await;
    let rep = common::pg_replicator(
        &arm,
        names::DB_WEST,
        Some(("proseware-db-eastus-2", "eastus")),
    );
    let status = rep.status().await.unwrap();
    assert_eq!(
        (status.state, status.lag),
        (ReplicationState::Replicating, Some(Duration::from_secs(3)))
    );
    dr_core::testing::replicator_conformance(rep.as_ref()).await;
    common::pg_store(&arm, names::DB_WEST)
        .promote()
        .await
        .unwrap();
    dr_core::testing::replicator_reverse_conformance(rep.as_ref()).await;
    let created = arm
        .get(&pg_path("proseware-db-eastus-2"))
        .expect("the reverse replica exists");
    assert_eq!(
        created["properties"]["sourceServerResourceId"],
        json!(pg_path(names::DB_WEST))
    );
}

#[tokio::test]
async fn blob_canary_passes_replicator_conformance_against_azurite() {
    let azurite = Azurite::start();
    // The harness's own client, not the provider's, creates the container.
    let url = azurite.blob_url(false);
    let (base, sas) = url.split_once('?').unwrap();
    let container = azure_storage_blob::BlobContainerClient::new(
        format!("{base}/canary?{sas}").parse().unwrap(),
        None,
        None,
    )
    .unwrap();
    container
        .create(None)
        .await
        .expect("create the container in Azurite");
    let s = dr_core::Settings::from_json(
        "videos_canary",
        "azure.blob_canary",
        json!({
            "primary_url": azurite.blob_url(false),
            "secondary_url": azurite.blob_url(true),
            "container": "canary",
            "blob": "dr-canary",
        }),
    );
    let rep = common::registry().build_replicator(&s).unwrap().unwrap();
    let status = rep.status().await.unwrap();
    assert_eq!(status.state, ReplicationState::Replicating);
    assert!(status.lag.unwrap() < Duration::from_secs(5), "{status:?}");
    assert!(status.last_sync.is_some());
    dr_core::testing::replicator_conformance(rep.as_ref()).await;
    // The canary is really in Azurite, read with the harness's client.
    let body = container
        .blob_client("dr-canary")
        .download(None)
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(std::str::from_utf8(&body).unwrap()).is_ok());
    assert!(
        !format!("{rep:?}").contains("sig="),
        "the SAS must not be in Debug: {rep:?}"
    );
}
