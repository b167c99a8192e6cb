//! Azure throttles (429 with `Retry-After`) and fails (5xx) on every service:
//! each one's calls turn a 429 into a retryable `throttled` error carrying the
//! server's `Retry-After` (or wait it out inside a long-running operation's
//! polling), a 5xx into a retryable `transient` one, leave nothing half-done, and
//! succeed when called again (the executor's retry).

use std::time::Duration;

use dr_azure::testing::{
    ArmStandIn, connection_strings_path, db_connection_string, names, pg_path,
};
use dr_core::{ErrorKind, HealthStatus, ProviderError, TrafficSplit};
use serde_json::json;

use crate::common;

fn throttled(arm: &ArmStandIn, method: &str, suffix: &str, secs: &str) {
    arm.queue(
        method,
        suffix,
        429,
        json!({"error": {"code": "TooManyRequests", "message": "Rate limit exceeded, retry later"}}),
        &[("Retry-After", secs)],
    );
}

fn failing(arm: &ArmStandIn, method: &str, suffix: &str, status: u16) {
    arm.queue(
        method,
        suffix,
        status,
        json!({"error": {"code": "InternalServerError", "message": "An internal error occurred"}}),
        &[],
    );
}

fn assert_throttled(e: &ProviderError, secs: u64) {
    assert_eq!(
        e.kind(),
        &ErrorKind::Throttled {
            retry_after: Some(Duration::from_secs(secs))
        },
        "{e}"
    );
    assert!(e.is_retryable(), "{e}");
}

fn assert_transient(e: &ProviderError) {
    assert_eq!(e.kind(), &ErrorKind::Transient, "{e}");
    assert!(e.is_retryable(), "{e}");
}

#[tokio::test]
async fn traffic_manager_a_5xx_on_an_endpoint_patch_is_transient_and_the_retry_completes() {
    let arm = ArmStandIn::proseware().await;
    let router = common::tm_router(&arm);
    failing(&arm, "PATCH", "/westus-app", 503);
    let e = router
        .apply(&TrafficSplit::all_to("westus"), None)
        .await
        .unwrap_err();
    assert_transient(&e);
    router
        .apply(&TrafficSplit::all_to("westus"), None)
        .await
        .unwrap();
    assert_eq!(
        router.current(None).await.unwrap(),
        TrafficSplit::all_to("westus")
    );
    // The throttled read: scenarios::arm::throttling_is_retryable_with_the_servers_retry_after.
    throttled(
        &arm,
        "GET",
        &format!("trafficmanagerprofiles/{}", names::TM_PROFILE),
        "4",
    );
    assert_throttled(&router.current(None).await.unwrap_err(), 4);
}

