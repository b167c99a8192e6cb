//! An AWS failover and its failback, as plans run by the dr-core executor: Route 53
//! weighted records, EC2, Auto Scaling and S3 replication on a real moto server;
//! the RDS promotion (and CloudWatch `ReplicaLag`) on dr-aws's wiremock stand-in,
//! because moto leaves a promoted replica a replica and serves no CBOR.

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, HealthCheckConfig, HealthCheckType, ResourceRecord,
    ResourceRecordSet, RrType,
};
use dr_aws::testing::{FakeAws, MotoServer};
use dr_core::{LoadOptions, Plan, Registry};

use crate::common::{self, assert_all_succeeded, run};

const REGION: &str = "us-east-1";
const RECORD: &str = "app.example.com.";

fn registry() -> Registry {
    let mut r = common::registry();
    dr_aws::register(&mut r);
    r
}

fn parse(toml: &str) -> Plan {
    Plan::parse("plan.toml", toml, &registry(), &LoadOptions::default())
        .unwrap_or_else(|d| panic!("the plan does not validate:\n{d}\n{toml}"))
}

/// What the plans act on, made on moto and the stand-in with the harness's own clients.
struct World {
    moto: MotoServer,
    fake: FakeAws,
    zone: String,
    health_check: String,
    instance: String,
}

