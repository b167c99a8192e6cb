//! Objects as the registry builds them from a plan's settings, and fixtures on
//! moto (made with the harness's own clients) and on the wiremock stand-in.

use std::sync::Arc;

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet,
    ResourceRecordSetFailover, RrType,
};
use dr_aws::testing::{FakeAws, MotoServer};
use dr_core::{Action, DataStore, HealthProbe, Registry, Replicator, Settings, TrafficRouter};
use serde_json::{Value, json};

pub const REGION: &str = "us-east-1";
pub const RECORD: &str = "app.example.com.";

pub fn registry() -> Registry {
    let mut r = Registry::new();
    dr_aws::register(&mut r);
    r
}

/// Settings with `endpoint_url`, `region` and a fast `poll_every` added.
pub fn settings(name: &str, provider: &str, endpoint: &str, mut v: Value) -> Settings {
    let m = v.as_object_mut().expect("object");
    m.insert("endpoint_url".into(), json!(endpoint));
    m.entry("region").or_insert(json!(REGION));
    m.insert("poll_every".into(), json!("10ms"));
    m.insert("wait".into(), json!("20s"));
    Settings::from_json(name, provider, v)
}

pub fn router(s: &Settings) -> Arc<dyn TrafficRouter> {
    registry()
        .build_router(s)
        .expect("registered")
        .expect("valid settings")
}
pub fn store(s: &Settings) -> Arc<dyn DataStore> {
    registry()
        .build_store(s)
        .expect("registered")
        .expect("valid settings")
}
pub fn replicator(s: &Settings) -> Arc<dyn Replicator> {
    registry()
        .build_replicator(s)
        .expect("registered")
        .expect("valid settings")
}
pub fn probe(s: &Settings) -> Arc<dyn HealthProbe> {
    registry()
        .build_probe(s)
        .expect("registered")
        .expect("valid settings")
}
pub fn action(name: &str, s: &Settings) -> Arc<dyn Action> {
    registry()
        .build_action(name, s)
        .expect("registered")
        .expect("valid settings")
}

fn record(set_id: &str, ip: &str) -> aws_sdk_route53::types::builders::ResourceRecordSetBuilder {
    ResourceRecordSet::builder()
        .name(RECORD)
        .r#type(RrType::A)
        .set_identifier(set_id)
        .ttl(60)
        .resource_records(ResourceRecord::builder().value(ip).build().unwrap())
}

/// A hosted zone with weighted records `east` (weight `east_w`) and `west`
/// (`100 - east_w`) for [`RECORD`]; returns the zone id.
pub async fn weighted_zone(moto: &MotoServer, east_w: i64) -> String {
    let r53 = moto.route53().await;
    let zone = r53
        .create_hosted_zone()
        .name("example.com")
        .caller_reference(format!("dr-{east_w}"))
        .send()
        .await
        .unwrap();
    let id = zone
        .hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_string();
    let changes = vec![
        record("east", "10.0.0.1").weight(east_w).build().unwrap(),
        record("west", "10.1.0.1")
            .weight(100 - east_w)
            .build()
            .unwrap(),
    ];
    create(moto, &id, changes).await;
    id
}

/// A hosted zone with failover records: `east` PRIMARY, `west` SECONDARY.
pub async fn failover_zone(moto: &MotoServer) -> String {
    let r53 = moto.route53().await;
    let zone = r53
        .create_hosted_zone()
        .name("example.com")
        .caller_reference("dr-failover")
        .send()
        .await
        .unwrap();
    let id = zone
        .hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_string();
    let changes = vec![
        record("east", "10.0.0.1")
            .failover(ResourceRecordSetFailover::Primary)
            .health_check_id("hc-east")
            .build()
            .unwrap(),
        record("west", "10.1.0.1")
            .failover(ResourceRecordSetFailover::Secondary)
            .build()
            .unwrap(),
    ];
    create(moto, &id, changes).await;
    id
}

async fn create(moto: &MotoServer, zone: &str, records: Vec<ResourceRecordSet>) {
    let batch = ChangeBatch::builder()
        .set_changes(Some(
            records
                .into_iter()
                .map(|r| {
                    Change::builder()
                        .action(ChangeAction::Create)
                        .resource_record_set(r)
                        .build()
                        .unwrap()
                })
                .collect(),
        ))
        .build()
        .unwrap();
    moto.route53()
        .await
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(batch)
        .send()
        .await
        .unwrap();
}

/// The records of [`RECORD`] by SetIdentifier, as the harness's own client reads them.
pub async fn records(moto: &MotoServer, zone: &str) -> Vec<ResourceRecordSet> {
    moto.route53()
        .await
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .unwrap()
        .resource_record_sets()
        .iter()
        .filter(|r| r.name() == RECORD)
        .cloned()
        .collect()
}

pub fn route53_settings(moto: &MotoServer, zone: &str, extra: Value) -> Settings {
    let mut v = json!({
        "hosted_zone_id": zone,
        "record_name": "app.example.com",
        "targets": { "east": "east", "west": "west" },
    });
    if let (Some(m), Value::Object(e)) = (v.as_object_mut(), extra) {
        m.extend(e);
    }
    settings("front", "aws.route53", &moto.url(), v)
}

/// Two versioned buckets and a replication rule `src` -> `dst`.
pub async fn replicated_buckets(moto: &MotoServer, src: &str, dst: &str) {
    moto.replicated_buckets(REGION, src, dst).await;
}

/// `(rule id, status, destination bucket ARN)` of `bucket`'s replication rules.
pub async fn rules(moto: &MotoServer, bucket: &str) -> Vec<(String, String, String)> {
    moto.replication_rules(REGION, bucket).await
}

/// ARC routing controls on the stand-in: `east` On, `west` Off.
pub fn arc_fake(fake: &FakeAws) {
    let mut s = fake.state();
    s.controls.insert("arn:aws:rc/east".into(), "On".into());
    s.controls.insert("arn:aws:rc/west".into(), "Off".into());
}

/// An `aws.arc_routing_control` resource over `endpoints` (`extra` keys added).
pub fn arc_settings(endpoints: &[String], extra: Value) -> Settings {
    let eps: Vec<_> = endpoints
        .iter()
        .map(|e| json!({"endpoint": e, "region": "us-west-2"}))
        .collect();
    let mut v = json!({
        "cluster_endpoints": eps,
        "targets": {"east": "arn:aws:rc/east", "west": "arn:aws:rc/west"},
    });
    if let (Some(m), Value::Object(e)) = (v.as_object_mut(), extra) {
        m.extend(e);
    }
    settings("arc", "aws.arc_routing_control", &endpoints[0], v)
}
