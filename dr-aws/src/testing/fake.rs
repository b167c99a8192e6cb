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

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use ciborium::Value as Cbor;
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

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

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn query_ok(action: &str, inner: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "text/xml")
        .insert_header("x-amzn-requestid", format!("fake-{action}"))
        .set_body_string(format!(
            "<{action}Response xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\">\
             <{action}Result>{inner}</{action}Result>\
             <ResponseMetadata><RequestId>fake-{action}</RequestId></ResponseMetadata>\
             </{action}Response>"
        ))
}

fn query_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("content-type", "text/xml")
        .insert_header("x-amzn-requestid", format!("fake-request-{code}"))
        .set_body_string(format!(
            "<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><Error>\
             <Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error>\
             <RequestId>fake-request-{code}</RequestId></ErrorResponse>",
            xml_escape(message)
        ))
}

fn json_ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "application/x-amz-json-1.0")
        .insert_header("x-amzn-requestid", "fake-arc-request")
        .set_body_string(body.to_string())
}

fn json_error(status: u16, code: &str, message: &str, extra: Value) -> ResponseTemplate {
    let mut body = json!({ "__type": code, "message": message });
    if let (Some(b), Value::Object(m)) = (body.as_object_mut(), extra) {
        b.extend(m);
    }
    ResponseTemplate::new(status)
        .insert_header("content-type", "application/x-amz-json-1.0")
        .insert_header("x-amzn-requestid", format!("fake-request-{code}"))
        .set_body_string(body.to_string())
}

fn cbor_response(status: u16, v: Cbor) -> ResponseTemplate {
    let mut buf = Vec::new();
    ciborium::into_writer(&v, &mut buf).expect("encode CBOR");
    ResponseTemplate::new(status)
        .insert_header("content-type", "application/cbor")
        .insert_header("smithy-protocol", "rpc-v2-cbor")
        .insert_header("x-amzn-requestid", "fake-cloudwatch-request")
        .set_body_bytes(buf)
}

fn cmap(pairs: Vec<(&str, Cbor)>) -> Cbor {
    Cbor::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (Cbor::Text(k.into()), v))
            .collect(),
    )
}

fn cbor_now() -> Cbor {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    Cbor::Tag(1, Box::new(Cbor::Float(secs.floor())))
}

fn cbor_to_json(c: &Cbor) -> Value {
    match c {
        Cbor::Text(s) => Value::String(s.clone()),
        Cbor::Integer(i) => json!(i128::from(*i) as f64),
        Cbor::Float(f) => json!(f),
        Cbor::Bool(b) => json!(b),
        Cbor::Array(a) => Value::Array(a.iter().map(cbor_to_json).collect()),
        Cbor::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let k = match k {
                        Cbor::Text(s) => s.clone(),
                        other => format!("{other:?}"),
                    };
                    (k, cbor_to_json(v))
                })
                .collect(),
        ),
        Cbor::Tag(_, v) => cbor_to_json(v),
        _ => Value::Null,
    }
}

fn instance_xml(id: &str, i: &FakeInstance, replicas: &[String]) -> String {
    let mut x = format!(
        "<DBInstance><DBInstanceIdentifier>{id}</DBInstanceIdentifier>\
         <DBInstanceArn>arn:aws:rds:us-east-1:123456789012:db:{id}</DBInstanceArn>\
         <Engine>postgres</Engine><DBInstanceStatus>{}</DBInstanceStatus>",
        i.status
    );
    if let Some(src) = &i.source {
        x.push_str(&format!(
            "<ReadReplicaSourceDBInstanceIdentifier>{src}</ReadReplicaSourceDBInstanceIdentifier>"
        ));
    }
    x.push_str("<ReadReplicaDBInstanceIdentifiers>");
    for r in replicas {
        x.push_str(&format!(
            "<ReadReplicaDBInstanceIdentifier>{r}</ReadReplicaDBInstanceIdentifier>"
        ));
    }
    x.push_str("</ReadReplicaDBInstanceIdentifiers>");
    if let Some(rep) = &i.replication {
        x.push_str(&format!(
            "<StatusInfos><DBInstanceStatusInfo><StatusType>read replication</StatusType>\
             <Normal>{}</Normal><Status>{rep}</Status></DBInstanceStatusInfo></StatusInfos>",
            rep == "replicating"
        ));
    }
    x.push_str("</DBInstance>");
    x
}

