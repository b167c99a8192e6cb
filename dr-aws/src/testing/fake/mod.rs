//! Stand-ins on wiremock for what moto 5.2.5 does not do, speaking each API's
//! real wire protocol (from the botocore/Smithy models):
//!
//! - RDS (query protocol, `POST /`, `Action=..`, XML answers): a replica that
//!   really becomes a primary after `PromoteReadReplica` (moto leaves it a
//!   replica), `StatusInfos`, `StopDBInstance`, Aurora global clusters with
//!   `SwitchoverGlobalCluster` / `FailoverGlobalCluster` (moto: HTTP 500);
//! - CloudWatch (Smithy RPC v2 CBOR, `POST /service/GraniteServiceVersion20100801/operation/<Op>`,
//!   which moto answers 404): `DescribeAlarms`, `GetMetricStatistics` (`ReplicaLag`);
//! - Route 53 ARC cluster (awsJson 1.0, `X-Amz-Target: ToggleCustomerAPI.<Op>`;
//!   moto: no backend): routing control states, safety rules;
//! - Route 53 `GetHealthCheckStatus` (rest-xml; moto always says Success).
//!
//! State lives in [`FakeState`]; every request is kept by wiremock
//! ([`FakeAws::calls`] lists them as `Action`/operation names). Failures are
//! queued per operation ([`FakeAws::fail_next`]) in the protocol's error shape.
//!
//! This file holds the state, the server and the dispatch by protocol; each
//! service's answers are in its own file (`rds.rs`, `cloudwatch.rs`, `arc.rs`,
//! `route53.rs`).

mod arc;
mod cloudwatch;
mod rds;
mod route53;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use ciborium::Value as Cbor;
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use arc::json_error;
use cloudwatch::{cbor_response, cbor_to_json, cmap};
use rds::query_error;

/// One DB instance of the fake.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeInstance {
    /// `DBInstanceStatus`.
    pub status: String,
    /// `ReadReplicaSourceDBInstanceIdentifier`.
    pub source: Option<String>,
    /// `StatusInfos` `read replication` status (`replicating`, `error`, ..).
    pub replication: Option<String>,
    /// Describes left before a promotion under way finishes.
    pub promoting: Option<u32>,
}

/// One global cluster of the fake: members (ARN, is writer) and a switchover
/// under way (target ARN, describes left).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FakeGlobal {
    /// `GlobalClusterMembers`: (`DBClusterArn`, `IsWriter`).
    pub members: Vec<(String, bool)>,
    /// `FailoverState`: to which member, and describes left before it is done.
    pub switching: Option<(String, u32, bool)>,
}

/// What the fake holds.
#[derive(Debug, Default)]
pub struct FakeState {
    /// DB instances by identifier.
    pub instances: BTreeMap<String, FakeInstance>,
    /// Global clusters by identifier.
    pub globals: BTreeMap<String, FakeGlobal>,
    /// CloudWatch alarms: name -> `OK` | `ALARM` | `INSUFFICIENT_DATA`.
    pub alarms: BTreeMap<String, String>,
    /// `AWS/RDS ReplicaLag` by instance, seconds (no entry: no datapoint).
    pub replica_lag: BTreeMap<String, f64>,
    /// ARC routing controls: ARN -> `On` | `Off`.
    pub controls: BTreeMap<String, String>,
    /// ARC safety rules: (rule ARN, the minimum number of controls On).
    pub min_on_rules: Vec<(String, usize)>,
    /// Route 53 health checks: id -> one bool per checker (true = success).
    pub health_checks: BTreeMap<String, Vec<bool>>,
    /// How many describes a promotion or switchover takes.
    pub looks_to_finish: u32,
    failures: VecDeque<(String, u16, String, String)>,
}

/// The stand-ins, on one wiremock server (`endpoint_url` = [`FakeAws::url`]).
#[derive(Debug)]
pub struct FakeAws {
    server: MockServer,
    state: Arc<Mutex<FakeState>>,
}

struct Handler {
    state: Arc<Mutex<FakeState>>,
}

