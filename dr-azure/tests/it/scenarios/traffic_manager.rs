//! Traffic Manager: the exact calls of a phased shift, an enabled endpoint outside
//! the targets, settings errors.

use dr_azure::testing::{ArmStandIn, names, tm_endpoint_path};
use dr_core::{ErrorKind, TrafficSplit};
use serde_json::json;

use crate::common;

#[tokio::test]
async fn a_phased_traffic_manager_shift_patches_only_what_changes_with_the_right_api_version() {
    let arm = ArmStandIn::proseware().await;
    let router = common::tm_router(&arm);
    let profile = dr_azure::testing::rpath(&format!(
        "Microsoft.Network/trafficmanagerprofiles/{}",
        names::TM_PROFILE
    ));
    assert_eq!(
        router.current(None).await.unwrap(),
        TrafficSplit::all_to("eastus")
    );
    arm.take_requests();
    router
        .apply(
            &TrafficSplit::from_pairs([("eastus", 80), ("westus", 20)]),
            None,
        )
        .await
        .unwrap();
    let reqs = arm.take_requests();
    let west = tm_endpoint_path("AzureEndpoints", "westus-app");
    let east = tm_endpoint_path("AzureEndpoints", "eastus-app");
    assert_eq!(
        common::lines(&reqs),
        vec![
            format!("GET {profile}"),
            format!("PATCH {east}"),
            format!("PATCH {west}"),
            format!("GET {profile}"),
        ]
    );
    assert!(
        reqs.iter()
            .all(|r| r.api_version.as_deref() == Some("2022-04-01"))
    );
    assert_eq!(
        reqs[1].body,
        Some(json!({"properties": {"endpointStatus": "Enabled", "weight": 800}}))
    );
    assert_eq!(
        reqs[2].body,
        Some(json!({"properties": {"endpointStatus": "Enabled", "weight": 200}}))
    );
    // Applying it again changes nothing.
    router
        .apply(
            &TrafficSplit::from_pairs([("eastus", 80), ("westus", 20)]),
            None,
        )
        .await
        .unwrap();
    assert!(arm.take_requests().iter().all(|r| r.method == "GET"));
    // A weight of 0 disables the endpoint.
    router
        .apply(&TrafficSplit::all_to("westus"), None)
        .await
        .unwrap();
    assert_eq!(
        arm.get(&east).unwrap()["properties"]["endpointStatus"],
        json!("Disabled")
    );
    assert_eq!(arm.get(&west).unwrap()["properties"]["weight"], json!(1000));
}

#[tokio::test]
async fn an_enabled_endpoint_outside_the_targets_is_a_conflict() {
    let arm = ArmStandIn::proseware().await;
    let stray = tm_endpoint_path("ExternalEndpoints", "stray");
    let mut ep = arm
        .get(&tm_endpoint_path("ExternalEndpoints", "maintenance-page"))
        .unwrap();
    ep["name"] = json!("stray");
    ep["properties"]["endpointStatus"] = json!("Enabled");
    arm.put(&stray, ep);
    let e = common::tm_router(&arm).current(None).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict);
    assert!(e.to_string().contains("stray"), "{e}");
}

#[test]
fn settings_errors_name_the_key() {
    let r = common::registry();
    let s = dr_core::Settings::from_json(
        "front",
        "azure.traffic_manager",
        json!({
            "subscription": "s", "resource_group": "rg", "profile": "p",
            "targets": { "east": "badType/x" },
        }),
    );
    let e = r.build_router(&s).unwrap().unwrap_err();
    assert_eq!(e.key.as_deref(), Some("targets"), "{e}");
    let s = dr_core::Settings::from_json(
        "front",
        "azure.traffic_manager",
        json!({
            "subscription": "s", "resource_group": "rg", "profile": "p", "targets": { "east": "azureEndpoints/x" }, "profle": 1,
        }),
    );
    assert_eq!(
        r.build_router(&s).unwrap().unwrap_err().key.as_deref(),
        Some("profle")
    );
}
