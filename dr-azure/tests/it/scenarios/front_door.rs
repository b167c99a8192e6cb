//! Front Door: origin PATCHes followed through `Azure-AsyncOperation`, the origins
//! list followed through `nextLink`, origin health by host name.

use dr_azure::testing::{ArmStandIn, fd_origin_path, fd_profile_path, names};
use dr_core::{HealthStatus, TrafficSplit};
use serde_json::json;

use crate::common;

#[tokio::test]
async fn front_door_origin_patches_are_followed_through_azure_asyncoperation() {
    let arm = ArmStandIn::proseware().await;
    let router = common::fd_router(&arm);
    arm.take_requests();
    router
        .apply(&TrafficSplit::all_to("westus"), None)
        .await
        .unwrap();
    let lines = common::lines(&arm.take_requests());
    let east = fd_origin_path("origin-eastus");
    let west = fd_origin_path("origin-westus");
    let patches: Vec<&String> = lines.iter().filter(|l| l.starts_with("PATCH")).collect();
    assert_eq!(
        patches,
        vec![&format!("PATCH {east}"), &format!("PATCH {west}")]
    );
    let polls = lines
        .iter()
        .filter(|l| l.contains("/azureAsyncOperation/"))
        .count();
    assert_eq!(
        polls, 4,
        "each PATCH polled InProgress then Succeeded: {lines:#?}"
    );
    assert_eq!(
        arm.get(&west).unwrap()["properties"]["enabledState"],
        json!("Enabled")
    );
    assert_eq!(
        router.current(None).await.unwrap(),
        TrafficSplit::all_to("westus")
    );
}

/// A third origin (disabled, no target) sorts first: the origins list's first
/// page (2 items) has `origin-centralus` and `origin-eastus`, `origin-westus` is
/// on the page `nextLink` names.
fn add_centralus_origin(arm: &ArmStandIn) {
    let path = fd_origin_path("origin-centralus");
    arm.put(&path, json!({
        "id": path, "name": "origin-centralus", "type": "Microsoft.Cdn/profiles/originGroups/origins",
        "properties": { "hostName": "origin-centralus.azurewebsites.net", "httpPort": 80, "httpsPort": 443,
            "enabledState": "Disabled", "weight": 1000, "priority": 1,
            "provisioningState": "Succeeded", "deploymentStatus": "NotStarted" }
    }));
    arm.set_origin_health("origin-centralus", 100.0);
}

#[tokio::test]
async fn the_origins_list_is_followed_through_next_link() {
    let arm = ArmStandIn::proseware().await;
    add_centralus_origin(&arm);
    let router = common::fd_router(&arm);
    arm.take_requests();
    assert_eq!(
        router.current(None).await.unwrap(),
        TrafficSplit::all_to("eastus")
    );
    let lists: Vec<_> = arm
        .take_requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/origins"))
        .collect();
    assert_eq!(lists.len(), 2, "two pages: {lists:#?}");
    assert_eq!(
        lists[1].query.get("$skiptoken").map(String::as_str),
        Some("2")
    );
    router
        .apply(&TrafficSplit::all_to("westus"), None)
        .await
        .unwrap();
    assert_eq!(
        router.current(None).await.unwrap(),
        TrafficSplit::all_to("westus")
    );
    // The probe finds the host name of an origin on the second page too.
    arm.set_origin_health("origin-westus", 0.0);
    let health = common::fd_probe(&arm, "westus").probe().await.unwrap();
    assert_eq!(health.status, HealthStatus::Unhealthy, "{health:?}");
}

#[tokio::test]
async fn origin_health_is_read_by_host_name_within_the_origin_group() {
    let arm = ArmStandIn::proseware().await;
    arm.set_origin_health("origin-eastus", 0.0);
    arm.set_origin_health("origin-westus", 100.0);
    // Another origin group's origin of the same host name is not this one.
    arm.set_metric_series(
        &fd_profile_path(),
        "OriginHealthPercentage",
        &[
            ("OriginGroup", "other-og"),
            ("Origin", "origin-eastus.azurewebsites.net"),
        ],
        100.0,
    );
    arm.take_requests();
    let east = common::fd_probe(&arm, "eastus").probe().await.unwrap();
    assert_eq!(east.status, HealthStatus::Unhealthy, "{east:?}");
    let west = common::fd_probe(&arm, "westus").probe().await.unwrap();
    assert_eq!(west.status, HealthStatus::Healthy, "{west:?}");
    let metrics = arm
        .take_requests()
        .into_iter()
        .find(|r| r.path.ends_with("/providers/Microsoft.Insights/metrics"))
        .unwrap();
    assert_eq!(
        metrics.query.get("$filter").map(String::as_str),
        Some(
            format!(
                "OriginGroup eq '{}' and Origin eq '*'",
                names::FD_ORIGIN_GROUP
            )
            .as_str()
        )
    );
    assert_eq!(
        metrics.query.get("metricnames").map(String::as_str),
        Some("OriginHealthPercentage")
    );
}

#[tokio::test]
async fn an_origin_dimension_naming_no_origin_of_the_group_is_an_error_naming_the_values_seen() {
    let arm = ArmStandIn::proseware().await;
    // A series named by the origin's resource name, not its host name.
    arm.set_metric_series(
        &fd_profile_path(),
        "OriginHealthPercentage",
        &[
            ("OriginGroup", names::FD_ORIGIN_GROUP),
            ("Origin", "origin-eastus"),
        ],
        100.0,
    );
    let err = common::fd_probe(&arm, "eastus").probe().await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("Origin origin-eastus is no origin of the group"),
        "{text}"
    );
    assert!(text.contains("origin-eastus.azurewebsites.net"), "{text}");
    assert!(!err.kind().is_retryable(), "{text}");
}