#[tokio::test]
async fn front_door_a_throttled_operation_poll_is_waited_out_and_a_5xx_list_is_transient() {
    let arm = ArmStandIn::proseware().await;
    let router = common::fd_router(&arm);
    failing(&arm, "GET", "/origins", 500);
    assert_transient(&router.current(None).await.unwrap_err());
    throttled(&arm, "GET", "/azureAsyncOperation/1", "0");
    router
        .apply(&TrafficSplit::all_to("westus"), None)
        .await
        .unwrap();
    let polls = common::lines(&arm.take_requests())
        .iter()
        .filter(|l| l.ends_with("/azureAsyncOperation/1"))
        .count();
    assert_eq!(polls, 3, "429, InProgress, Succeeded");
    throttled(&arm, "PATCH", "/origin-eastus", "9");
    assert_throttled(
        &router
            .apply(&TrafficSplit::all_to("eastus"), None)
            .await
            .unwrap_err(),
        9,
    );
    router
        .apply(&TrafficSplit::all_to("eastus"), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn storage_a_throttled_failover_poll_is_waited_out_and_a_5xx_read_is_transient() {
    let arm = ArmStandIn::proseware().await;
    let west = common::storage_store(&arm, "westus");
    failing(&arm, "GET", "/prosewarevideos", 503);
    assert_transient(&west.role().await.unwrap_err());
    throttled(&arm, "GET", "/operationResults/1", "0");
    west.promote().await.unwrap();
    assert_eq!(
        arm.get(&dr_azure::testing::storage_path()).unwrap()["properties"]["primaryLocation"],
        json!("westus")
    );
    throttled(&arm, "PATCH", "/prosewarevideos", "11");
    let rep = common::storage_replicator(&arm, "westus");
    assert_throttled(&rep.reverse().await.unwrap_err(), 11);
    rep.reverse().await.unwrap();
}

#[tokio::test]
async fn postgres_a_throttled_fence_stops_nothing_and_a_5xx_create_is_transient() {
    let arm = ArmStandIn::proseware().await;
    let east = common::pg_store(&arm, names::DB_EAST);
    throttled(
        &arm,
        "PUT",
        "/configurations/default_transaction_read_only",
        "6",
    );
    assert_throttled(&east.fence().await.unwrap_err(), 6);
    assert_eq!(
        arm.get(&pg_path(names::DB_EAST)).unwrap()["properties"]["state"],
        json!("Ready"),
        "the stop waits for the read-only parameter"
    );
    east.fence().await.unwrap();
    assert!(!east.writable().await.unwrap());

    common::pg_store(&arm, names::DB_WEST)
        .promote()
        .await
        .unwrap();
    let rep = common::pg_replicator(
        &arm,
        names::DB_WEST,
        Some(("proseware-db-eastus-2", "eastus")),
    );
    failing(&arm, "PUT", "/proseware-db-eastus-2", 500);
    assert_transient(&rep.reverse().await.unwrap_err());
    assert!(arm.get(&pg_path("proseware-db-eastus-2")).is_none());
    rep.reverse().await.unwrap();
    assert!(arm.get(&pg_path("proseware-db-eastus-2")).is_some());
}

#[tokio::test]
async fn web_app_a_throttled_list_and_a_5xx_put_are_retryable_and_the_retry_completes() {
    let arm = ArmStandIn::proseware().await;
    let secret = db_connection_string(names::DB_WEST);
    let action = common::conn_action(&arm, &secret);
    throttled(&arm, "POST", "/connectionstrings/list", "5");
    assert_throttled(&action.run().await.unwrap_err(), 5);
    failing(&arm, "PUT", "/connectionstrings", 502);
    let e = action.run().await.unwrap_err();
    assert_transient(&e);
    assert!(!e.to_string().contains("pw-proseware"), "{e}");
    let path = connection_strings_path(names::WEB_APP);
    assert_eq!(
        arm.get(&path).unwrap()["properties"][names::CONNECTION_STRING]["value"],
        json!(db_connection_string(names::DB_EAST)),
        "nothing changed yet"
    );
    action.run().await.unwrap();
    assert!(action.verify().await.unwrap());
}

#[tokio::test]
async fn metrics_a_throttled_or_failing_read_is_an_error_never_a_health_or_a_lag() {
    let arm = ArmStandIn::proseware().await;
    let probe = common::fd_probe(&arm, "eastus");
    throttled(&arm, "GET", "/providers/Microsoft.Insights/metrics", "3");
    assert_throttled(&probe.probe().await.unwrap_err(), 3);
    failing(&arm, "GET", "/providers/Microsoft.Insights/metrics", 503);
    assert_transient(&probe.probe().await.unwrap_err());
    assert_eq!(probe.probe().await.unwrap().status, HealthStatus::Healthy);

    let rep = common::pg_replicator(&arm, names::DB_WEST, None);
    throttled(&arm, "GET", "/providers/Microsoft.Insights/metrics", "2");
    assert_throttled(&rep.status().await.unwrap_err(), 2);
    failing(&arm, "GET", "/providers/Microsoft.Insights/metrics", 500);
    assert_transient(&rep.status().await.unwrap_err());
    let status = rep.status().await.unwrap();
    assert_eq!(status.lag, Some(Duration::from_secs(3)));
}
