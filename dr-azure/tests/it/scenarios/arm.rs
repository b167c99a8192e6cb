//! What every ARM service shares, seen through one of them: long-running
//! operations both ways and failed, a pending operation's `Retry-After`, a poll URL
//! on another host, `operation_timeout`, ARM errors, throttling, a rejected token,
//! and building the objects without a plan.

use std::time::{Duration, Instant};

use dr_azure::testing::{ArmStandIn, LroStyle, names, pg_path, storage_path};
use dr_core::{ErrorKind, Role, TrafficSplit};
use serde_json::json;

use crate::common;

#[tokio::test]
async fn a_location_only_operation_is_polled_until_it_answers_200_or_204() {
    let arm = ArmStandIn::proseware().await;
    arm.set_lro_style(LroStyle::Location);
    common::pg_store(&arm, names::DB_WEST)
        .promote()
        .await
        .unwrap();
    let lines = common::lines(&arm.take_requests());
    let polls: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("/operationResults/"))
        .collect();
    assert_eq!(polls.len(), 2, "202 then 204: {lines:#?}");
    assert!(!lines.iter().any(|l| l.contains("azureAsyncOperation")));
    assert_eq!(
        arm.get(&pg_path(names::DB_WEST)).unwrap()["properties"]["replicationRole"],
        json!("None")
    );
}

#[tokio::test]
async fn a_failed_operation_is_an_error_with_arm_code_and_message() {
    let arm = ArmStandIn::proseware().await;
    arm.fail_next_operation("PromoteReplicaFailed", "the replica is not in sync");
    let e = common::pg_store(&arm, names::DB_WEST)
        .promote()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Fatal);
    assert!(!e.is_retryable());
    let text = e.to_string();
    assert!(
        text.contains("PromoteReplicaFailed") && text.contains("the replica is not in sync"),
        "{text}"
    );
    assert_eq!(e.provider(), Some("azure.postgres_flexible"));
    assert_eq!(e.resource(), Some("db"));
    assert!(
        e.request_id().is_some_and(|id| id.starts_with("standin-")),
        "{e:?}"
    );
    // Nothing changed.
    assert!(matches!(
        common::pg_store(&arm, names::DB_WEST).role().await.unwrap(),
        Role::Replica { .. }
    ));
}

#[tokio::test]
async fn throttling_is_retryable_with_the_servers_retry_after() {
    let arm = ArmStandIn::proseware().await;
    arm.queue(
        "GET",
        &format!("trafficmanagerprofiles/{}", names::TM_PROFILE),
        429,
        json!({"error": {"code": "TooManyRequests", "message": "slow down"}}),
        &[("Retry-After", "17")],
    );
    let e = common::tm_router(&arm).current(None).await.unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::Throttled {
            retry_after: Some(Duration::from_secs(17))
        }
    );
    assert!(e.is_retryable());
    assert!(e.to_string().contains("TooManyRequests"), "{e}");
}

#[tokio::test]
async fn a_retry_after_on_a_pending_operation_is_honoured() {
    let arm = ArmStandIn::proseware().await;
    arm.set_lro_style(LroStyle::AsyncOperation);
    // The operation's first status asks to come back in 1 s.
    arm.queue(
        "GET",
        "/azureAsyncOperation/1",
        200,
        json!({"status": "InProgress"}),
        &[("Retry-After", "1")],
    );
    let started = Instant::now();
    common::pg_store(&arm, names::DB_EAST)
        .fence()
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(
        arm.get(&pg_path(names::DB_EAST)).unwrap()["properties"]["state"],
        json!("Stopped")
    );
}

#[tokio::test]
async fn an_arm_error_envelope_keeps_code_message_and_request_id() {
    let arm = ArmStandIn::proseware().await;
    arm.queue(
        "PATCH",
        "/eastus-app",
        400,
        json!({"error": {"code": "BadRequest", "message": "Endpoint weight is out of range."}}),
        &[],
    );
    let e = common::tm_router(&arm)
        .apply(
            &TrafficSplit::from_pairs([("eastus", 50), ("westus", 50)]),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidRequest);
    let text = e.to_string();
    assert!(
        text.contains("BadRequest") && text.contains("Endpoint weight is out of range."),
        "{text}"
    );
    assert!(e.request_id().is_some(), "{e:?}");
    assert!(!text.contains("http://"), "no URL in messages: {text}");
}

