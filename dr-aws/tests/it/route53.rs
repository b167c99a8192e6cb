//! Route 53 record sets (one UPSERT batch keeping every other field, weighted and
//! failover records, a missing `SetIdentifier`, the `GetChange` wait until
//! `INSYNC`) and health-check states (the 18 % rule).

use crate::common::*;
use dr_aws::testing::{FakeAws, MotoServer};
use dr_core::{ErrorKind, HealthStatus, TrafficSplit};
use serde_json::json;

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
