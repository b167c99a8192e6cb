//! Seed 002, `examples/plans/guiding-care-tiers/`: Guiding Care us-east-1 ->
//! us-east-2 tier by tier (health-check gates, an approval, the Aurora global
//! writer and S3 documents, then the ARC portal/API/database routing controls
//! under an assertion safety rule, then weighted reporting) and back, through
//! `dr drill`, against a real moto server (Route 53 records, S3 replication) and
//! dr-aws's wiremock stand-in (ARC, Aurora global switchover, Route 53
//! health-check status: moto simulates none of them).
//!
//! The fixtures moto holds are made with boto3 from moto's own venv (dr-cli has
//! no AWS SDK crates of its own), and read back the same way.

use dr_aws::testing::{ACCOUNT, FakeAws, FakeGlobal, MotoServer};
use serde_json::{Value, json};

use crate::playbook::{Drill, Retarget, assert_met, boto, enabled_rules, example, fast, webhook};

const AWS_SECRET: &str = "guiding-care-aws-secret-8b3f2d";
const PANEL: &str = "controlpanel/5d2c1e7a9f4b4c0e8a3b6d1f2e9c7a45";
const DOCS_USE1: &str = "gc-documents-use1";
const DOCS_USE2: &str = "gc-documents-use2";
const HEALTH_CHECKS: [&str; 6] = [
    "b7e4a1c9-3d2f-4e8a-9c61-0f5d2a8e7b34",
    "c2f9d8e1-6a4b-4b7c-8e03-5d1a9f6c2e78",
    "d4a6b3f2-8c1e-4f9d-a752-3e0b7c9d1f56",
    "e8c3f1a7-2b9d-4c6e-b1f4-7a5d3e2c8b90",
    "f1b7e2d4-9a3c-4d8f-a6e2-1c9b5f7d3a12",
    "a9d2c5e8-4f1b-4a7c-9d3e-6b8f2a1c5e47",
];

fn control(cell: &str, region: &str) -> String {
    format!("arn:aws:route53-recovery-control::{ACCOUNT}:{PANEL}/routingcontrol/{cell}-{region}")
}

fn cluster(region: &str) -> String {
    format!(
        "arn:aws:rds:{region}:{ACCOUNT}:cluster:gc-aurora-{}",
        region.replace("us-east-", "use")
    )
}

/// reports.guidingcare.com: weighted, all on us-east-1.
const SETUP: &str = r#"
r53 = boto3.client("route53", endpoint_url=EP)
zone = r53.create_hosted_zone(Name="guidingcare.com", CallerReference="gc")["HostedZone"]["Id"].split("/")[-1]
def rec(set_id, ip, weight):
    return {"Action": "CREATE", "ResourceRecordSet": {"Name": "reports.guidingcare.com", "Type": "A",
        "SetIdentifier": set_id, "Weight": weight, "TTL": 60, "ResourceRecords": [{"Value": ip}]}}
r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
    rec("reports-use1", "203.0.113.40", 100), rec("reports-use2", "198.51.100.40", 0)]})
print(json.dumps(zone))
"#;