fn global_xml(id: &str, g: &FakeGlobal) -> String {
    let mut x = format!(
        "<GlobalClusterMember><GlobalClusterIdentifier>{id}</GlobalClusterIdentifier>\
         <Status>available</Status><Engine>aurora-postgresql</Engine><GlobalClusterMembers>"
    );
    for (arn, writer) in &g.members {
        x.push_str(&format!(
            "<GlobalClusterMember><DBClusterArn>{arn}</DBClusterArn><IsWriter>{writer}</IsWriter>\
             <SynchronizationStatus>connected</SynchronizationStatus></GlobalClusterMember>"
        ));
    }
    x.push_str("</GlobalClusterMembers>");
    if let Some((to, _, loss)) = &g.switching {
        let from = g
            .members
            .iter()
            .find(|m| m.1)
            .map(|m| m.0.clone())
            .unwrap_or_default();
        x.push_str(&format!(
            "<FailoverState><Status>failing-over</Status><FromDbClusterArn>{from}</FromDbClusterArn>\
             <ToDbClusterArn>{to}</ToDbClusterArn><IsDataLossAllowed>{loss}</IsDataLossAllowed></FailoverState>"
        ));
    }
    x.push_str("</GlobalClusterMember>");
    x
}

impl Handler {
    fn rds(
        &self,
        s: &mut FakeState,
        action: &str,
        p: &BTreeMap<String, String>,
    ) -> ResponseTemplate {
        let id = p.get("DBInstanceIdentifier").cloned().unwrap_or_default();
        match action {
            "DescribeDBInstances" => {
                for i in s.instances.values_mut() {
                    if let Some(left) = i.promoting {
                        if left <= 1 {
                            i.promoting = None;
                            i.status = "available".into();
                            i.source = None;
                            i.replication = None;
                        } else {
                            i.promoting = Some(left - 1);
                        }
                    }
                }
                let Some(i) = s.instances.get(&id) else {
                    return query_error(
                        404,
                        "DBInstanceNotFound",
                        &format!("DBInstance {id} not found."),
                    );
                };
                let replicas: Vec<String> = s
                    .instances
                    .iter()
                    .filter(|(_, r)| r.source.as_deref() == Some(id.as_str()))
                    .map(|(k, _)| k.clone())
                    .collect();
                query_ok(
                    action,
                    &format!(
                        "<DBInstances>{}</DBInstances>",
                        instance_xml(&id, i, &replicas)
                    ),
                )
            }
            "PromoteReadReplica" => {
                let looks = s.looks_to_finish;
                let Some(i) = s.instances.get_mut(&id) else {
                    return query_error(
                        404,
                        "DBInstanceNotFound",
                        &format!("DBInstance {id} not found."),
                    );
                };
                if i.source.is_none() || i.status != "available" {
                    return query_error(
                        400,
                        "InvalidDBInstanceState",
                        &format!("DB Instance {id} is not a read replica."),
                    );
                }
                i.status = "modifying".into();
                i.promoting = Some(looks.max(1));
                let xml = instance_xml(&id, i, &[]);
                query_ok(action, &xml)
            }
            "StopDBInstance" => {
                let has_replicas = s
                    .instances
                    .values()
                    .any(|r| r.source.as_deref() == Some(id.as_str()));
                let Some(i) = s.instances.get_mut(&id) else {
                    return query_error(
                        404,
                        "DBInstanceNotFound",
                        &format!("DBInstance {id} not found."),
                    );
                };
                if has_replicas || i.source.is_some() {
                    return query_error(
                        400,
                        "InvalidDBInstanceState",
                        &format!("Cannot stop DB instance {id}: it has read replicas or is one."),
                    );
                }
                if i.status != "available" {
                    return query_error(
                        400,
                        "InvalidDBInstanceState",
                        &format!("Instance {id} is not in available state."),
                    );
                }
                i.status = "stopped".into();
                let xml = instance_xml(&id, i, &[]);
                query_ok(action, &xml)
            }
            "DescribeGlobalClusters" => {
                let gid = p
                    .get("GlobalClusterIdentifier")
                    .cloned()
                    .unwrap_or_default();
                let Some(g) = s.globals.get_mut(&gid) else {
                    return query_error(
                        404,
                        "GlobalClusterNotFoundFault",
                        &format!("Global cluster {gid} not found."),
                    );
                };
                if let Some((to, left, loss)) = g.switching.clone() {
                    if left <= 1 {
                        for m in g.members.iter_mut() {
                            m.1 = m.0 == to;
                        }
                        g.switching = None;
                    } else {
                        g.switching = Some((to, left - 1, loss));
                    }
                }
                query_ok(
                    action,
                    &format!("<GlobalClusters>{}</GlobalClusters>", global_xml(&gid, g)),
                )
            }
            "SwitchoverGlobalCluster" | "FailoverGlobalCluster" => {
                let looks = s.looks_to_finish;
                let gid = p
                    .get("GlobalClusterIdentifier")
                    .cloned()
                    .unwrap_or_default();
                let to = p
                    .get("TargetDbClusterIdentifier")
                    .cloned()
                    .unwrap_or_default();
                let loss = p.get("AllowDataLoss").map(String::as_str) == Some("true");
                let Some(g) = s.globals.get_mut(&gid) else {
                    return query_error(
                        404,
                        "GlobalClusterNotFoundFault",
                        &format!("Global cluster {gid} not found."),
                    );
                };
                if !g.members.iter().any(|m| m.0 == to) {
                    return query_error(
                        404,
                        "DBClusterNotFoundFault",
                        &format!("{to} is not a member."),
                    );
                }
                if g.switching.is_some() {
                    return query_error(
                        400,
                        "InvalidGlobalClusterStateFault",
                        "a switchover is already in progress",
                    );
                }
                g.switching = Some((to, looks.max(1), loss));
                let xml = global_xml(&gid, g).replace(
                    "GlobalClusterMember><GlobalClusterIdentifier",
                    "GlobalCluster><GlobalClusterIdentifier",
                );
                let xml = match xml.rfind("</GlobalClusterMember>") {
                    Some(pos) => format!("{}</GlobalCluster>", &xml[..pos]),
                    None => xml,
                };
                query_ok(action, &xml)
            }
            _ => query_error(400, "InvalidAction", &format!("the fake has no {action}")),
        }
    }

