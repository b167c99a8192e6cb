//! RDS and Aurora global: promotion calls and refusals (`InvalidDBInstanceState`
//! with the request id), roles on moto, lag from CloudWatch and state from
//! `StatusInfos`, Aurora failover consent and `AllowDataLoss`.

use std::time::Duration;

use crate::common::*;
use dr_aws::testing::{FakeAws, FakeGlobal, MotoServer};
use dr_core::{ErrorKind, ReplicationState, Role};
use serde_json::json;

#[tokio::test]
async fn promoting_a_primary_calls_nothing_and_a_refusal_is_a_conflict_with_the_request_id() {
    let fake = FakeAws::start().await;
    fake.add_rds_pair("db-east", &["db-west"]);
    let primary = store(&settings(
        "db",
        "aws.rds",
        &fake.url(),
        json!({"instance": "db-east"}),
    ));
    primary.promote().await.unwrap();
    assert_eq!(fake.calls().await, ["DescribeDBInstances"]);

    let replica = store(&settings(
        "db",
        "aws.rds",
        &fake.url(),
        json!({"instance": "db-west"}),
    ));
    fake.fail_next(
        "PromoteReadReplica",
        400,
        "InvalidDBInstanceState",
        "DB instance db-west is not in a state to be promoted",
    );
    let e = replica.promote().await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    assert_eq!(e.request_id(), Some("fake-request-InvalidDBInstanceState"));
    assert!(
        e.to_string()
            .contains("RDS PromoteReadReplica: InvalidDBInstanceState"),
        "{e}"
    );
    assert_eq!(e.provider(), Some(dr_aws::PROVIDER));

    fake.fail_next("DescribeDBInstances", 400, "Throttling", "Rate exceeded");
    let e = replica.role().await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Throttled { .. }), "{e}");

    let params: Vec<_> = fake
        .requests_with_params()
        .await
        .into_iter()
        .filter(|(op, _)| op == "PromoteReadReplica")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(params[0]["DBInstanceIdentifier"], "db-west");
    assert_eq!(params[0]["Version"], "2014-10-31");
}

#[tokio::test]
async fn the_role_of_rds_instances_on_moto() {
    let moto = MotoServer::start().await;
    let rds = moto.rds(REGION).await;
    rds.create_db_instance()
        .db_instance_identifier("db-east")
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .allocated_storage(20)
        .master_username("app")
        .master_user_password("not-a-secret-here")
        .send()
        .await
        .unwrap();
    rds.create_db_instance_read_replica()
        .db_instance_identifier("db-west")
        .source_db_instance_identifier("db-east")
        .send()
        .await
        .unwrap();
    let west = store(&settings(
        "db",
        "aws.rds",
        &moto.url(),
        json!({"instance": "db-west"}),
    ));
    let east = store(&settings(
        "db",
        "aws.rds",
        &moto.url(),
        json!({"instance": "db-east"}),
    ));
    assert_eq!(
        west.role().await.unwrap(),
        Role::Replica {
            of: Some("db-east".into())
        }
    );
    assert!(!west.writable().await.unwrap());
    assert_eq!(east.role().await.unwrap(), Role::Primary);
    assert!(east.writable().await.unwrap());
    let missing = store(&settings(
        "db",
        "aws.rds",
        &moto.url(),
        json!({"instance": "nope"}),
    ));
    assert_eq!(
        missing.role().await.unwrap_err().kind(),
        &ErrorKind::NotFound
    );
}

#[tokio::test]
async fn rds_lag_and_state_follow_cloudwatch_and_status_infos() {
    let fake = FakeAws::start().await;
    fake.add_rds_pair("db-east", &["db-west"]);
    let r = replicator(&settings(
        "db",
        "aws.rds",
        &fake.url(),
        json!({"instance": "db-west"}),
    ));
    let st = r.status().await.unwrap();
    assert_eq!(
        (st.state, st.lag),
        (ReplicationState::Replicating, None),
        "no datapoint"
    );
    fake.state().replica_lag.insert("db-west".into(), 42.0);
    fake.state()
        .instances
        .get_mut("db-west")
        .unwrap()
        .replication = Some("error".into());
    let st = r.status().await.unwrap();
    assert_eq!(st.state, ReplicationState::Broken);
    assert_eq!(st.lag, Some(Duration::from_secs(42)));
    let stats: Vec<_> = fake
        .requests_with_params()
        .await
        .into_iter()
        .filter(|(op, _)| op == "GetMetricStatistics")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(stats[0]["Namespace"], "AWS/RDS");
    assert_eq!(stats[0]["MetricName"], "ReplicaLag");
    assert_eq!(
        stats[0]["Dimensions"],
        json!([{"Name": "DBInstanceIdentifier", "Value": "db-west"}])
    );
    assert_eq!(
        r.stop().await.unwrap_err().kind(),
        &ErrorKind::InvalidRequest
    );
}

