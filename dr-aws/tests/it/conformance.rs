//! The dr-core conformance suites against moto (Route 53 records and health
//! checks, S3 replication) and against the wiremock stand-ins where moto falls
//! short (ARC, RDS promotion, Aurora global, CloudWatch over CBOR).

use std::time::Duration;

use crate::common::*;
use dr_aws::testing::{FakeAws, FakeGlobal, MotoServer};
use dr_core::{ReplicationState, Role, TrafficSplit};
use serde_json::json;

#[tokio::test]
async fn a_weighted_route53_router_passes_the_router_conformance_suite() {
    let moto = MotoServer::start().await;
    let zone = weighted_zone(&moto, 100).await;
    let r = router(&route53_settings(&moto, &zone, json!({})));
    assert!(r.capabilities().weighted);
    dr_core::testing::router_conformance(r.as_ref()).await;
    // Restored to the split it started with, in the records themselves.
    let weights: Vec<(String, Option<i64>)> = records(&moto, &zone)
        .await
        .iter()
        .map(|r| (r.set_identifier().unwrap().to_string(), r.weight()))
        .collect();
    assert_eq!(
        weights,
        [
            ("east".to_string(), Some(100)),
            ("west".to_string(), Some(0))
        ]
    );
}

#[tokio::test]
async fn a_failover_route53_router_passes_the_router_conformance_suite() {
    let moto = MotoServer::start().await;
    let zone = failover_zone(&moto).await;
    let r = router(&route53_settings(
        &moto,
        &zone,
        json!({"routing_policy": "failover"}),
    ));
    assert!(!r.capabilities().weighted);
    dr_core::testing::router_conformance(r.as_ref()).await;
}

#[tokio::test]
async fn an_arc_router_passes_the_router_conformance_suite() {
    let fake = FakeAws::start().await;
    arc_fake(&fake);
    let r = router(&arc_settings(&[fake.url()], json!({})));
    dr_core::testing::router_conformance(r.as_ref()).await;
    assert_eq!(r.current(None).await.unwrap(), TrafficSplit::all_to("east"));
}

#[tokio::test]
async fn a_route53_health_check_passes_the_probe_conformance_suite() {
    use aws_sdk_route53::types::{HealthCheckConfig, HealthCheckType};
    let moto = MotoServer::start().await;
    let hc = moto
        .route53()
        .await
        .create_health_check()
        .caller_reference("dr-hc")
        .health_check_config(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::Http)
                .ip_address("10.0.0.1")
                .port(80)
                .resource_path("/healthz")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let id = hc.health_check().unwrap().id().to_string();
    let p = probe(&settings(
        "hc",
        "aws.route53_health_check",
        &moto.url(),
        json!({"health_check_id": id, "timeout": "5s"}),
    ));
    dr_core::testing::probe_conformance(p.as_ref(), Duration::from_secs(5)).await;
    // moto's checkers always report success.
    assert!(p.probe().await.unwrap().is_healthy());
}