impl FakeAws {
    /// Starts the fake on a free `127.0.0.1` port.
    pub async fn start() -> FakeAws {
        super::use_test_credentials();
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(FakeState {
            looks_to_finish: 1,
            ..FakeState::default()
        }));
        Mock::given(any())
            .respond_with(Handler {
                state: state.clone(),
            })
            .mount(&server)
            .await;
        FakeAws { server, state }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.uri()
    }

    /// The state, to set up or inspect.
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an RDS primary with `replicas` following it (status `replicating`).
    pub fn add_rds_pair(&self, primary: &str, replicas: &[&str]) {
        let mut s = self.state();
        s.instances.insert(primary.into(), instance(None, None));
        for r in replicas {
            s.instances.insert(
                (*r).into(),
                instance(Some(primary.into()), Some("replicating".into())),
            );
        }
    }

    /// The next call of `op` (an RDS `Action`, a CloudWatch or ARC operation)
    /// fails with `status` and the protocol's error shape for `code`/`message`.
    pub fn fail_next(&self, op: &str, status: u16, code: &str, message: &str) {
        self.state()
            .failures
            .push_back((op.into(), status, code.into(), message.into()));
    }

    /// Every request so far, as its operation name (`DescribeDBInstances`,
    /// `GetMetricStatistics`, `UpdateRoutingControlStates`, `GetHealthCheckStatus`).
    pub async fn calls(&self) -> Vec<String> {
        self.requests().await.iter().map(|r| op_of(r).0).collect()
    }

    /// Every request so far, with its operation name and its parameters (form
    /// fields, JSON body, or CBOR body as JSON).
    pub async fn requests_with_params(&self) -> Vec<(String, Value)> {
        self.requests()
            .await
            .iter()
            .map(|r| {
                let (op, proto) = op_of(r);
                let params = match proto {
                    Proto::Query => Value::Object(
                        form(&r.body)
                            .into_iter()
                            .map(|(k, v)| (k, Value::String(v)))
                            .collect(),
                    ),
                    Proto::Json => serde_json::from_slice(&r.body).unwrap_or(Value::Null),
                    Proto::Cbor => ciborium::from_reader::<Cbor, _>(r.body.as_slice())
                        .map(|c| cbor_to_json(&c))
                        .unwrap_or(Value::Null),
                    Proto::RestXml => json!({ "path": r.url.path() }),
                };
                (op, params)
            })
            .collect()
    }

    async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }
}

fn instance(source: Option<String>, replication: Option<String>) -> FakeInstance {
    FakeInstance {
        status: "available".into(),
        source,
        replication,
        promoting: None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Proto {
    Query,
    Json,
    Cbor,
    RestXml,
}

fn op_of(r: &Request) -> (String, Proto) {
    let path = r.url.path();
    if let Some(op) = path.strip_prefix("/service/GraniteServiceVersion20100801/operation/") {
        return (op.to_string(), Proto::Cbor);
    }
    if let Some(t) = r.headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return (t.rsplit('.').next().unwrap_or(t).to_string(), Proto::Json);
    }
    if path.starts_with("/2013-04-01/healthcheck/") {
        return ("GetHealthCheckStatus".into(), Proto::RestXml);
    }
    let action = form(&r.body)
        .into_iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v)
        .unwrap_or_default();
    (action, Proto::Query)
}

/// `a=b&c=d%20e` decoded.
fn form(body: &[u8]) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let h = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                    out.push(u8::from_str_radix(h, 16).unwrap_or(b'?'));
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

impl Respond for Handler {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let (op, proto) = op_of(req);
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pos) = s.failures.iter().position(|f| f.0 == op) {
            let (_, status, code, message) = s.failures.remove(pos).expect("queued failure");
            return match proto {
                Proto::Query | Proto::RestXml => query_error(status, &code, &message),
                Proto::Json => json_error(
                    status,
                    &code,
                    &message,
                    json!({"resourceId": "fake", "resourceType": "fake"}),
                ),
                Proto::Cbor => cbor_response(
                    status,
                    cmap(vec![
                        ("__type", Cbor::Text(code)),
                        ("message", Cbor::Text(message)),
                    ]),
                ),
            };
        }
        match proto {
            Proto::Query => {
                let params: BTreeMap<String, String> = form(&req.body).into_iter().collect();
                self.rds(&mut s, &op, &params)
            }
            Proto::Cbor => self.cloudwatch(&mut s, &op, &req.body),
            Proto::Json => self.arc(&mut s, &op, &req.body),
            Proto::RestXml => self.health(&mut s, req.url.path()),
        }
    }
}