/// The reporting records: set id -> (weight, TTL, values).
fn reports(moto: &MotoServer, zone: &str) -> Value {
    boto(
        &moto.url(),
        &format!(
            r#"
r53 = boto3.client("route53", endpoint_url=EP)
print(json.dumps({{r["SetIdentifier"]: [r["Weight"], r["TTL"], [v["Value"] for v in r["ResourceRecords"]]]
    for r in r53.list_resource_record_sets(HostedZoneId={zone:?})["ResourceRecordSets"] if "SetIdentifier" in r}}))
"#
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guiding_care_fails_over_tier_by_tier_and_back_through_dr_drill() {
    let moto = MotoServer::start().await;
    let fake = FakeAws::start().await;
    let zone = boto(&moto.url(), SETUP);
    let zone = zone.as_str().unwrap();

    // Documents replicate us-east-1 -> us-east-2; the canary's copy in
    // us-east-2 is a few seconds old (moto never replicates objects).
    moto.replicated_buckets("us-east-1", DOCS_USE1, DOCS_USE2)
        .await;
    moto.s3("us-east-1")
        .await
        .put_object()
        .bucket(DOCS_USE2)
        .key("dr/canary")
        .body(
            (chrono::Utc::now() - chrono::Duration::seconds(5))
                .to_rfc3339()
                .into_bytes()
                .into(),
        )
        .send()
        .await
        .unwrap();

    // ARC: every cell On in us-east-1, and the assertion rule "at least 3
    // controls On" (one region per cell); the Aurora writer in us-east-1;
    // every Route 53 health check passing on its 3 checkers.
    let rule = format!(
        "arn:aws:route53-recovery-control::{ACCOUNT}:{PANEL}/safetyrule/one-region-per-cell"
    );
    {
        let mut s = fake.state();
        for cell in ["portal", "api", "database"] {
            s.controls.insert(control(cell, "use1"), "On".into());
            s.controls.insert(control(cell, "use2"), "Off".into());
        }
        s.min_on_rules.push((rule.clone(), 3));
        s.globals.insert(
            "gc-aurora-global".into(),
            FakeGlobal {
                members: vec![(cluster("us-east-1"), true), (cluster("us-east-2"), false)],
                switching: None,
            },
        );
        for id in HEALTH_CHECKS {
            s.health_checks.insert(id.into(), vec![true; 3]);
        }
        s.looks_to_finish = 2;
    }
    let hook = webhook(2).await;

    let retarget = Retarget::new()
        .replace("Z05918273B4XK1QJ7DNSC", zone)
        .replace(
            "https://a1b2c3d4.route53-recovery-cluster.us-east-1.amazonaws.com/v1",
            fake.url(),
        )
        .replace(
            "https://e5f6a7b8.route53-recovery-cluster.us-west-2.amazonaws.com/v1",
            fake.url(),
        )
        .add_setting(
            "aws.route53_health_check",
            format!("endpoint_url = \"{}\"", fake.url()),
        )
        .add_setting(
            "aws.aurora_global",
            format!("endpoint_url = \"{}\"", fake.url()),
        )
        .add_setting("aws.", "poll_every = \"50ms\"");
    let plans = retarget.apply_all(&[
        &example("guiding-care-tiers/failover.toml"),
        &example("guiding-care-tiers/failback.toml"),
    ]);
    let drill = Drill::new(&fast(&plans[0]), &fast(&plans[1]))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", moto.url())
        .env("AWS_ACCOUNT_ID", ACCOUNT)
        .env("DR_NOTIFY_WEBHOOK", format!("{}/hook", hook.uri()));
    drill.validate();

    let start_reports = reports(&moto, zone);
    assert_eq!(start_reports["reports-use1"][0], 100, "{start_reports}");
    let start_controls = fake.state().controls.clone();
    let start_global = fake.state().globals.clone();
    let use1_to_use2 = vec![format!("arn:aws:s3:::{DOCS_USE2}")];
    assert_eq!(
        enabled_rules(&moto.replication_rules("us-east-1", DOCS_USE1).await),
        use1_to_use2
    );

    let (out, report) = drill.run(&["--approve", "data-tier", "--approve", "data-tier-back"]);
    assert_met(&out, &report, true);
    assert_eq!(report["failover"]["plan"], "guiding-care-use1-to-use2");
    assert_eq!(report["failback"]["plan"], "guiding-care-use2-to-use1");
    for run in ["failover", "failback"] {
        assert!(
            report[run]["rto_ms"].as_u64().unwrap() < 3_600_000,
            "{report:#}"
        );
        // The documents' canary lag: seconds, within the 15 min target.
        let rpo = report[run]["rpo_ms"].as_u64().unwrap();
        assert!(rpo < 900_000, "{run}: {report:#}");
    }
    let checks = report["check"].to_string();
    for what in [
        "\"portal\"",
        "\"api\"",
        "\"database\"",
        "\"reports\"",
        "\"aurora_use2\"",
    ] {
        assert!(checks.contains(what), "{what}: {checks}");
    }

    // ARC: each cell changed in one update (3 out, 3 back), none overriding
    // the safety rule; the writer switched over (no failover, no data loss)
    // to us-east-2 and back.
    let requests = fake.requests_with_params().await;
    let updates: Vec<&Value> = requests
        .iter()
        .filter(|(op, _)| op == "UpdateRoutingControlStates")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(updates.len(), 6, "{updates:#?}");
    for u in &updates {
        assert_eq!(
            u["UpdateRoutingControlStateEntries"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let overridden = u.get("SafetyRulesToOverride").cloned().unwrap_or(json!([]));
        assert_eq!(overridden, json!([]), "{u}");
    }
    let switchovers: Vec<String> = requests
        .iter()
        .filter(|(op, _)| op.ends_with("GlobalCluster") && !op.starts_with("Describe"))
        .map(|(op, p)| {
            format!(
                "{op} {}",
                p["TargetDbClusterIdentifier"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        switchovers,
        [
            format!("SwitchoverGlobalCluster {}", cluster("us-east-2")),
            format!("SwitchoverGlobalCluster {}", cluster("us-east-1")),
        ]
    );
    // The data tier moved only after the approval: the first switchover came
    // after every pre-flight health check of us-east-2.
    let first_switch = requests
        .iter()
        .position(|(op, _)| op == "SwitchoverGlobalCluster")
        .unwrap();
    let health_before = requests[..first_switch]
        .iter()
        .filter(|(op, _)| op == "GetHealthCheckStatus")
        .count();
    assert!(
        health_before >= 6,
        "3 looks each at portal and API: {health_before}"
    );
    assert!(
        !requests[..first_switch]
            .iter()
            .any(|(op, _)| op == "UpdateRoutingControlStates"),
        "no routing control moves before the data tier"
    );

    // The end equals the start: controls, writer, weights, replication
    // direction (us-east-2 -> us-east-1 left disabled).
    assert_eq!(fake.state().controls, start_controls);
    assert_eq!(fake.state().globals, start_global);
    assert_eq!(reports(&moto, zone), start_reports);
    assert_eq!(
        enabled_rules(&moto.replication_rules("us-east-1", DOCS_USE1).await),
        use1_to_use2
    );
    assert!(enabled_rules(&moto.replication_rules("us-east-1", DOCS_USE2).await).is_empty());

    let seen = drill.seen(&out);
    assert!(seen.contains("aurora-to-use2"));
    assert!(!seen.contains(AWS_SECRET), "a secret leaked");
}
