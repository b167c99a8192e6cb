//! What the conformance suites do not cover: the exact calls and the failure
//! shapes (ARC safety rules and endpoint rotation, throttling, InvalidDBInstanceState,
//! health-check and alarm states), record fields kept, actions and compensation.
mod common;

use std::time::Duration;

use common::*;
use dr_aws::testing::{FakeAws, FakeGlobal, MotoServer};
use dr_core::{ErrorKind, HealthStatus, ReplicationState, Role, TrafficSplit};
use serde_json::json;

// ---------------------------------------------------------------- Route 53

#[tokio::test]
async fn a_failover_record_change_is_one_upsert_batch_that_keeps_every_other_field() {
    let moto = MotoServer::start().await;
    let zone = failover_zone(&moto).await;
    let r = router(&route53_settings(&moto, &zone, json!({})));
    assert_eq!(r.current(None).await.unwrap(), TrafficSplit::all_to("east"));
    r.apply(&TrafficSplit::all_to("west"), None).await.unwrap();
    let recs = records(&moto, &zone).await;
    let east = recs
        .iter()
        .find(|r| r.set_identifier() == Some("east"))
        .unwrap();
    let west = recs
        .iter()
        .find(|r| r.set_identifier() == Some("west"))
        .unwrap();
    assert_eq!(east.failover().unwrap().as_str(), "SECONDARY");
    assert_eq!(west.failover().unwrap().as_str(), "PRIMARY");
    assert_eq!(east.health_check_id(), Some("hc-east"), "kept as read");
    assert_eq!((east.ttl(), west.ttl()), (Some(60), Some(60)));
    assert_eq!(east.resource_records()[0].value(), "10.0.0.1");
    assert_eq!(r.current(None).await.unwrap(), TrafficSplit::all_to("west"));
}

#[tokio::test]
async fn weighted_records_take_any_split_and_failover_records_refuse_one() {
    let moto = MotoServer::start().await;
    let zone = weighted_zone(&moto, 90).await;
    let r = router(&route53_settings(&moto, &zone, json!({})));
    assert_eq!(
        r.current(None).await.unwrap(),
        TrafficSplit::from_pairs([("east", 90), ("west", 10)])
    );
    let split = TrafficSplit::from_pairs([("east", 30), ("west", 70)]);
    r.apply(&split, None).await.unwrap();
    let w: Vec<_> = records(&moto, &zone)
        .await
        .iter()
        .map(|r| (r.set_identifier().unwrap().to_string(), r.weight(), r.ttl()))
        .collect();
    assert_eq!(
        w,
        [
            ("east".to_string(), Some(30), Some(60)),
            ("west".to_string(), Some(70), Some(60))
        ]
    );

    let zone = failover_zone(&moto).await;
    let r = router(&route53_settings(&moto, &zone, json!({})));
    let e = r.apply(&split, None).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidRequest, "{e}");
    assert!(e.to_string().contains("failover record sets"), "{e}");
    assert_eq!(r.current(None).await.unwrap(), TrafficSplit::all_to("east"));
}

#[tokio::test]
async fn a_target_without_its_record_set_is_a_conflict_naming_it() {
    let moto = MotoServer::start().await;
    let zone = weighted_zone(&moto, 100).await;
    let r = router(&route53_settings(
        &moto,
        &zone,
        json!({"targets": {"east": "east", "west": "west-typo"}}),
    ));
    let e = r.current(None).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict);
    assert!(e.to_string().contains("`west-typo`"), "{e}");
    assert_eq!(e.provider(), Some(dr_aws::PROVIDER));
}

// ---------------------------------------------------------------- ARC

fn arc_fake(fake: &FakeAws) {
    let mut s = fake.state();
    s.controls.insert("arn:aws:rc/east".into(), "On".into());
    s.controls.insert("arn:aws:rc/west".into(), "Off".into());
}

