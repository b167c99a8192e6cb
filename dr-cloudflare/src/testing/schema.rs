//! Request and response bodies checked against the Cloudflare OpenAPI extract in
//! `tests/data/` of this crate, by looking the operation up by path and method (no schema is
//! copied by hand).
//!
//! The OpenAPI 3.0 document needs a few mechanical adjustments before a JSON
//! Schema validator can use it:
//! - `nullable: true` becomes a `null` alternative of `type` (and of `enum`);
//! - a fractional `multipleOf` (origin weight step 0.01) is checked with a
//!   tolerance, because binary floating point makes e.g. 0.07 / 0.01 = 7.000000000000001;
//! - request bodies: OpenAPI says server-set (`readOnly`) properties listed in
//!   `required` apply to responses only, so they are dropped from `required`, and
//!   `id` too (the DNS record PATCH body reuses the record schema, whose `id` is
//!   assigned by the server and sits in the path);
//! - error responses: each `4XX` entry is `allOf [success envelope, failure
//!   envelope]`, which cannot be satisfied (one requires `success: true`, the other
//!   `success: false`), so error bodies are checked against the failure part.
//!
//! On top of the schema, request bodies must not carry keys the schema does not
//! declare (the schemas do not say `additionalProperties: false`, so a misspelt
//! field would otherwise pass).

use std::collections::BTreeSet;

use jsonschema::paths::{LazyLocation, Location};
use jsonschema::{Draft, Keyword, ValidationError, Validator};
use serde_json::{Map, Value, json};

const DOC: &str = include_str!("../../tests/data/cloudflare-lb-openapi-2024-08-06.json");

/// The OpenAPI extract, ready to validate bodies.
#[allow(missing_debug_implementations)]
pub struct OpenApi {
    doc: Value,
    request_components: Value,
    response_components: Value,
}

struct DecimalMultipleOf {
    step: f64,
}

impl Keyword for DecimalMultipleOf {
    fn validate<'i>(
        &self,
        instance: &'i Value,
        location: &LazyLocation,
    ) -> Result<(), ValidationError<'i>> {
        if self.is_valid(instance) {
            Ok(())
        } else {
            Err(ValidationError::custom(
                Location::new(),
                location.into(),
                instance,
                format!("not a multiple of {}", self.step),
            ))
        }
    }

    fn is_valid(&self, instance: &Value) -> bool {
        match instance.as_f64() {
            Some(v) => {
                let q = v / self.step;
                (q - q.round()).abs() < 1e-9
            }
            None => true,
        }
    }
}

fn adjust(v: &mut Value, request: bool, read_only: &BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if m.remove("nullable") == Some(Value::Bool(true)) {
                if let Some(Value::String(t)) = m.get("type").cloned() {
                    m.insert("type".into(), json!([t, "null"]));
                }
                if let Some(Value::Array(e)) = m.get_mut("enum")
                    && !e.contains(&Value::Null)
                {
                    e.push(Value::Null);
                }
            }
            if let Some(step) = m.get("multipleOf").and_then(Value::as_f64)
                && step.fract() != 0.0
            {
                m.remove("multipleOf");
                m.insert("x-decimal-multiple-of".into(), json!(step));
            }
            if request && let Some(Value::Array(req)) = m.get_mut("required") {
                req.retain(|k| {
                    k.as_str()
                        .is_some_and(|k| k != "id" && !read_only.contains(k))
                });
            }
            for (_, x) in m.iter_mut() {
                adjust(x, request, read_only);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| adjust(x, request, read_only)),
        _ => {}
    }
}

fn collect_read_only(v: &Value, components: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Object(props)) = m.get("properties") {
                for (name, s) in props {
                    let s = resolve(components, s);
                    if s.get("readOnly") == Some(&Value::Bool(true)) {
                        out.insert(name.clone());
                    }
                }
            }
            m.values()
                .for_each(|x| collect_read_only(x, components, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_read_only(x, components, out)),
        _ => {}
    }
}

fn resolve<'a>(components: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            resolve(components, &components["schemas"][name])
        }
        None => s,
    }
}

fn matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(a, b)| (a.starts_with('{') && a.ends_with('}')) || a == b)
}

impl OpenApi {
    pub fn load() -> Self {
        let doc: Value = serde_json::from_str(DOC).expect("the OpenAPI extract is JSON");
        let mut read_only = BTreeSet::new();
        collect_read_only(&doc["components"], &doc["components"], &mut read_only);
        let mut request_components = doc["components"].clone();
        adjust(&mut request_components, true, &read_only);
        let mut response_components = doc["components"].clone();
        adjust(&mut response_components, false, &read_only);
        OpenApi {
            doc,
            request_components,
            response_components,
        }
    }

    fn operation(&self, method: &str, path: &str) -> Result<&Value, String> {
        let paths = self.doc["paths"].as_object().expect("paths");
        paths
            .iter()
            .find(|(t, _)| matches(t, path))
            .and_then(|(_, item)| item.get(method.to_ascii_lowercase()))
            .ok_or_else(|| {
                format!("{method} {path} is not an operation of the Cloudflare API extract")
            })
    }