#[tokio::test]
async fn a_rejected_token_is_an_auth_error_that_never_shows_the_token() {
    let arm = ArmStandIn::proseware().await;
    let s = common::settings(
        &arm,
        "front",
        "azure.traffic_manager",
        common::tm_settings(&arm),
    );
    let router = common::registry_with_token("wrong-token-s3cret")
        .build_router(&s)
        .unwrap()
        .unwrap();
    let e = router.current(None).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Auth);
    assert!(e.to_string().contains("InvalidAuthenticationToken"), "{e}");
    assert!(!e.to_string().contains("s3cret") && !format!("{router:?}").contains("s3cret"));
}

#[tokio::test]
async fn a_poll_url_on_another_host_is_refused() {
    let arm = ArmStandIn::proseware().await;
    arm.queue(
        "POST",
        "/stop",
        202,
        serde_json::Value::Null,
        &[(
            "Azure-AsyncOperation",
            "https://attacker.example/op/1?api-version=2025-01-01",
        )],
    );
    let e = common::pg_store(&arm, names::DB_EAST)
        .fence()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Fatal);
    assert!(e.to_string().contains("not on the ARM endpoint"), "{e}");
    assert!(!arm.requests().iter().any(|r| r.path.contains("/op/1")));
}

#[tokio::test]
async fn an_operation_that_outlives_operation_timeout_times_out() {
    let arm = ArmStandIn::proseware().await;
    for _ in 0..50 {
        arm.queue(
            "GET",
            "/azureAsyncOperation/1",
            200,
            json!({"status": "InProgress"}),
            &[],
        );
    }
    let mut extra = common::pg_settings(names::DB_EAST, None);
    extra["operation_timeout"] = json!("100ms");
    let s = common::settings(&arm, "db", "azure.postgres_flexible", extra);
    let e = common::registry()
        .build_store(&s)
        .unwrap()
        .unwrap()
        .fence()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Timeout, "{e}");
}

#[tokio::test]
async fn a_failed_operation_followed_through_location_is_an_error_with_arm_code() {
    let arm = ArmStandIn::proseware().await;
    arm.set_lro_style(LroStyle::Location);
    arm.fail_next_operation("FailoverFailed", "the secondary is not ready");
    let e = common::storage_store(&arm, "westus")
        .promote()
        .await
        .unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::Conflict,
        "ARM answers the Location poll with 409: {e}"
    );
    assert!(e.to_string().contains("FailoverFailed"), "{e}");
    assert_eq!(
        arm.get(&storage_path()).unwrap()["properties"]["primaryLocation"],
        json!("eastus")
    );
}
#[tokio::test]
async fn library_users_build_the_same_objects_without_a_plan() {
    use dr_azure::testing::{RESOURCE_GROUP, SUBSCRIPTION, TOKEN};
    use dr_azure::{
        ArmConfig, PostgresConfig, PostgresStore, StaticToken, TrafficManagerConfig,
        TrafficManagerRouter,
    };
    use dr_core::{DataStore, TrafficRouter};
    use std::sync::Arc;
    let arm = ArmStandIn::proseware().await;
    let cfg = ArmConfig::new(SUBSCRIPTION, RESOURCE_GROUP)
        .with_arm_endpoint(arm.uri())
        .with_poll_interval(Duration::from_millis(10));
    let token = Arc::new(StaticToken::new(TOKEN));
    let router = TrafficManagerRouter::new(
        "front",
        cfg.clone(),
        TrafficManagerConfig::new(
            names::TM_PROFILE,
            [
                ("eastus", "azureEndpoints/eastus-app"),
                ("westus", "azureEndpoints/westus-app"),
            ],
        ),
        token.clone(),
    )
    .unwrap();
    assert_eq!(
        router.current(None).await.unwrap(),
        TrafficSplit::all_to("eastus")
    );
    let store = PostgresStore::new("db", cfg, PostgresConfig::new(names::DB_WEST), token).unwrap();
    store.promote().await.unwrap();
    assert_eq!(store.role().await.unwrap(), Role::Primary);
}