fn arc_settings(endpoints: &[String], extra: serde_json::Value) -> dr_core::Settings {
    let eps: Vec<_> = endpoints
        .iter()
        .map(|e| json!({"endpoint": e, "region": "us-west-2"}))
        .collect();
    let mut v = json!({
        "cluster_endpoints": eps,
        "targets": {"east": "arn:aws:rc/east", "west": "arn:aws:rc/west"},
    });
    if let (Some(m), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
        m.extend(e);
    }
    settings("arc", "aws.arc_routing_control", &endpoints[0], v)
}

#[tokio::test]
async fn a_safety_rule_refusal_names_the_rule_and_an_override_is_sent() {
    let fake = FakeAws::start().await;
    arc_fake(&fake);
    let rule =
        "arn:aws:route53-recovery-control::123456789012:controlpanel/p/safetyrule/keep-two-on";
    fake.state().min_on_rules.push((rule.into(), 2));

    let r = router(&arc_settings(&[fake.url()], json!({})));
    let e = r
        .apply(&TrafficSplit::all_to("west"), None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    assert!(e.to_string().contains(rule), "the rule is named: {e}");
    assert_eq!(e.request_id(), Some("fake-request-ConflictException"));
    assert_eq!(
        fake.state().controls["arn:aws:rc/east"],
        "On",
        "nothing changed"
    );

    let r = router(&arc_settings(
        &[fake.url()],
        json!({"override_safety_rules": [rule]}),
    ));
    r.apply(&TrafficSplit::all_to("west"), None).await.unwrap();
    assert_eq!(fake.state().controls["arn:aws:rc/west"], "On");
    assert_eq!(fake.state().controls["arn:aws:rc/east"], "Off");
    let updates: Vec<_> = fake
        .requests_with_params()
        .await
        .into_iter()
        .filter(|(op, _)| op == "UpdateRoutingControlStates")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(updates.len(), 2, "one call per apply: {updates:?}");
    assert_eq!(
        updates[1],
        json!({
            "UpdateRoutingControlStateEntries": [
                {"RoutingControlArn": "arn:aws:rc/east", "RoutingControlState": "Off"},
                {"RoutingControlArn": "arn:aws:rc/west", "RoutingControlState": "On"},
            ],
            "SafetyRulesToOverride": [rule],
        })
    );
}

#[tokio::test]
async fn an_unavailable_cluster_endpoint_moves_on_to_the_next() {
    let down = FakeAws::start().await;
    let up = FakeAws::start().await;
    arc_fake(&up);
    for _ in 0..3 {
        down.fail_next(
            "GetRoutingControlState",
            503,
            "EndpointTemporarilyUnavailableException",
            "try another endpoint",
        );
    }
    down.fail_next(
        "UpdateRoutingControlStates",
        503,
        "EndpointTemporarilyUnavailableException",
        "try another endpoint",
    );
    let r = router(&arc_settings(&[down.url(), up.url()], json!({})));
    r.apply(&TrafficSplit::all_to("west"), None).await.unwrap();
    assert_eq!(up.state().controls["arn:aws:rc/west"], "On");
    assert_eq!(
        down.calls().await,
        [
            "GetRoutingControlState",
            "UpdateRoutingControlStates",
            "GetRoutingControlState"
        ]
    );
    assert!(
        up.calls()
            .await
            .contains(&"UpdateRoutingControlStates".to_string())
    );
}

#[tokio::test]
async fn arc_throttling_is_retryable_and_changes_nothing() {
    let fake = FakeAws::start().await;
    arc_fake(&fake);
    fake.fail_next(
        "UpdateRoutingControlStates",
        429,
        "ThrottlingException",
        "slow down",
    );
    let r = router(&arc_settings(&[fake.url()], json!({})));
    let e = r
        .apply(&TrafficSplit::all_to("west"), None)
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Throttled { .. }), "{e}");
    assert!(e.is_retryable());
    assert_eq!(fake.state().controls["arn:aws:rc/east"], "On");
    let e = r
        .apply(
            &TrafficSplit::from_pairs([("east", 50), ("west", 50)]),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidRequest, "failover-only: {e}");
}

