//! Front Door: origin PATCHes followed through `Azure-AsyncOperation`.

use dr_azure::testing::{ArmStandIn, fd_origin_path};
use dr_core::TrafficSplit;
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
