//! `dr status`: the current split, health, lag and role of every resource.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::concurrent::{Reader, Seen, read_all};
use crate::plan::{Plan, Resource};
use crate::{Kind, Registry, TrafficSplit};

/// The state of one resource in one role, as `dr status` shows it. Serialized
/// (see [`ResourceStatus::to_json`]) it is one JSON object per resource per kind,
/// e.g. `{"resource":"front","kind":"router","split":{"east":100}}`,
/// `{"resource":"db","kind":"store","role":"replica"}`,
/// `{"resource":"link","kind":"replicator","state":"replicating","lag_ms":3000}`,
/// `{"resource":"web_west","kind":"probe","status":"healthy"}`; fields that do
/// not apply are left out.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ResourceStatus {
    /// The plan's name for the resource.
    pub resource: String,
    /// `router`, `store`, `replicator` or `probe`.
    pub kind: String,
    /// `provider = ".."`.
    pub provider: String,
    /// Router: the split in effect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split: Option<TrafficSplit>,
    /// Store: `primary`, `replica` or `standalone`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Store: the primary a replica follows, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub of: Option<String>,
    /// Store: whether it accepts writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writable: Option<bool>,
    /// Replicator: `replicating`, `paused`, `broken` or `unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Replicator: the lag, when the provider can tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_ms: Option<u64>,
    /// Replicator: the lag in bytes, when the provider can tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_bytes: Option<u64>,
    /// Probe: `healthy`, `degraded` or `unhealthy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Probe: what it saw; replicator: what else the provider says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The state could not be read (provider, resource, operation, why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Sim resources with a `state_file`: how many times each mutating call
    /// took effect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls: Option<BTreeMap<String, u64>>,
    /// What else the provider tells about the resource in this kind (see
    /// [`Registry::status_facts`]), e.g. a sim store's `last_promote`.
    #[serde(flatten)]
    pub facts: serde_json::Map<String, Value>,
}

impl ResourceStatus {
    fn new(resource: &Resource, kind: Kind) -> Self {
        ResourceStatus {
            resource: resource.name.clone(),
            kind: kind.as_str().to_string(),
            provider: resource.provider.clone(),
            split: None,
            role: None,
            of: None,
            writable: None,
            state: None,
            lag_ms: None,
            lag_bytes: None,
            status: None,
            detail: None,
            error: None,
            calls: None,
            facts: serde_json::Map::new(),
        }
    }

    /// The JSON object `dr status --json` prints.
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        // A replicator always says its lag, `null` when unknown (as it always has).
        if self.kind == "replicator"
            && self.error.is_none()
            && let Some(obj) = v.as_object_mut()
        {
            obj.entry("lag_ms").or_insert(Value::Null);
        }
        v
    }
}

/// The status of every resource of `plan`, once per kind.
///
/// A resource is reported as every kind the plan uses it as; an unused resource
/// as every kind its provider can build from its settings. A resource whose
/// state cannot be read gets `error`. Reads only: probes are asked with
/// [`HealthProbe::peek`](crate::HealthProbe::peek), so a probe that keeps
/// state of its own (a sim `sequence`) is left as it was. Secrets are redacted.
///
/// The reads are made concurrently, at most the plan's `max_parallel` at once.
pub async fn collect(plan: &Plan, registry: &Registry) -> Vec<ResourceStatus> {
    let mut out = Vec::new();
    let mut reads: Vec<(usize, Reader)> = Vec::new();
    for r in &plan.resources {
        let kinds = if r.kinds.is_empty() {
            registry.kinds(&r.provider)
        } else {
            r.kinds.clone()
        };
        for kind in kinds {
            let mut st = ResourceStatus::new(r, kind);
            st.calls = registry.call_counts(&r.settings);
            st.facts = registry.facts(&r.settings, kind).unwrap_or_default();
            let reader = match kind {
                Kind::Router => r
                    .router()
                    .cloned()
                    .or_else(|| registry.build_router(&r.settings).and_then(Result::ok))
                    .map(|x| Reader::Split(x, None)),
                Kind::Store => r
                    .store()
                    .cloned()
                    .or_else(|| registry.build_store(&r.settings).and_then(Result::ok))
                    .map(|x| Reader::Role(x, true)),
                Kind::Replicator => r
                    .replicator()
                    .cloned()
                    .or_else(|| registry.build_replicator(&r.settings).and_then(Result::ok))
                    .map(Reader::Status),
                Kind::Probe => r
                    .probe()
                    .cloned()
                    .or_else(|| registry.build_probe(&r.settings).and_then(Result::ok))
                    .map(Reader::Peek),
            };
            match reader {
                Some(reader) => reads.push((out.len(), reader)),
                None => {
                    st.error = Some(format!(
                        "cannot build the {} from its settings",
                        kind.as_str()
                    ))
                }
            }
            out.push(st);
        }
    }
    for (i, got) in read_all(reads, plan.max_parallel).await {
        let st = &mut out[i];
        let op = match st.kind.as_str() {
            "router" => "current",
            "store" => "role",
            "replicator" => "status",
            _ => "probe",
        };
        match got {
            Ok(Seen::Split(split)) => st.split = Some(split),
            Ok(Seen::Role(role, writable)) => {
                st.role = Some(role.as_str().to_string());
                if let crate::Role::Replica { of: Some(of) } = &role {
                    st.of = Some(plan.redactor().redact(of));
                }
                st.writable = writable;
            }
            Ok(Seen::Status(s)) => {
                st.state = Some(s.state.as_str().to_string());
                st.lag_ms = s
                    .lag
                    .map(|l| u64::try_from(l.as_millis()).unwrap_or(u64::MAX));
                st.lag_bytes = s.lag_bytes;
                if let Some(d) = &s.detail {
                    st.detail = Some(plan.redactor().redact(d));
                }
            }
            Ok(Seen::Health(h)) => {
                st.status = Some(h.status.as_str().to_string());
                if !h.detail.is_empty() {
                    st.detail = Some(plan.redactor().redact(&h.detail));
                }
            }
            Ok(Seen::Verified(_)) => {}
            Err(e) => {
                let e = e
                    .or_provider(&st.provider)
                    .in_context(&st.resource, op)
                    .to_string();
                st.error = Some(plan.redactor().redact(&e));
            }
        }
    }
    out
}