// ---------------------------------------------------------------- RDS and Aurora

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

// ---------------------------------------------------------------- probes

#[tokio::test]
async fn health_check_status_follows_the_18_percent_rule() {
    let fake = FakeAws::start().await;
    let p = probe(&settings(
        "hc",
        "aws.route53_health_check",
        &fake.url(),
        json!({"health_check_id": "hc1"}),
    ));
    let mut cases = vec![
        (vec![true; 8], HealthStatus::Healthy),
        (
            [vec![true; 2], vec![false; 6]].concat(),
            HealthStatus::Degraded,
        ), // 25 %
        (
            [vec![true; 1], vec![false; 7]].concat(),
            HealthStatus::Unhealthy,
        ), // 12.5 %
        (vec![false; 8], HealthStatus::Unhealthy),
    ];
    for (checkers, want) in cases.drain(..) {
        fake.state()
            .health_checks
            .insert("hc1".into(), checkers.clone());
        let h = p.probe().await.unwrap();
        assert_eq!(h.status, want, "{checkers:?}: {h:?}");
    }
    let paths: Vec<_> = fake
        .requests_with_params()
        .await
        .into_iter()
        .map(|(_, p)| p["path"].clone())
        .collect();
    assert_eq!(paths[0], "/2013-04-01/healthcheck/hc1/status");
    fake.state().health_checks.clear();
    assert_eq!(p.probe().await.unwrap_err().kind(), &ErrorKind::NotFound);
}

#[tokio::test]
async fn an_alarm_state_maps_to_health_over_cbor() {
    let fake = FakeAws::start().await;
    let p = probe(&settings(
        "alarm",
        "aws.cloudwatch.alarm",
        &fake.url(),
        json!({"alarm_name": "api-5xx"}),
    ));
    for (state, want) in [
        ("OK", HealthStatus::Healthy),
        ("ALARM", HealthStatus::Unhealthy),
        ("INSUFFICIENT_DATA", HealthStatus::Degraded),
    ] {
        fake.state().alarms.insert("api-5xx".into(), state.into());
        assert_eq!(p.probe().await.unwrap().status, want, "{state}");
    }
    let (op, params) = fake.requests_with_params().await.remove(0);
    assert_eq!(op, "DescribeAlarms");
    assert_eq!(params["AlarmNames"], json!(["api-5xx"]));
    fake.fail_next(
        "DescribeAlarms",
        400,
        "ThrottlingException",
        "Rate exceeded",
    );
    let e = p.probe().await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Throttled { .. }), "{e}");
    fake.state().alarms.clear();
    assert_eq!(p.probe().await.unwrap_err().kind(), &ErrorKind::NotFound);
}

// ---------------------------------------------------------------- actions

#[tokio::test]
async fn start_instances_waits_verifies_and_compensates_only_what_it_started() {
    let moto = MotoServer::start().await;
    let ec2 = moto.ec2(REGION).await;
    let run = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(2)
        .max_count(2)
        .send()
        .await
        .unwrap();
    let ids: Vec<String> = run
        .instances()
        .iter()
        .map(|i| i.instance_id().unwrap().to_string())
        .collect();
    ec2.stop_instances()
        .instance_ids(&ids[0])
        .send()
        .await
        .unwrap();
    let a = action(
        "aws.ec2.start_instances",
        &settings(
            "start",
            "aws.ec2.start_instances",
            &moto.url(),
            json!({"instances": ids}),
        ),
    );
    assert!(!a.verify().await.unwrap());
    let out = a.run().await.unwrap();
    assert_eq!(out["started"], json!([ids[0]]));
    assert!(a.verify().await.unwrap());
    a.compensate().await.unwrap();
    let d = ec2
        .describe_instances()
        .set_instance_ids(Some(ids.clone()))
        .send()
        .await
        .unwrap();
    let states: Vec<(String, String)> = d
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| {
            (
                i.instance_id().unwrap().to_string(),
                i.state().unwrap().name().unwrap().as_str().to_string(),
            )
        })
        .collect();
    assert!(
        states.contains(&(ids[0].clone(), "stopped".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&(ids[1].clone(), "running".into())),
        "{states:?}"
    );

    let missing = action(
        "aws.ec2.start_instances",
        &settings(
            "start",
            "aws.ec2.start_instances",
            &moto.url(),
            json!({"instances": ["i-0123456789abcdef0"]}),
        ),
    );
    assert_eq!(
        missing.verify().await.unwrap_err().kind(),
        &ErrorKind::NotFound
    );
}

