//! The Route 53 ARC cluster on awsJson 1.0 (`X-Amz-Target: ToggleCustomerAPI.<Op>`):
//! routing control states, safety rules refusing with `ConflictException`.

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use super::{FakeState, Handler};

fn json_ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "application/x-amz-json-1.0")
        .insert_header("x-amzn-requestid", "fake-arc-request")
        .set_body_string(body.to_string())
}

pub(super) fn json_error(status: u16, code: &str, message: &str, extra: Value) -> ResponseTemplate {
    let mut body = json!({ "__type": code, "message": message });
    if let (Some(b), Value::Object(m)) = (body.as_object_mut(), extra) {
        b.extend(m);
    }
    ResponseTemplate::new(status)
        .insert_header("content-type", "application/x-amz-json-1.0")
        .insert_header("x-amzn-requestid", format!("fake-request-{code}"))
        .set_body_string(body.to_string())
}

impl Handler {
    pub(super) fn arc(&self, s: &mut FakeState, op: &str, body: &[u8]) -> ResponseTemplate {
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
}