    fn cloudwatch(&self, s: &mut FakeState, op: &str, body: &[u8]) -> ResponseTemplate {
        let input = ciborium::from_reader::<Cbor, _>(body)
            .map(|c| cbor_to_json(&c))
            .unwrap_or(Value::Null);
        match op {
            "DescribeAlarms" => {
                let names: Vec<String> = input["AlarmNames"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let alarms: Vec<Cbor> = s
                    .alarms
                    .iter()
                    .filter(|(n, _)| names.is_empty() || names.contains(n))
                    .map(|(n, st)| {
                        cmap(vec![
                            ("AlarmName", Cbor::Text(n.clone())),
                            ("StateValue", Cbor::Text(st.clone())),
                            (
                                "StateReason",
                                Cbor::Text(format!("set to {st} by the fake")),
                            ),
                            ("StateUpdatedTimestamp", cbor_now()),
                        ])
                    })
                    .collect();
                cbor_response(200, cmap(vec![("MetricAlarms", Cbor::Array(alarms))]))
            }
            "GetMetricStatistics" => {
                let instance = input["Dimensions"]
                    .as_array()
                    .and_then(|d| {
                        d.iter()
                            .find(|x| x["Name"] == "DBInstanceIdentifier")
                            .and_then(|x| x["Value"].as_str())
                    })
                    .unwrap_or("")
                    .to_string();
                let points: Vec<Cbor> =
                    match (input["MetricName"].as_str(), s.replica_lag.get(&instance)) {
                        (Some("ReplicaLag"), Some(lag)) => vec![cmap(vec![
                            ("Timestamp", cbor_now()),
                            ("Maximum", Cbor::Float(*lag)),
                            ("Unit", Cbor::Text("Seconds".into())),
                        ])],
                        _ => vec![],
                    };
                cbor_response(
                    200,
                    cmap(vec![
                        ("Label", Cbor::Text("ReplicaLag".into())),
                        ("Datapoints", Cbor::Array(points)),
                    ]),
                )
            }
            _ => cbor_response(
                400,
                cmap(vec![
                    ("__type", Cbor::Text("UnknownOperationException".into())),
                    ("message", Cbor::Text(format!("the fake has no {op}"))),
                ]),
            ),
        }
    }

    fn arc(&self, s: &mut FakeState, op: &str, body: &[u8]) -> ResponseTemplate {
        let input: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        match op {
            "GetRoutingControlState" => {
                let arn = input["RoutingControlArn"].as_str().unwrap_or("");
                match s.controls.get(arn) {
                    Some(st) => json_ok(json!({
                        "RoutingControlArn": arn,
                        "RoutingControlState": st,
                        "RoutingControlName": arn.rsplit('/').next().unwrap_or(arn),
                    })),
                    None => json_error(
                        404,
                        "ResourceNotFoundException",
                        "no such routing control",
                        json!({"resourceId": arn, "resourceType": "RoutingControl"}),
                    ),
                }
            }
            "UpdateRoutingControlStates" => {
                let mut next = s.controls.clone();
                for e in input["UpdateRoutingControlStateEntries"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let arn = e["RoutingControlArn"].as_str().unwrap_or("").to_string();
                    if !next.contains_key(&arn) {
                        return json_error(
                            404,
                            "ResourceNotFoundException",
                            "no such routing control",
                            json!({"resourceId": arn, "resourceType": "RoutingControl"}),
                        );
                    }
                    next.insert(
                        arn,
                        e["RoutingControlState"].as_str().unwrap_or("").to_string(),
                    );
                }
                let overridden: Vec<&str> = input["SafetyRulesToOverride"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let on = next.values().filter(|v| *v == "On").count();
                for (rule, min) in &s.min_on_rules {
                    if on < *min && !overridden.contains(&rule.as_str()) {
                        return json_error(
                            409,
                            "ConflictException",
                            &format!(
                                "Safety rule evaluation failed: at least {min} routing controls must be On"
                            ),
                            json!({"resourceId": rule, "resourceType": "SafetyRule"}),
                        );
                    }
                }
                s.controls = next;
                json_ok(json!({}))
            }
            _ => json_error(
                400,
                "ValidationException",
                &format!("the fake has no {op}"),
                json!({}),
            ),
        }
    }

    fn health(&self, s: &mut FakeState, path: &str) -> ResponseTemplate {
        let id = path
            .trim_start_matches("/2013-04-01/healthcheck/")
            .trim_end_matches("/status");
        let Some(checkers) = s.health_checks.get(id) else {
            return ResponseTemplate::new(404)
                .insert_header("content-type", "text/xml")
                .insert_header("x-amzn-requestid", "fake-route53-request")
                .set_body_string(format!(
                    "<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Error>\
                     <Type>Sender</Type><Code>NoSuchHealthCheck</Code><Message>No health check with id {id}</Message>\
                     </Error><RequestId>fake-route53-request</RequestId></ErrorResponse>"
                ));
        };
        let mut x = String::from(
            "<GetHealthCheckStatusResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><HealthCheckObservations>",
        );
        for (n, ok) in checkers.iter().enumerate() {
            let status = if *ok {
                "Success: HTTP Status Code 200, OK"
            } else {
                "Failure: Connection timed out."
            };
            x.push_str(&format!(
                "<HealthCheckObservation><Region>us-east-1</Region><IPAddress>15.177.0.{n}</IPAddress>\
                 <StatusReport><Status>{status}</Status><CheckedTime>2026-11-22T07:00:00Z</CheckedTime>\
                 </StatusReport></HealthCheckObservation>"
            ));
        }
        x.push_str("</HealthCheckObservations></GetHealthCheckStatusResponse>");
        ResponseTemplate::new(200)
            .insert_header("content-type", "text/xml")
            .insert_header("x-amzn-requestid", "fake-route53-request")
            .set_body_string(x)
    }
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