#[tokio::test]
async fn set_capacity_verifies_and_restores_what_it_captured() {
    let moto = MotoServer::start().await;
    let asg = moto.autoscaling(REGION).await;
    asg.create_launch_configuration()
        .launch_configuration_name("web")
        .image_id("ami-12c6146b")
        .instance_type("t3.micro")
        .send()
        .await
        .unwrap();
    asg.create_auto_scaling_group()
        .auto_scaling_group_name("web")
        .launch_configuration_name("web")
        .min_size(1)
        .max_size(2)
        .desired_capacity(1)
        .availability_zones("us-east-1a")
        .send()
        .await
        .unwrap();
    let a = action(
        "aws.autoscaling.set_capacity",
        &settings(
            "scale",
            "aws.autoscaling.set_capacity",
            &moto.url(),
            json!({"group": "web", "desired": 4, "max": 6}),
        ),
    );
    assert!(!a.verify().await.unwrap());
    let out = a.run().await.unwrap();
    assert_eq!(out["before"], json!({"desired": 1, "min": 1, "max": 2}));
    assert_eq!(out["after"], json!({"desired": 4, "min": 1, "max": 6}));
    assert!(a.verify().await.unwrap());
    a.compensate().await.unwrap();
    let g = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("web")
        .send()
        .await
        .unwrap();
    let g = &g.auto_scaling_groups()[0];
    assert_eq!(
        (g.desired_capacity(), g.min_size(), g.max_size()),
        (Some(1), Some(1), Some(2))
    );
}

// ---------------------------------------------------------------- S3

#[tokio::test]
async fn canary_lag_is_the_age_of_the_destination_copy() {
    // moto never replicates objects, so the test plays S3 replication itself: it
    // writes an older timestamp to the destination, as a delayed copy would be.
    let moto = MotoServer::start().await;
    replicated_buckets(&moto, "logs-east", "logs-west").await;
    let r = replicator(&settings(
        "logs",
        "aws.s3_replication",
        &moto.url(),
        json!({"bucket": "logs-east", "destination_bucket": "logs-west", "canary_key": "dr-canary"}),
    ));
    assert!(!r.capabilities().reverse, "no role_arn, no reverse");
    let st = r.status().await.unwrap();
    assert_eq!(
        (st.state, st.lag),
        (ReplicationState::Replicating, None),
        "no copy yet"
    );

    let s3 = moto.s3(REGION).await;
    let old = chrono::Utc::now() - chrono::Duration::seconds(30);
    s3.put_object()
        .bucket("logs-west")
        .key("dr-canary")
        .body(old.to_rfc3339().into_bytes().into())
        .send()
        .await
        .unwrap();
    let lag = r.status().await.unwrap().lag.expect("a lag");
    assert!(
        lag >= Duration::from_secs(30) && lag < Duration::from_secs(90),
        "{lag:?}"
    );
    let written = s3
        .get_object()
        .bucket("logs-east")
        .key("dr-canary")
        .send()
        .await
        .unwrap();
    let body = written.body.collect().await.unwrap().into_bytes();
    let at = chrono::DateTime::parse_from_rfc3339(std::str::from_utf8(&body).unwrap()).unwrap();
    assert!(chrono::Utc::now().signed_duration_since(at) < chrono::Duration::seconds(30));
}

