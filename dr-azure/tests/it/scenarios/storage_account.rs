//! Storage account: the failover refusal, the failover calls, the planned type.

use dr_azure::testing::{ArmStandIn, storage_path};
use dr_core::ErrorKind;
use serde_json::json;

use crate::common;

#[tokio::test]
async fn a_storage_failover_is_refused_before_any_call_when_can_failover_is_false() {
    let arm = ArmStandIn::proseware().await;
    let mut acct = arm.get(&storage_path()).unwrap();
    acct["properties"]["geoReplicationStats"]["canFailover"] = json!(false);
    arm.put(&storage_path(), acct);
    arm.take_requests();
    let e = common::storage_store(&arm, "westus")
        .promote()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict);
    assert!(e.to_string().contains("canFailover is false"), "{e}");
    let reqs = arm.take_requests();
    assert_eq!(
        common::lines(&reqs),
        vec![format!("GET {}", storage_path())]
    );
    assert!(reqs[0].api_version.as_deref() == Some("2025-08-01"));
}

#[tokio::test]
async fn a_storage_failover_posts_failover_polls_location_and_verifies_the_primary() {
    let arm = ArmStandIn::proseware().await;
    arm.take_requests();
    common::storage_store(&arm, "westus")
        .promote()
        .await
        .unwrap();
    let reqs = arm.take_requests();
    let lines = common::lines(&reqs);
    assert_eq!(lines[0], format!("GET {}", storage_path()));
    assert_eq!(lines[1], format!("POST {}/failover", storage_path()));
    assert!(
        lines[2..lines.len() - 1]
            .iter()
            .all(|l| l.contains("/operationResults/")),
        "{lines:#?}"
    );
    assert_eq!(lines.last().unwrap(), &format!("GET {}", storage_path()));
    let acct = arm.get(&storage_path()).unwrap();
    assert_eq!(acct["properties"]["primaryLocation"], json!("westus"));
    assert_eq!(acct["sku"]["name"], json!("Standard_LRS"));
}

#[tokio::test]
async fn the_planned_failover_type_is_sent_as_the_query() {
    let arm = ArmStandIn::proseware().await;
    let mut extra = common::storage_settings("westus");
    extra["failover_type"] = json!("planned");
    let s = common::settings(&arm, "videos", "azure.storage_account", extra);
    let store = common::registry().build_store(&s).unwrap().unwrap();
    store.promote().await.unwrap();
    let acct = arm.get(&storage_path()).unwrap();
    assert_eq!(acct["properties"]["secondaryLocation"], json!("eastus"));
    assert_eq!(
        acct["sku"]["name"],
        json!("Standard_RAGRS"),
        "a planned failover stays geo-redundant"
    );
}

/// An ungraceful run's failover is unplanned even when `failover_type =
/// "planned"`: the account ends locally redundant, as after any unplanned
/// failover (a planned one stays geo-redundant: above).
#[tokio::test]
async fn an_ungraceful_run_fails_over_unplanned_whatever_failover_type_says() {
    use dr_core::{Promotion, RunMode};
    let arm = ArmStandIn::proseware().await;
    let mut extra = common::storage_settings("westus");
    extra["failover_type"] = json!("planned");
    let s = common::settings(&arm, "videos", "azure.storage_account", extra);
    let store = common::registry().build_store(&s).unwrap().unwrap();
    store
        .promote_with(Promotion::new(RunMode::Ungraceful))
        .await
        .unwrap();
    let acct = arm.get(&storage_path()).unwrap();
    assert_eq!(acct["properties"]["primaryLocation"], json!("westus"));
    assert_eq!(
        acct["sku"]["name"],
        json!("Standard_LRS"),
        "an unplanned failover leaves the account locally redundant"
    );
}