    // The closure's error type is fixed by jsonschema's keyword factory signature.
    #[allow(clippy::result_large_err)]
    fn validator(&self, schema: &Value, request: bool) -> Validator {
        let mut schema = schema.clone();
        let components = if request {
            &self.request_components
        } else {
            &self.response_components
        };
        adjust(&mut schema, request, &BTreeSet::new());
        let root = json!({ "allOf": [schema], "components": components });
        jsonschema::options()
            .with_draft(Draft::Draft7)
            .with_keyword("x-decimal-multiple-of", |_, v: &Value, _| {
                Ok(Box::new(DecimalMultipleOf {
                    step: v.as_f64().unwrap_or(1.0),
                }))
            })
            .build(&root)
            .expect("the OpenAPI schema compiles")
    }

    fn run(&self, what: &str, schema: &Value, body: &Value, request: bool) -> Result<(), String> {
        let v = self.validator(schema, request);
        let errors: Vec<String> = v
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        if !errors.is_empty() {
            return Err(format!(
                "{what} does not match the API schema: {}\nbody: {body}",
                errors.join("; ")
            ));
        }
        Ok(())
    }

    /// Checks a request body (or its absence) against the operation's `requestBody`.
    pub fn check_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(), String> {
        let op = self.operation(method, path)?;
        let schema = op.pointer("/requestBody/content/application~1json/schema");
        let required = op.pointer("/requestBody/required") == Some(&Value::Bool(true));
        match (schema, body) {
            (None, Some(b)) => Err(format!("{method} {path} takes no body, got {b}")),
            (Some(_), None) if required => Err(format!("{method} {path} requires a body")),
            (Some(s), Some(b)) => {
                self.run(&format!("request {method} {path}"), s, b, true)?;
                let mut unknown = Vec::new();
                self.undeclared_keys(s, b, "", &mut unknown);
                if unknown.is_empty() {
                    Ok(())
                } else {
                    Err(format!(
                        "request {method} {path} sends keys the API does not declare: {}",
                        unknown.join(", ")
                    ))
                }
            }
            _ => Ok(()),
        }
    }

    /// Checks a response body against the operation's response for `status`.
    pub fn check_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Result<(), String> {
        let op = self.operation(method, path)?;
        let responses = &op["responses"];
        let entry = responses.get(status.to_string()).or_else(|| {
            if (400..500).contains(&status) {
                responses.get("4XX").or_else(|| responses.get("4xx"))
            } else {
                None
            }
        });
        let Some(entry) = entry else {
            if status >= 500 {
                return Ok(()); // the API documents no 5xx bodies
            }
            return Err(format!("{method} {path} documents no response {status}"));
        };
        let mut schema = entry
            .pointer("/content/application~1json/schema")
            .cloned()
            .ok_or_else(|| format!("{method} {path} {status}: no JSON schema"))?;
        let failure_part = schema
            .get("allOf")
            .and_then(Value::as_array)
            .and_then(|parts| {
                parts.iter().find(|p| {
                    p.get("$ref")
                        .and_then(Value::as_str)
                        .is_some_and(|r| r.ends_with("api-response-common-failure"))
                })
            })
            .cloned();
        if status >= 400
            && let Some(f) = failure_part
        {
            schema = f;
        }
        self.run(
            &format!("response {status} to {method} {path}"),
            &schema,
            body,
            false,
        )
    }

    fn declared(&self, schema: &Value, out: &mut Map<String, Value>) -> bool {
        let s = resolve(&self.doc["components"], schema);
        let mut any = false;
        if let Some(Value::Object(p)) = s.get("properties") {
            for (k, v) in p {
                out.insert(k.clone(), v.clone());
            }
            any = true;
        }
        if let Some(Value::Array(parts)) = s.get("allOf") {
            for p in parts {
                any |= self.declared(p, out);
            }
        }
        any && s.get("oneOf").is_none() && s.get("anyOf").is_none()
    }

    fn undeclared_keys(&self, schema: &Value, body: &Value, at: &str, out: &mut Vec<String>) {
        let s = resolve(&self.doc["components"], schema);
        match body {
            Value::Object(m) => {
                let mut props = Map::new();
                if !self.declared(s, &mut props) {
                    return;
                }
                for (k, v) in m {
                    match props.get(k) {
                        Some(ps) => self.undeclared_keys(ps, v, &format!("{at}/{k}"), out),
                        None => out.push(format!("{at}/{k}")),
                    }
                }
            }
            Value::Array(items) => {
                if let Some(is) = s.get("items") {
                    for (i, x) in items.iter().enumerate() {
                        self.undeclared_keys(is, x, &format!("{at}/{i}"), out);
                    }
                }
            }
            _ => {}
        }
    }
}