// ---------------------------------------------------------------- Route 53 INSYNC wait

/// moto says `INSYNC` at once; this stand-in says `PENDING` twice, so `apply`
/// must poll `GetChange` until Route 53 has the change everywhere.
#[tokio::test]
async fn route53_apply_returns_only_once_get_change_says_insync() {
    use wiremock::matchers::{method, path, path_regex};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    dr_aws::testing::use_test_credentials();
    let server = MockServer::start().await;
    let xml = |body: String| {
        ResponseTemplate::new(200)
            .insert_header("content-type", "text/xml")
            .insert_header("x-amzn-requestid", "fake-r53")
            .set_body_string(format!("<?xml version=\"1.0\"?>{body}"))
    };
    let rec = |id: &str, w: u32, ip: &str| {
        format!(
            "<ResourceRecordSet><Name>app.example.com.</Name><Type>A</Type>\
             <SetIdentifier>{id}</SetIdentifier><Weight>{w}</Weight><TTL>300</TTL>\
             <ResourceRecords><ResourceRecord><Value>{ip}</Value></ResourceRecord></ResourceRecords>\
             </ResourceRecordSet>"
        )
    };
    Mock::given(method("GET"))
        .and(path("/2013-04-01/hostedzone/Z1/rrset"))
        .respond_with(xml(format!(
            "<ListResourceRecordSetsResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">\
             <ResourceRecordSets>{}{}</ResourceRecordSets><IsTruncated>false</IsTruncated>\
             <MaxItems>300</MaxItems></ListResourceRecordSetsResponse>",
            rec("east", 100, "10.0.0.1"),
            rec("west", 0, "10.1.0.1")
        )))
        .mount(&server)
        .await;
    let change = |status: &str| {
        format!(
            "<ChangeInfo><Id>/change/C1</Id><Status>{status}</Status>\
             <SubmittedAt>2026-11-22T07:00:00Z</SubmittedAt></ChangeInfo>"
        )
    };
    Mock::given(method("POST"))
        .and(path_regex("^/2013-04-01/hostedzone/Z1/rrset/?$"))
        .respond_with(xml(format!(
            "<ChangeResourceRecordSetsResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">{}\
             </ChangeResourceRecordSetsResponse>",
            change("PENDING")
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("^/2013-04-01/change/C1$"))
        .respond_with(xml(format!(
            "<GetChangeResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">{}</GetChangeResponse>",
            change("PENDING")
        )))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("^/2013-04-01/change/C1$"))
        .respond_with(xml(format!(
            "<GetChangeResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">{}</GetChangeResponse>",
            change("INSYNC")
        )))
        .with_priority(2)
        .mount(&server)
        .await;

    let r = router(&settings(
        "front",
        "aws.route53",
        &server.uri(),
        json!({"hosted_zone_id": "Z1", "record_name": "app.example.com",
               "targets": {"east": "east", "west": "west"}}),
    ));
    r.apply(
        &TrafficSplit::from_pairs([("east", 80), ("west", 20)]),
        None,
    )
    .await
    .unwrap();
    let requests = server.received_requests().await.unwrap();
    let lines: Vec<String> = requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("GET /2013-04-01/change/"))
            .count(),
        3,
        "{lines:?}"
    );
    let posts: Vec<String> = requests
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(posts.len(), 1, "one change batch: {lines:?}");
    let body = &posts[0];
    assert_eq!(body.matches("<Action>UPSERT</Action>").count(), 2, "{body}");
    assert!(
        body.contains("<Weight>80</Weight>") && body.contains("<Weight>20</Weight>"),
        "{body}"
    );
    assert_eq!(
        body.matches("<TTL>300</TTL>").count(),
        2,
        "TTL kept: {body}"
    );
    assert!(body.contains("<Value>10.1.0.1</Value>"), "{body}");
}
