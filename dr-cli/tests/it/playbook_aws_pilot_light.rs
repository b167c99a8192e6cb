//! Seeds 003 and 004, `examples/plans/aws-pilot-light/`: the pilot light
//! us-east-1 -> us-west-2 (DR web servers scaled up, the RDS read replica
//! promoted, the services' database name and www failed over in Route 53, S3
//! replication reversed) and back, through `dr drill`, against a real moto
//! server (Route 53, Auto Scaling, S3) and dr-aws's wiremock stand-in (RDS
//! promotion and CloudWatch `ReplicaLag`, which moto does not simulate).
//!
//! The fixtures moto holds are made with boto3 from moto's own venv (dr-cli has
//! no AWS SDK crates of its own), and read back the same way.

use std::sync::Arc;

use dr_aws::testing::{ACCOUNT, FakeAws, FakeInstance, MotoServer};
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::playbook::{
    Drill, Retarget, assert_met, boto, enabled_rules, example, fast, healthz, webhook,
};

const AWS_SECRET: &str = "pilot-light-aws-secret-5c1e9a";
const DB_EAST: &str = "xyz-web-db";
const DB_WEST: &str = "xyz-web-db-west";
const UPLOADS_EAST: &str = "xyz-web-uploads-use1";
const UPLOADS_WEST: &str = "xyz-web-uploads-usw2";

/// Route 53 (www failover A records with health checks, the database CNAME
/// failover records) and the DR Auto Scaling group at the pilot light's 0.
const SETUP: &str = r#"
r53 = boto3.client("route53", endpoint_url=EP)
def zone(name):
    return r53.create_hosted_zone(Name=name, CallerReference=name)["HostedZone"]["Id"].split("/")[-1]
def check(ip):
    return r53.create_health_check(CallerReference=ip, HealthCheckConfig={
        "Type": "HTTPS", "IPAddress": ip, "Port": 443, "ResourcePath": "/healthz"})["HealthCheck"]["Id"]
www, db = zone("xyz-corp.com"), zone("xyz-corp.internal")
hc_east, hc_west = check("203.0.113.10"), check("198.51.100.20")
def rec(name, kind, set_id, role, value, hc=None):
    r = {"Name": name, "Type": kind, "SetIdentifier": set_id, "Failover": role, "TTL": 60,
         "ResourceRecords": [{"Value": value}]}
    if hc:
        r["HealthCheckId"] = hc
    return {"Action": "CREATE", "ResourceRecordSet": r}
r53.change_resource_record_sets(HostedZoneId=www, ChangeBatch={"Changes": [
    rec("www.xyz-corp.com", "A", "www-us-east-1", "PRIMARY", "203.0.113.10", hc_east),
    rec("www.xyz-corp.com", "A", "www-us-west-2", "SECONDARY", "198.51.100.20", hc_west)]})
r53.change_resource_record_sets(HostedZoneId=db, ChangeBatch={"Changes": [
    rec("db.xyz-corp.internal", "CNAME", "db-us-east-1", "PRIMARY", "xyz-web-db.c9akciq32.us-east-1.rds.amazonaws.com"),
    rec("db.xyz-corp.internal", "CNAME", "db-us-west-2", "SECONDARY", "xyz-web-db-west.c7bqwj1x4.us-west-2.rds.amazonaws.com")]})
asg = boto3.client("autoscaling", endpoint_url=EP, region_name="us-west-2")
asg.create_launch_configuration(LaunchConfigurationName="xyz-web-west", ImageId="ami-12c6146b", InstanceType="t3.medium")
asg.create_auto_scaling_group(AutoScalingGroupName="xyz-web-west", LaunchConfigurationName="xyz-web-west",
    MinSize=0, MaxSize=6, DesiredCapacity=0, AvailabilityZones=["us-west-2a", "us-west-2b"])
print(json.dumps({"www": www, "db": db, "hc_east": hc_east, "hc_west": hc_west}))
"#;