#[tokio::test]
async fn aurora_failover_mode_needs_consent_and_sends_allow_data_loss() {
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
    let without = settings(
        "aurora",
        "aws.aurora_global",
        &fake.url(),
        json!({"global_cluster": "app-global", "cluster": "app-west", "mode": "failover"}),
    );
    let e = registry().build_store(&without).unwrap().unwrap_err();
    assert_eq!(e.key.as_deref(), Some("mode"));
    let with = settings(
        "aurora",
        "aws.aurora_global",
        &fake.url(),
        json!({"global_cluster": "app-global", "cluster": "app-west", "mode": "failover",
               "allow_data_loss": true}),
    );
    let s = store(&with);
    s.promote().await.unwrap();
    assert_eq!(s.role().await.unwrap(), Role::Primary);
    let failovers: Vec<_> = fake
        .requests_with_params()
        .await
        .into_iter()
        .filter(|(op, _)| op == "FailoverGlobalCluster")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(failovers.len(), 1);
    assert_eq!(failovers[0]["AllowDataLoss"], "true");
    assert_eq!(failovers[0]["TargetDbClusterIdentifier"], west);
    assert_eq!(
        s.fence().await.unwrap_err().kind(),
        &ErrorKind::InvalidRequest
    );
}

/// The run's mode: a graceful run switches over (`mode` default), an
/// ungraceful one fails over with `AllowDataLoss`, and only with consent (the
/// run's `--accept-data-loss` or `allow_data_loss = true`): without it the
/// promote is refused before any call.
#[tokio::test]
async fn aurora_switches_over_in_a_graceful_run_and_fails_over_in_an_ungraceful_one_with_consent() {
    use dr_core::{Promotion, RunMode};
    let east = "arn:aws:rds:us-east-1:123456789012:cluster:app-east";
    let west = "arn:aws:rds:us-west-2:123456789012:cluster:app-west";
    let start = || async {
        let fake = FakeAws::start().await;
        fake.state().globals.insert(
            "app-global".into(),
            FakeGlobal {
                members: vec![(east.into(), true), (west.into(), false)],
                switching: None,
            },
        );
        let s = store(&settings(
            "aurora",
            "aws.aurora_global",
            &fake.url(),
            json!({"global_cluster": "app-global", "cluster": "app-west"}),
        ));
        (fake, s)
    };
    let ops = |reqs: Vec<(String, serde_json::Value)>| -> Vec<(String, serde_json::Value)> {
        reqs.into_iter()
            .filter(|(op, _)| op.ends_with("GlobalCluster"))
            .collect()
    };

    let (fake, s) = start().await;
    assert!(s.capabilities().modes);
    s.promote_with(Promotion::new(RunMode::Graceful))
        .await
        .unwrap();
    let calls = ops(fake.requests_with_params().await);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].0, "SwitchoverGlobalCluster");

    let (fake, s) = start().await;
    let e = s
        .promote_with(Promotion::new(RunMode::Ungraceful))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidRequest);
    assert!(e.message().contains("--accept-data-loss"), "{e}");
    assert!(ops(fake.requests_with_params().await).is_empty());
    assert_eq!(
        s.role().await.unwrap(),
        Role::Replica {
            of: Some(east.into())
        }
    );

    s.promote_with(Promotion::new(RunMode::Ungraceful).accept_data_loss(true))
        .await
        .unwrap();
    let calls = ops(fake.requests_with_params().await);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].0, "FailoverGlobalCluster");
    assert_eq!(calls[0].1["AllowDataLoss"], "true");
    assert_eq!(s.role().await.unwrap(), Role::Primary);
}