async fn world() -> World {
    let moto = MotoServer::start().await;
    let fake = FakeAws::start().await;

    // Route 53: east 100, west 0, TTL 60, and a health check for the gate.
    let r53 = moto.route53().await;
    let zone = r53
        .create_hosted_zone()
        .name("example.com")
        .caller_reference("dr-e2e")
        .send()
        .await
        .unwrap();
    let zone = zone
        .hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_string();
    let rec = |id: &str, ip: &str, w: i64| {
        Change::builder()
            .action(ChangeAction::Create)
            .resource_record_set(
                ResourceRecordSet::builder()
                    .name(RECORD)
                    .r#type(RrType::A)
                    .set_identifier(id)
                    .weight(w)
                    .ttl(60)
                    .resource_records(ResourceRecord::builder().value(ip).build().unwrap())
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    r53.change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(rec("east", "10.0.0.1", 100))
                .changes(rec("west", "10.1.0.1", 0))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let hc = r53
        .create_health_check()
        .caller_reference("dr-e2e-west")
        .health_check_config(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::Http)
                .ip_address("10.1.0.1")
                .port(80)
                .resource_path("/healthz")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let health_check = hc.health_check().unwrap().id().to_string();

    // EC2: a stopped standby. Auto Scaling: the west group at 0 (min 0, max 1).
    let ec2 = moto.ec2(REGION).await;
    let run = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let instance = run.instances()[0].instance_id().unwrap().to_string();
    ec2.stop_instances()
        .instance_ids(&instance)
        .send()
        .await
        .unwrap();
    let asg = moto.autoscaling(REGION).await;
    asg.create_launch_configuration()
        .launch_configuration_name("web-west")
        .image_id("ami-12c6146b")
        .instance_type("t3.micro")
        .send()
        .await
        .unwrap();
    asg.create_auto_scaling_group()
        .auto_scaling_group_name("web-west")
        .launch_configuration_name("web-west")
        .min_size(0)
        .max_size(1)
        .desired_capacity(0)
        .availability_zones("us-east-1a")
        .send()
        .await
        .unwrap();

    // S3: data-east -> data-west. RDS: db-west replicates db-east, 2 s behind.
    moto.replicated_buckets(REGION, "data-east", "data-west")
        .await;
    fake.add_rds_pair("db-east", &["db-west"]);
    fake.state().replica_lag.insert("db-west".into(), 2.0);
    fake.state().looks_to_finish = 3;

    World {
        moto,
        fake,
        zone,
        health_check,
        instance,
    }
}

fn resources(w: &World) -> String {
    let moto = w.moto.url();
    let fake = w.fake.url();
    format!(
        r#"
[resources.front]
provider = "aws.route53"
region = "{REGION}"
endpoint_url = "{moto}"
poll_every = "50ms"
hosted_zone_id = "{zone}"
record_name = "app.example.com"
targets = {{ east = "east", west = "west" }}

[resources.web_west]
provider = "aws.route53_health_check"
region = "{REGION}"
endpoint_url = "{moto}"
health_check_id = "{hc}"

[resources.db_west]
provider = "aws.rds"
region = "{REGION}"
endpoint_url = "{fake}"
poll_every = "50ms"
instance = "db-west"

[resources.objects]
provider = "aws.s3_replication"
region = "{REGION}"
endpoint_url = "{moto}"
bucket = "data-east"
destination_bucket = "data-west"
role_arn = "arn:aws:iam::123456789012:role/replication"

[resources.objects_back]
provider = "aws.s3_replication"
region = "{REGION}"
endpoint_url = "{moto}"
bucket = "data-west"
destination_bucket = "data-east"
role_arn = "arn:aws:iam::123456789012:role/replication"
"#,
        zone = w.zone,
        hc = w.health_check,
    )
}

fn failover_plan(w: &World) -> String {
    let moto = w.moto.url();
    format!(
        r#"
[plan]
name = "aws-east-to-west"
rto = "15m"
rpo = "1m"
{resources}
[[steps]]
id = "start-standby"
action = "aws.ec2.start_instances"
region = "{REGION}"
endpoint_url = "{moto}"
poll_every = "50ms"
instances = ["{instance}"]

[[steps]]
id = "scale-west"
action = "aws.autoscaling.set_capacity"
region = "{REGION}"
endpoint_url = "{moto}"
group = "web-west"
desired = 2
max = 4

[[steps]]
id = "check-lag"
action = "replication.check"
replicator = "db_west"
max_lag = "1m"

[[steps]]
id = "promote-db"
action = "datastore.promote"
store = "db_west"
max_lag = "1m"
depends_on = ["check-lag"]

[[steps]]
id = "stop-objects"
action = "replication.stop"
replicator = "objects"

[[steps]]
id = "reverse-objects"
action = "replication.reverse"
replicator = "objects"
depends_on = ["stop-objects"]

[[steps]]
id = "shift"
action = "traffic.shift"
router = "front"
to = "west"
phases = [50, 100]
gate = {{ probe = "web_west", times = 2, every = "50ms", timeout = "30s" }}
depends_on = ["start-standby", "scale-west", "promote-db", "reverse-objects"]
"#,
        resources = resources(w),
        instance = w.instance,
    )
}

fn failback_plan(w: &World) -> String {
    let moto = w.moto.url();
    format!(
        r#"
[plan]
name = "aws-west-to-east"
rto = "15m"
{resources}
[[steps]]
id = "shift-back"
action = "traffic.shift"
router = "front"
to = "east"
phases = [50, 100]
gate = {{ probe = "web_west", times = 1, every = "50ms", timeout = "30s" }}

[[steps]]
id = "scale-west-down"
action = "aws.autoscaling.set_capacity"
region = "{REGION}"
endpoint_url = "{moto}"
group = "web-west"
desired = 0
min = 0
max = 1
depends_on = ["shift-back"]

[[steps]]
id = "stop-objects-back"
action = "replication.stop"
replicator = "objects_back"
depends_on = ["shift-back"]

[[steps]]
id = "reverse-objects-back"
action = "replication.reverse"
replicator = "objects_back"
depends_on = ["stop-objects-back"]
"#,
        resources = resources(w),
    )
}

async fn weights(w: &World) -> Vec<(String, i64, Option<i64>)> {
    w.moto
        .route53()
        .await
        .list_resource_record_sets()
        .hosted_zone_id(&w.zone)
        .send()
        .await
        .unwrap()
        .resource_record_sets()
        .iter()
        .filter(|r| r.name() == RECORD)
        .map(|r| {
            (
                r.set_identifier().unwrap().to_string(),
                r.weight().unwrap(),
                r.ttl(),
            )
        })
        .collect()
}

async fn capacity(w: &World) -> (i32, i32, i32) {
    let out = w
        .moto
        .autoscaling(REGION)
        .await
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("web-west")
        .send()
        .await
        .unwrap();
    let g = &out.auto_scaling_groups()[0];
    (
        g.desired_capacity().unwrap(),
        g.min_size().unwrap(),
        g.max_size().unwrap(),
    )
}

fn rule(status: &str, to: &str) -> (String, String) {
    (status.to_string(), format!("arn:aws:s3:::{to}"))
}

async fn rules(w: &World, bucket: &str) -> Vec<(String, String)> {
    w.moto
        .replication_rules(REGION, bucket)
        .await
        .into_iter()
        .map(|(_, status, dest)| (status, dest))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aws_failover_and_its_failback_run_end_to_end() {
    let w = world().await;
    let state = tempfile::tempdir().unwrap();

    // Failover.
    let (_executor, outcome) = run(parse(&failover_plan(&w)), state.path()).await;
    assert_all_succeeded(&outcome);

    let mut weighted = weights(&w).await;
    weighted.sort();
    assert_eq!(
        weighted,
        [
            ("east".to_string(), 0, Some(60)),
            ("west".to_string(), 100, Some(60))
        ],
        "all traffic west, TTL kept"
    );
    let ec2 = w.moto.ec2(REGION).await;
    let described = ec2
        .describe_instances()
        .instance_ids(&w.instance)
        .send()
        .await
        .unwrap();
    let st = described.reservations()[0].instances()[0]
        .state()
        .unwrap()
        .name()
        .unwrap()
        .clone();
    assert_eq!(st, aws_sdk_ec2::types::InstanceStateName::Running);
    assert_eq!(capacity(&w).await, (2, 0, 4));
    {
        let s = w.fake.state();
        let db = &s.instances["db-west"];
        assert_eq!(
            (db.source.as_deref(), db.status.as_str()),
            (None, "available")
        );
    }
    let calls = w.fake.calls().await;
    assert_eq!(
        calls.iter().filter(|c| *c == "PromoteReadReplica").count(),
        1,
        "{calls:?}"
    );
    assert!(
        calls.iter().any(|c| c == "GetMetricStatistics"),
        "{calls:?}"
    );
    assert_eq!(
        rules(&w, "data-east").await,
        [rule("Disabled", "data-west")]
    );
    assert_eq!(rules(&w, "data-west").await, [rule("Enabled", "data-east")]);
    let report = &outcome.report;
    assert!(
        report
            .rpo_ms
            .is_some_and(|ms| (2_000..=60_000).contains(&ms)),
        "the RPO is the 2 s ReplicaLag: {report:?}"
    );
    assert!(report.rto_ms.is_some());

    // Failback: the original weights, capacity and replication direction.
    let (_executor, outcome) = run(parse(&failback_plan(&w)), state.path()).await;
    assert_all_succeeded(&outcome);
    let mut weighted = weights(&w).await;
    weighted.sort();
    assert_eq!(
        weighted,
        [
            ("east".to_string(), 100, Some(60)),
            ("west".to_string(), 0, Some(60))
        ]
    );
    assert_eq!(capacity(&w).await, (0, 0, 1));
    assert_eq!(rules(&w, "data-east").await, [rule("Enabled", "data-west")]);
    assert_eq!(
        rules(&w, "data-west").await,
        [rule("Disabled", "data-east")]
    );
    dr_core::audit::verify(state.path(), None).expect("audit chain intact");
}

#[test]
fn validation_refuses_what_the_aws_resources_cannot_do_before_anything_runs() {
    // No server is needed: factories do no I/O.
    let base = r#"
[plan]
name = "refused"

[resources.front]
provider = "aws.route53"
region = "us-east-1"
endpoint_url = "http://127.0.0.1:9"
hosted_zone_id = "Z1"
record_name = "app.example.com"
routing_policy = "failover"
targets = { east = "east", west = "west" }

[resources.aurora]
provider = "aws.aurora_global"
region = "us-east-1"
endpoint_url = "http://127.0.0.1:9"
global_cluster = "g"
cluster = "app-west"
"#;
    let shift = r#"
[[steps]]
id = "shift"
action = "traffic.shift"
router = "front"
to = "west"
phases = [50, 100]
"#;
    let e = Plan::parse(
        "plan.toml",
        &format!("{base}{shift}"),
        &registry(),
        &LoadOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("router `front` (provider `aws.route53`) cannot split traffic by weight"),
        "a phased shift on a failover-only router: {e}"
    );

    let failover = base.replace(
        "cluster = \"app-west\"",
        "cluster = \"app-west\"\nmode = \"failover\"",
    );
    let promote = r#"
[[steps]]
id = "promote"
action = "datastore.promote"
store = "aurora"
"#;
    let e = Plan::parse(
        "plan.toml",
        &format!("{failover}{promote}"),
        &registry(),
        &LoadOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("allow_data_loss"), "{e}");
    let consented = failover.replace(
        "mode = \"failover\"",
        "mode = \"failover\"\nallow_data_loss = true",
    );
    parse(&format!("{consented}{promote}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_overrides_an_arc_safety_rule_is_recorded_in_the_audit_log() {
    let fake = FakeAws::start().await;
    let rule = "arn:aws:route53-recovery-control::123456789012:controlpanel/p/safetyrule/two-on";
    {
        let mut s = fake.state();
        s.controls.insert("arn:aws:rc/east".into(), "On".into());
        s.controls.insert("arn:aws:rc/west".into(), "Off".into());
        s.min_on_rules.push((rule.into(), 2));
    }
    let plan = format!(
        r#"
[plan]
name = "arc-break-glass"

[[steps]]
id = "arc-to-west"
action = "aws.arc.set_routing_control"
region = "us-west-2"
cluster_endpoints = [{{ endpoint = "{url}", region = "us-west-2" }}]
targets = {{ east = "arn:aws:rc/east", west = "arn:aws:rc/west" }}
to = "west"
override_safety_rules = ["{rule}"]
"#,
        url = fake.url()
    );
    let state = tempfile::tempdir().unwrap();
    let (_executor, outcome) = run(parse(&plan), state.path()).await;
    assert_all_succeeded(&outcome);
    assert_eq!(fake.state().controls["arn:aws:rc/west"], "On");
    let audit = std::fs::read_to_string(state.path().join("audit.jsonl")).unwrap();
    let entry = audit
        .lines()
        .find(|l| l.contains("safety_rules_overridden"))
        .unwrap_or_else(|| panic!("no audit entry names the override:\n{audit}"));
    assert!(entry.contains(rule), "{entry}");
    assert!(entry.contains("arc-to-west"), "{entry}");
}