/// What the plans change in moto: every record set of both zones (who is
/// PRIMARY, values, TTL, health check) and the DR group's capacity and instances.
fn world(moto: &MotoServer, zones: &Value) -> Value {
    boto(
        &moto.url(),
        &format!(
            r#"
r53 = boto3.client("route53", endpoint_url=EP)
records = {{}}
for z in [{www:?}, {db:?}]:
    for r in r53.list_resource_record_sets(HostedZoneId=z)["ResourceRecordSets"]:
        if "SetIdentifier" in r:
            records[r["SetIdentifier"]] = [r["Failover"], r["TTL"], r.get("HealthCheckId"),
                                           [v["Value"] for v in r["ResourceRecords"]]]
asg = boto3.client("autoscaling", endpoint_url=EP, region_name="us-west-2")
g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["xyz-web-west"])["AutoScalingGroups"][0]
print(json.dumps({{"records": records,
    "asg": [g["DesiredCapacity"], g["MinSize"], g["MaxSize"], len(g["Instances"])]}}))
"#,
            www = zones["www"].as_str().unwrap(),
            db = zones["db"].as_str().unwrap(),
        ),
    )
}

/// The stand-in for the failback's `exec` steps (`aws rds delete-db-instance`,
/// then `create-db-instance-read-replica`): `POST /reprotect/REPLICA/SOURCE`
/// makes REPLICA a fresh read replica of SOURCE in the RDS stand-in, 3 s behind.
struct Reprotect(Arc<FakeAws>);

impl Respond for Reprotect {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let parts: Vec<&str> = req.url.path().split('/').collect();
        let [_, "reprotect", replica, source] = parts[..] else {
            return ResponseTemplate::new(404);
        };
        let mut s = self.0.state();
        s.instances.insert(
            replica.to_string(),
            FakeInstance {
                status: "available".into(),
                source: Some(source.to_string()),
                replication: Some("replicating".into()),
                promoting: None,
            },
        );
        s.replica_lag.insert(replica.to_string(), 3.0);
        ResponseTemplate::new(200)
    }
}

/// The `command = ".."` of step `id` in `plan`.
fn command_of(plan: &str, id: &str) -> String {
    let at = plan
        .find(&format!("id = \"{id}\""))
        .unwrap_or_else(|| panic!("no step {id}"));
    let line = plan[at..]
        .lines()
        .find(|l| l.starts_with("command = \""))
        .unwrap_or_else(|| panic!("step {id} has no command"));
    line["command = \"".len()..line.len() - 1].to_string()
}

