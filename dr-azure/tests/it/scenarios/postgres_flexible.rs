//! PostgreSQL flexible server: fence and promote bodies, the lag metric, the
//! reverse replica.

use std::time::Duration;

use dr_azure::testing::{ArmStandIn, names, pg_path};
use dr_core::ErrorKind;
use serde_json::json;

use crate::common;

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
async fn metrics_are_read_over_an_explicit_iso_8601_window_ending_now() {
    let arm = ArmStandIn::proseware().await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    common::pg_replicator(&arm, names::DB_WEST, None)
        .status()
        .await
        .unwrap();
    let after = chrono::Utc::now() + chrono::Duration::seconds(1);
    let metrics = arm
        .take_requests()
        .into_iter()
        .find(|r| r.path.ends_with("/providers/Microsoft.Insights/metrics"))
        .unwrap();
    let timespan = &metrics.query["timespan"];
    let (start, end) = timespan.split_once('/').expect("START/END");
    let start = chrono::DateTime::parse_from_rfc3339(start).unwrap();
    let end = chrono::DateTime::parse_from_rfc3339(end).unwrap();
    assert_eq!(end - start, chrono::Duration::minutes(15), "{timespan}");
    assert!(before <= end && end <= after, "{timespan} ends now");
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

/// The run's mode picks the promote option: `promote_option` (default
/// planned) in a graceful run, `Forced` in an ungraceful one whatever
/// `promote_option` says.
#[tokio::test]
async fn the_run_mode_picks_a_planned_or_a_forced_promote() {
    use dr_core::{Promotion, RunMode};
    for (mode, option) in [
        (RunMode::Graceful, "Planned"),
        (RunMode::Ungraceful, "Forced"),
    ] {
        let arm = ArmStandIn::proseware().await;
        let mut extra = common::pg_settings(names::DB_WEST, None);
        extra["promote_option"] = json!("planned");
        let s = common::settings(&arm, "db", "azure.postgres_flexible", extra);
        let store = common::registry().build_store(&s).unwrap().unwrap();
        assert!(store.capabilities().modes);
        arm.take_requests();
        store.promote_with(Promotion::new(mode)).await.unwrap();
        let patch = arm
            .take_requests()
            .into_iter()
            .find(|r| r.method == "PATCH")
            .unwrap();
        assert_eq!(
            patch.body,
            Some(
                json!({"properties": {"replica": {"promoteMode": "Standalone", "promoteOption": option}}})
            ),
            "{mode}"
        );
        assert_eq!(store.role().await.unwrap(), dr_core::Role::Primary);
    }
}