#[tokio::test]
async fn a_cloudwatch_alarm_passes_the_probe_conformance_suite() {
    let fake = FakeAws::start().await;
    fake.state()
        .alarms
        .insert("web-east-5xx".into(), "ALARM".into());
    let p = probe(&settings(
        "alarm",
        "aws.cloudwatch.alarm",
        &fake.url(),
        json!({"alarm_name": "web-east-5xx", "timeout": "5s"}),
    ));
    dr_core::testing::probe_conformance(p.as_ref(), Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_rds_read_replica_passes_the_store_conformance_suite() {
    let fake = FakeAws::start().await;
    fake.add_rds_pair("db-east", &["db-west"]);
    fake.state().looks_to_finish = 3;
    let s = store(&settings(
        "db",
        "aws.rds",
        &fake.url(),
        json!({"instance": "db-west"}),
    ));
    assert_eq!(
        s.role().await.unwrap(),
        Role::Replica {
            of: Some("db-east".into())
        }
    );
    dr_core::testing::store_conformance(s.as_ref()).await;
    let calls = fake.calls().await;
    assert_eq!(
        calls.iter().filter(|c| *c == "PromoteReadReplica").count(),
        1,
        "promoted once, the second promote saw a primary: {calls:?}"
    );
    assert_eq!(calls.iter().filter(|c| *c == "StopDBInstance").count(), 1);
    assert_eq!(fake.state().instances["db-west"].status, "stopped");
}

#[tokio::test]
async fn an_aurora_global_member_passes_the_store_conformance_suite() {
    let fake = FakeAws::start().await;
    let east = "arn:aws:rds:us-east-1:123456789012:cluster:app-east";
    let west = "arn:aws:rds:us-west-2:123456789012:cluster:app-west";
    fake.state().globals.insert(
        "app-global".into(),
        FakeGlobal {
            members: vec![(east.into(), true), (west.into(), false)],
            switching: None,
        },
    );
    fake.state().looks_to_finish = 2;
    let s = store(&settings(
        "aurora",
        "aws.aurora_global",
        &fake.url(),
        json!({"global_cluster": "app-global", "cluster": "app-west"}),
    ));
    assert_eq!(
        s.role().await.unwrap(),
        Role::Replica {
            of: Some(east.into())
        }
    );
    dr_core::testing::store_conformance(s.as_ref()).await;
    let switchovers: Vec<_> = fake
        .requests_with_params()
        .await
        .into_iter()
        .filter(|(op, _)| op == "SwitchoverGlobalCluster")
        .collect();
    assert_eq!(switchovers.len(), 1, "{switchovers:?}");
    assert_eq!(switchovers[0].1["GlobalClusterIdentifier"], "app-global");
    assert_eq!(switchovers[0].1["TargetDbClusterIdentifier"], west);
}

#[tokio::test]
async fn the_link_into_an_rds_replica_passes_the_replicator_conformance_suite() {
    let fake = FakeAws::start().await;
    fake.add_rds_pair("db-east", &["db-west"]);
    fake.state().replica_lag.insert("db-west".into(), 4.0);
    let r = replicator(&settings(
        "db_link",
        "aws.rds",
        &fake.url(),
        json!({"instance": "db-west"}),
    ));
    let st = r.status().await.unwrap();
    assert_eq!(st.state, ReplicationState::Replicating);
    assert_eq!(st.lag, Some(Duration::from_secs(4)));
    dr_core::testing::replicator_conformance(r.as_ref()).await;
}

#[tokio::test]
async fn s3_replication_passes_the_replicator_suites() {
    let moto = MotoServer::start().await;
    replicated_buckets(&moto, "data-east", "data-west").await;
    let r = replicator(&settings(
        "objects",
        "aws.s3_replication",
        &moto.url(),
        json!({
            "bucket": "data-east",
            "destination_bucket": "data-west",
            "role_arn": "arn:aws:iam::123456789012:role/replication",
        }),
    ));
    assert_eq!(
        r.status().await.unwrap().state,
        ReplicationState::Replicating
    );
    dr_core::testing::replicator_conformance(r.as_ref()).await;
    assert_eq!(r.status().await.unwrap().state, ReplicationState::Paused);
    // stop() kept the configuration, with the rule disabled.
    assert_eq!(
        rules(&moto, "data-east").await,
        [(
            "east-to-west".to_string(),
            "Disabled".to_string(),
            "arn:aws:s3:::data-west".to_string()
        )]
    );
    dr_core::testing::replicator_reverse_conformance(r.as_ref()).await;
    let back = rules(&moto, "data-west").await;
    assert_eq!(
        back.len(),
        1,
        "one mirror rule after two reverse(): {back:?}"
    );
    assert_eq!(back[0].1, "Enabled");
    assert_eq!(back[0].2, "arn:aws:s3:::data-east");
}