fn rds_roles(fake: &FakeAws) -> Vec<(String, Option<String>, Option<String>, String)> {
    fake.state()
        .instances
        .iter()
        .map(|(id, i)| {
            (
                id.clone(),
                i.source.clone(),
                i.replication.clone(),
                i.status.clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pilot_light_fails_over_east_to_west_and_back_through_dr_drill() {
    let moto = MotoServer::start().await;
    let fake = Arc::new(FakeAws::start().await);
    let zones = boto(&moto.url(), SETUP);
    moto.replicated_buckets("us-east-1", UPLOADS_EAST, UPLOADS_WEST)
        .await;
    fake.add_rds_pair(DB_EAST, &[DB_WEST]);
    {
        let mut s = fake.state();
        s.replica_lag.insert(DB_WEST.into(), 4.0);
        s.looks_to_finish = 2;
    }

    // Both regions' web tiers answer on their ELBs; the webhook takes the
    // notifications; the re-protect stand-in takes the failback's commands.
    let web = healthz().await;
    let hook = webhook(2).await;
    let reprotect = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Reprotect(fake.clone()))
        .expect(2)
        .mount(&reprotect)
        .await;

    let failover = example("aws-pilot-light/failover.toml");
    let failback = example("aws-pilot-light/failback.toml");
    let curl = |replica: &str, source: &str| {
        format!(
            "curl -fsS -X POST {}/reprotect/{replica}/{source}",
            reprotect.uri()
        )
    };
    let retarget = Retarget::new()
        .replace("Z0427913CQ2JX1SX7R8FA", zones["www"].as_str().unwrap())
        .replace("Z07391402ZD1VO3B5J0QF", zones["db"].as_str().unwrap())
        .replace(
            "3f8e2c71-5b0d-4d6a-9e4f-2a7c1d9b6e05",
            zones["hc_west"].as_str().unwrap(),
        )
        .replace(
            "9c41d7a2-0e6b-4f38-8d15-7b2e5a3c9f10",
            zones["hc_east"].as_str().unwrap(),
        )
        .replace("https://www-west.xyz-corp.com", web.uri())
        .replace("https://www-east.xyz-corp.com", web.uri())
        .replace(
            &command_of(&failback, "reprotect-db-east"),
            curl(DB_EAST, DB_WEST),
        )
        .replace(
            &command_of(&failback, "reprotect-db-west"),
            curl(DB_WEST, DB_EAST),
        )
        .add_setting("aws.rds", format!("endpoint_url = \"{}\"", fake.url()))
        .add_setting("aws.", "poll_every = \"50ms\"");
    let plans = retarget.apply_all(&[&failover, &failback]);
    let drill = Drill::new(&fast(&plans[0]), &fast(&plans[1]))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", moto.url())
        .env("AWS_ACCOUNT_ID", ACCOUNT)
        .env("DR_NOTIFY_WEBHOOK", format!("{}/hook", hook.uri()));
    drill.validate();

    // The start: us-east-1 PRIMARY for www and the database name, no DR web
    // server, the east database primary with the west one replicating from it,
    // uploads replicating east -> west only.
    let start = world(&moto, &zones);
    assert_eq!(start["records"]["www-us-east-1"][0], "PRIMARY", "{start}");
    assert_eq!(start["records"]["db-us-east-1"][0], "PRIMARY", "{start}");
    assert_eq!(start["asg"], serde_json::json!([0, 0, 6, 0]));
    let roles = rds_roles(&fake);
    let east_to_west = vec![format!("arn:aws:s3:::{UPLOADS_WEST}")];
    assert_eq!(
        enabled_rules(&moto.replication_rules("us-east-1", UPLOADS_EAST).await),
        east_to_west
    );
    assert!(enabled_rules(&moto.replication_rules("us-east-1", UPLOADS_WEST).await).is_empty());

    let (out, report) = drill.run(&["--approve", "go-back"]);
    assert_met(&out, &report, true);
    assert_eq!(report["failover"]["plan"], "aws-pilot-light-east-to-west");
    assert_eq!(report["failback"]["plan"], "aws-pilot-light-west-to-east");
    // RTO 5 min, RPO 15 min; the RPO is the replica's lag when promoted (4 s
    // on the way out, 3 s on the way back).
    for (run, lag) in [("failover", 4_000), ("failback", 3_000)] {
        let rpo = report[run]["rpo_ms"].as_u64().unwrap();
        assert!((lag..60_000).contains(&rpo), "{run}: {report:#}");
        assert!(report[run]["rto_ms"].as_u64().unwrap() < 300_000);
    }
    // The check after the failover saw www and the database name on
    // us-west-2 and the west database primary.
    let checks = report["check"].to_string();
    for what in ["\"www\"", "\"db_endpoint\"", "\"db_west\"", "\"role\""] {
        assert!(checks.contains(what), "{what}: {checks}");
    }

    // The replica was promoted, then the east one (after re-protection).
    let promotes: Vec<String> = fake
        .requests_with_params()
        .await
        .into_iter()
        .filter(|(op, _)| op == "PromoteReadReplica")
        .map(|(_, p)| p["DBInstanceIdentifier"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(promotes, [DB_WEST, DB_EAST]);

    // The end equals the start: records, capacity, database roles and the
    // direction of S3 replication (west -> east is left disabled).
    assert_eq!(world(&moto, &zones), start);
    assert_eq!(rds_roles(&fake), roles);
    assert_eq!(
        enabled_rules(&moto.replication_rules("us-east-1", UPLOADS_EAST).await),
        east_to_west
    );
    assert!(enabled_rules(&moto.replication_rules("us-east-1", UPLOADS_WEST).await).is_empty());

    // Two notifications and two re-protections (the mocks' `expect(2)` are
    // checked when they drop); no secret in what dr printed or kept.
    let seen = drill.seen(&out);
    assert!(seen.contains("promote-db-west"));
    assert!(!seen.contains(AWS_SECRET), "a secret leaked");
}
