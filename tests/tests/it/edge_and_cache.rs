//! One plan across two provider crates: a Cloudflare DNS record (on a wiremock
//! fake of the API) goes to a maintenance host while a real Redis replica takes
//! over as primary by planned switchover, then the record points at west.

use std::sync::{Arc, Mutex};

use dr_redis::testing::{Reply, pair};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::common::{assert_all_succeeded, parse, run};

const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";
const RECORD: &str = "372e67954025e0ba6aaa6d586b9e0b59";
const EAST_IP: &str = "203.0.113.10";
const WEST_IP: &str = "198.51.100.20";
const MAINTENANCE: &str = "maint.example.com";

fn record_path() -> String {
    format!("/zones/{ZONE}/dns_records/{RECORD}")
}

fn envelope(result: Value) -> Value {
    json!({ "success": true, "errors": [], "messages": [], "result": result })
}

/// GET returns the record; PATCH merges the body into it and returns it.
struct DnsRecord(Arc<Mutex<Value>>);

impl Respond for DnsRecord {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut record = self.0.lock().unwrap();
        if request.method.as_str() == "PATCH" {
            let Ok(Value::Object(patch)) = serde_json::from_slice::<Value>(&request.body) else {
                return ResponseTemplate::new(400).set_body_json(json!({
                    "success": false, "errors": [{ "code": 1004, "message": "Invalid request body" }],
                    "messages": [], "result": null
                }));
            };
            for (k, v) in patch {
                record[&k] = v;
            }
        }
        ResponseTemplate::new(200)
            .insert_header("cf-ray", "8c1e2d3f4a5b6c7d-IAD")
            .set_body_json(envelope(record.clone()))
    }
}

async fn fake_cloudflare() -> (MockServer, Arc<Mutex<Value>>) {
    let server = MockServer::start().await;
    let record = Arc::new(Mutex::new(json!({
        "id": RECORD, "zone_id": ZONE, "type": "A", "name": "www-sec.example.com",
        "content": EAST_IP, "proxiable": true, "proxied": false, "ttl": 60,
        "created_on": "2024-08-06T10:00:00Z", "modified_on": "2024-08-06T10:00:00Z",
    })));
    for m in ["GET", "PATCH"] {
        Mock::given(method(m))
            .and(path(record_path()))
            .respond_with(DnsRecord(record.clone()))
            .mount(&server)
            .await;
    }
    (server, record)
}

fn plan(api_base: &str, east: &str, west: &str) -> String {
    format!(
        r#"
[plan]
name = "edge-and-cache"
rto = "10m"
rpo = "1m"

[resources.www]
provider = "cloudflare.dns_record"
api_base = "{api_base}"
token = "test-token"
zone_id = "{ZONE}"
record = "{RECORD}"
targets = {{ east = "{EAST_IP}", west = "{WEST_IP}", maintenance = "{MAINTENANCE}" }}

[resources.cache_west]
provider = "redis"
url = "{west}"
peer = "{east}"
timeout = "2s"                  # promote = "auto": a planned FAILOVER while east is up

[resources.cache_east]
provider = "redis"
url = "{east}"
peer = "{west}"
timeout = "2s"

[resources.west_is_primary]
provider = "redis"
url = "{west}"
expect_role = "primary"
timeout = "2s"

[[steps]]
id = "maintenance"
action = "traffic.set"
router = "www"
split = {{ maintenance = 100 }}

[[steps]]
id = "promote-cache"
action = "datastore.promote"
store = "cache_west"
max_lag = "1m"
depends_on = ["maintenance"]

[[steps]]
id = "fence-east"
action = "datastore.fence"
store = "cache_east"
depends_on = ["promote-cache"]

[[steps]]
id = "west-ready"
action = "probe.wait"
probe = "west_is_primary"
times = 2
every = "100ms"
timeout = "30s"
depends_on = ["fence-east"]

[[steps]]
id = "to-west"
action = "traffic.set"
router = "www"
split = {{ west = 100 }}
depends_on = ["west-ready"]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_goes_to_maintenance_while_redis_fails_over_then_to_west() {
    let (cf, record) = fake_cloudflare().await;
    let (east, west) = pair().await;
    assert_eq!(
        east.set("cart:7", "3 items").await,
        Reply::Simple("OK".into())
    );
    west.wait_for_key("cart:7", "3 items").await;
    west.wait_in_sync_with(&east).await;

    let state = tempfile::tempdir().unwrap();
    let text = plan(&cf.uri(), &east.url(), &west.url());
    let (_executor, outcome) = run(parse(&text), state.path()).await;
    assert_all_succeeded(&outcome);

    // Cloudflare got exactly two writes, maintenance then west, each with the
    // record type following the content, and every call carried the token.
    let requests = cf.received_requests().await.unwrap();
    for r in &requests {
        assert_eq!(
            r.headers.get("authorization").and_then(|v| v.to_str().ok()),
            Some("Bearer test-token"),
            "{} {}",
            r.method,
            r.url
        );
    }
    let patches: Vec<Value> = requests
        .iter()
        .filter(|r| r.method.as_str() == "PATCH")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(
        patches,
        vec![
            json!({ "type": "CNAME", "name": "www-sec.example.com", "content": MAINTENANCE }),
            json!({ "type": "A", "name": "www-sec.example.com", "content": WEST_IP }),
        ]
    );
    assert_eq!(record.lock().unwrap()["content"], WEST_IP);

    // The planned switchover kept the data: west is the primary with east's key,
    // and east follows it, refusing writes.
    assert_eq!(west.info_field("role").await.as_deref(), Some("master"));
    assert_eq!(west.get("cart:7").await.as_deref(), Some("3 items"));
    assert_eq!(
        west.set("after", "switchover").await,
        Reply::Simple("OK".into())
    );
    assert_eq!(east.info_field("role").await.as_deref(), Some("slave"));
    assert_eq!(
        east.info_field("master_port").await,
        Some(west.port().to_string())
    );
    assert_eq!(east.set("x", "1").await.error_code(), Some("READONLY"));
    east.wait_for_key("after", "switchover").await;

    let report = &outcome.report;
    assert!(report.rpo_ms.is_some_and(|ms| ms <= 60_000), "{report:?}");
    assert!(report.rto_ms.is_some());
    dr_core::audit::verify(state.path(), None).expect("audit chain intact");
}
