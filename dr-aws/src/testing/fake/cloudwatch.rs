//! CloudWatch on Smithy RPC v2 CBOR (`POST /service/GraniteServiceVersion20100801/operation/<Op>`):
//! `DescribeAlarms`, `GetMetricStatistics` (`ReplicaLag`).

use ciborium::Value as Cbor;
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use super::{FakeState, Handler};

pub(super) fn cbor_response(status: u16, v: Cbor) -> ResponseTemplate {
    let mut buf = Vec::new();
    ciborium::into_writer(&v, &mut buf).expect("encode CBOR");
    ResponseTemplate::new(status)
        .insert_header("content-type", "application/cbor")
        .insert_header("smithy-protocol", "rpc-v2-cbor")
        .insert_header("x-amzn-requestid", "fake-cloudwatch-request")
        .set_body_bytes(buf)
}

pub(super) fn cmap(pairs: Vec<(&str, Cbor)>) -> Cbor {
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

pub(super) fn cbor_to_json(c: &Cbor) -> Value {
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

impl Handler {
    pub(super) fn cloudwatch(&self, s: &mut FakeState, op: &str, body: &[u8]) -> ResponseTemplate {
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
}
