//! What the conformance suites do not see: the exact ARM calls, long-running
//! operations both ways and failed, ARM errors, throttling, a rejected token, the
//! storage failover refusal, and the connection string secret.

mod common;

use std::time::{Duration, Instant};

use dr_azure::testing::{
    ArmStandIn, LroStyle, connection_strings_path, db_connection_string, fd_origin_path, names,
    pg_path, storage_path, tm_endpoint_path,
};
use dr_core::{ErrorKind, Role, TrafficSplit};
use serde_json::json;

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

#[tokio::test]
async fn postgres_fence_stops_the_server_and_promote_patches_the_replica_body() {
    let arm = ArmStandIn::proseware().await;
    let east = common::pg_store(&arm, names::DB_EAST);
    assert!(east.writable().await.unwrap());
    east.fence().await.unwrap();
    assert!(!east.writable().await.unwrap());
    arm.take_requests();
    east.fence().await.unwrap();
    assert!(
        arm.take_requests().iter().all(|r| r.method == "GET"),
        "fencing a stopped server changes nothing"
    );
    let mut extra = common::pg_settings(names::DB_WEST, None);
    extra["promote_option"] = json!("forced");
    let s = common::settings(&arm, "db", "azure.postgres_flexible", extra);
    common::registry()
        .build_store(&s)
        .unwrap()
        .unwrap()
        .promote()
        .await
        .unwrap();
    let patch = arm
        .take_requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .unwrap();
    assert_eq!(patch.path, pg_path(names::DB_WEST));
    assert_eq!(patch.api_version.as_deref(), Some("2025-08-01"));
    assert_eq!(
        patch.body,
        Some(
            json!({"properties": {"replica": {"promoteMode": "Standalone", "promoteOption": "Forced"}}})
        )
    );
}

#[tokio::test]
async fn postgres_lag_comes_from_the_azure_monitor_metric() {
    let arm = ArmStandIn::proseware().await;
    arm.set_metric(
        &pg_path(names::DB_WEST),
        "physical_replication_delay_in_seconds",
        42.0,
    );
    let status = common::pg_replicator(&arm, names::DB_WEST, None)
        .status()
        .await
        .unwrap();
    assert_eq!(status.lag, Some(Duration::from_secs(42)));
    let metrics = arm
        .take_requests()
        .into_iter()
        .find(|r| r.path.ends_with("/providers/Microsoft.Insights/metrics"))
        .unwrap();
    assert_eq!(
        metrics.path,
        format!(
            "{}/providers/Microsoft.Insights/metrics",
            pg_path(names::DB_WEST)
        )
    );
    assert_eq!(metrics.api_version.as_deref(), Some("2023-10-01"));
}

#[tokio::test]
async fn the_reverse_replica_already_existing_is_ok_and_another_server_of_that_name_is_a_conflict()
{
    let arm = ArmStandIn::proseware().await;
    common::pg_store(&arm, names::DB_WEST)
        .promote()
        .await
        .unwrap();
    // `proseware-db-eastus` exists and is not a replica of westus.
    let e = common::pg_replicator(&arm, names::DB_WEST, Some((names::DB_EAST, "eastus")))
        .reverse()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict);
    let rep = common::pg_replicator(
        &arm,
        names::DB_WEST,
        Some(("proseware-db-eastus-2", "eastus")),
    );
    rep.reverse().await.unwrap();
    arm.take_requests();
    rep.reverse().await.unwrap();
    assert!(arm.take_requests().iter().all(|r| r.method == "GET"));
}

#[tokio::test]
async fn the_connection_string_is_set_verified_compensated_and_never_shown() {
    let arm = ArmStandIn::proseware().await;
    let secret = db_connection_string(names::DB_WEST);
    let action = common::conn_action(&arm, &secret);
    assert!(!action.verify().await.unwrap());
    let out = action.run().await.unwrap();
    for shown in [action.describe(), out.to_string(), format!("{action:?}")] {
        assert!(
            !shown.contains("pw-proseware"),
            "the secret leaked: {shown}"
        );
    }
    assert!(action.verify().await.unwrap());
    let path = connection_strings_path(names::WEB_APP);
    let set = arm.get(&path).unwrap();
    assert_eq!(
        set["properties"][names::CONNECTION_STRING]["value"],
        json!(secret)
    );
    assert_eq!(
        set["properties"]["Redis"]["type"],
        json!("RedisCache"),
        "the other entries are kept"
    );
    let put = arm
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    assert_eq!(put.path, path);
    assert_eq!(put.api_version.as_deref(), Some(dr_azure::api::WEB));
    assert_eq!(
        put.body.unwrap()["properties"].as_object().unwrap().len(),
        2,
        "the whole set is PUT"
    );
    action.compensate().await.unwrap();
    assert_eq!(
        arm.get(&path).unwrap()["properties"][names::CONNECTION_STRING]["value"],
        json!(db_connection_string(names::DB_EAST))
    );
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
