//! Storage account: the failover refusal, the failover calls, the planned type.

use dr_azure::testing::{ArmStandIn, storage_path};
use dr_core::{ErrorKind, ReplicationState};
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

/// After an unplanned failover the account is LRS; `replication.reverse` PATCHes
/// a geo SKU, and the conversion runs (hours on Azure) before the account is
/// geo-redundant: reverse waits for `skuConversionStatus` to reach `Succeeded`.
#[tokio::test]
async fn reverse_waits_for_the_sku_conversion_to_succeed() {
    let arm = ArmStandIn::proseware().await;
    common::storage_store(&arm, "westus")
        .promote()
        .await
        .unwrap();
    arm.set_sku_conversion(3, false);
    arm.take_requests();
    common::storage_replicator(&arm, "westus")
        .reverse()
        .await
        .unwrap();
    let acct = arm.get(&storage_path()).unwrap();
    assert_eq!(acct["sku"]["name"], json!("Standard_RAGRS"));
    assert_eq!(
        acct["properties"]["storageAccountSkuConversionStatus"]["skuConversionStatus"],
        json!("Succeeded")
    );
    let gets = common::lines(&arm.take_requests())
        .iter()
        .filter(|l| l.starts_with("GET"))
        .count();
    assert_eq!(
        gets,
        1 + 4,
        "one read before, 3 InProgress + 1 Succeeded after"
    );
    let status = common::storage_replicator(&arm, "westus")
        .status()
        .await
        .unwrap();
    assert_eq!(status.state, ReplicationState::Replicating);
}

#[tokio::test]
async fn a_failed_sku_conversion_fails_the_reverse() {
    let arm = ArmStandIn::proseware().await;
    common::storage_store(&arm, "westus")
        .promote()
        .await
        .unwrap();
    arm.set_sku_conversion(1, true);
    let e = common::storage_replicator(&arm, "westus")
        .reverse()
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("skuConversionStatus is Failed"),
        "{e}"
    );
    assert!(e.to_string().contains("Standard_LRS"), "{e}");
    assert_eq!(
        common::storage_replicator(&arm, "westus")
            .status()
            .await
            .unwrap()
            .state,
        ReplicationState::Broken
    );
}

#[tokio::test]
async fn the_status_is_unknown_while_a_sku_conversion_is_in_progress() {
    let arm = ArmStandIn::proseware().await;
    let mut acct = arm.get(&storage_path()).unwrap();
    acct["properties"]["storageAccountSkuConversionStatus"] = json!({
        "skuConversionStatus": "InProgress", "targetSkuName": "Standard_RAGZRS",
        "startTime": "2026-12-03T16:00:00Z"});
    arm.put(&storage_path(), acct);
    let status = common::storage_replicator(&arm, "westus")
        .status()
        .await
        .unwrap();
    assert_eq!(status.state, ReplicationState::Unknown);
    assert_eq!(
        status.detail.as_deref(),
        Some(
            "SKU conversion to Standard_RAGZRS in progress since 2026-12-03T16:00:00Z \
             (geo-redundancy is not back yet)"
        )
    );

    // `dr check` says so where it reads the link.
    let text = format!(
        "[plan]\nname = \"videos\"\n\
         [resources.videos]\nprovider = \"azure.storage_account\"\naccount = \"{}\"\n\
         location = \"westus\"\nsubscription = \"{}\"\nresource_group = \"{}\"\n\
         arm_endpoint = \"{}\"\n\
         [[steps]]\nid = \"reprotect\"\naction = \"replication.reverse\"\nreplicator = \"videos\"\n",
        dr_azure::testing::names::STORAGE,
        dr_azure::testing::SUBSCRIPTION,
        dr_azure::testing::RESOURCE_GROUP,
        arm.uri()
    );
    let plan = dr_core::Plan::parse(
        "videos.toml",
        &text,
        &common::registry(),
        &dr_core::LoadOptions::default(),
    )
    .unwrap_or_else(|d| panic!("{d}"));
    let findings = dr_core::check::check(&plan).await;
    let link = findings
        .iter()
        .find(|f| f.check == "reachable" && f.resource.as_deref() == Some("videos"))
        .unwrap_or_else(|| panic!("{findings:#?}"));
    assert!(
        link.message
            .contains("SKU conversion to Standard_RAGZRS in progress"),
        "{link:?}"
    );
}

#[tokio::test]
async fn every_geo_sku_of_the_specification_can_be_the_reverse_sku() {
    for sku in [
        "Standard_GRS",
        "Standard_RAGRS",
        "Standard_GZRS",
        "Standard_RAGZRS",
        "StandardV2_GRS",
        "StandardV2_GZRS",
    ] {
        let arm = ArmStandIn::proseware().await;
        common::storage_store(&arm, "westus")
            .promote()
            .await
            .unwrap();
        let mut extra = common::storage_settings("westus");
        extra["reverse_sku"] = json!(sku);
        let s = common::settings(&arm, "videos", "azure.storage_account", extra);
        let rep = common::registry().build_replicator(&s).unwrap().unwrap();
        rep.reverse().await.unwrap();
        assert_eq!(arm.get(&storage_path()).unwrap()["sku"]["name"], json!(sku));
        assert_eq!(
            rep.status().await.unwrap().state,
            ReplicationState::Replicating,
            "{sku}"
        );
    }
}

#[tokio::test]
async fn a_reverse_sku_that_is_not_geo_redundant_is_refused_in_the_settings() {
    let arm = ArmStandIn::proseware().await;
    let mut extra = common::storage_settings("westus");
    extra["reverse_sku"] = json!("StandardV2_ZRS");
    let s = common::settings(&arm, "videos", "azure.storage_account", extra);
    let e = common::registry()
        .build_replicator(&s)
        .unwrap()
        .err()
        .unwrap();
    assert!(e.to_string().contains("not a geo-redundant SKU"), "{e}");
}
