//! `dr status`: the current split, health, lag and role of every resource.

use serde_json::{Map, Value, json};

use crate::plan::Plan;
use crate::{Kind, Registry};

/// One JSON object per resource per kind, e.g.
/// `{"resource":"front","kind":"router","split":{"east":100}}`,
/// `{"resource":"db","kind":"store","role":"replica"}`,
/// `{"resource":"link","kind":"replicator","state":"replicating","lag_ms":3000}`,
/// `{"resource":"web_west","kind":"probe","status":"healthy"}`.
///
/// A resource is reported as every kind the plan uses it as; an unused resource
/// as every kind its provider can build from its settings. Sim resources with a
/// `state_file` add `calls` (mutating calls that took effect). A resource whose
/// state cannot be read gets `"error"`. Reads only: probes are asked with
/// [`HealthProbe::peek`](crate::HealthProbe::peek), so a probe that keeps
/// state of its own (a sim `sequence`) is left as it was.
pub async fn collect(plan: &Plan, registry: &Registry) -> Vec<Value> {
    let mut out = Vec::new();
    for r in &plan.resources {
        let kinds = if r.kinds.is_empty() {
            registry.kinds(&r.provider)
        } else {
            r.kinds.clone()
        };
        for kind in kinds {
            let mut obj = Map::new();
            obj.insert("resource".into(), json!(r.name));
            obj.insert("kind".into(), json!(kind.as_str()));
            obj.insert("provider".into(), json!(r.provider));
            let result: Result<(), String> = match kind {
                Kind::Router => match r
                    .router()
                    .cloned()
                    .or_else(|| registry.build_router(&r.settings).and_then(Result::ok))
                {
                    Some(router) => match router.current(None).await {
                        Ok(split) => {
                            obj.insert("split".into(), json!(split));
                            Ok(())
                        }
                        Err(e) => Err(e
                            .or_provider(&r.provider)
                            .in_context(&r.name, "current")
                            .to_string()),
                    },
                    None => Err("cannot build the router from its settings".into()),
                },
                Kind::Store => match r
                    .store()
                    .cloned()
                    .or_else(|| registry.build_store(&r.settings).and_then(Result::ok))
                {
                    Some(store) => match store.role().await {
                        Ok(role) => {
                            obj.insert("role".into(), json!(role.as_str()));
                            if let crate::Role::Replica { of: Some(of) } = &role {
                                obj.insert("of".into(), json!(of));
                            }
                            if let Ok(w) = store.writable().await {
                                obj.insert("writable".into(), json!(w));
                            }
                            Ok(())
                        }
                        Err(e) => Err(e
                            .or_provider(&r.provider)
                            .in_context(&r.name, "role")
                            .to_string()),
                    },
                    None => Err("cannot build the store from its settings".into()),
                },
                Kind::Replicator => match r
                    .replicator()
                    .cloned()
                    .or_else(|| registry.build_replicator(&r.settings).and_then(Result::ok))
                {
                    Some(rep) => match rep.status().await {
                        Ok(st) => {
                            obj.insert("state".into(), json!(st.state.as_str()));
                            obj.insert(
                                "lag_ms".into(),
                                json!(st.lag.map(|l| l.as_millis() as u64)),
                            );
                            if let Some(b) = st.lag_bytes {
                                obj.insert("lag_bytes".into(), json!(b));
                            }
                            Ok(())
                        }
                        Err(e) => Err(e
                            .or_provider(&r.provider)
                            .in_context(&r.name, "status")
                            .to_string()),
                    },
                    None => Err("cannot build the replicator from its settings".into()),
                },
                Kind::Probe => match r
                    .probe()
                    .cloned()
                    .or_else(|| registry.build_probe(&r.settings).and_then(Result::ok))
                {
                    // `peek`, not `probe`: status must not change what the
                    // next run's probe sees (a sim `sequence` would advance).
                    Some(p) => match p.peek().await {
                        Ok(h) => {
                            obj.insert("status".into(), json!(h.status.as_str()));
                            if !h.detail.is_empty() {
                                obj.insert("detail".into(), json!(h.detail));
                            }
                            Ok(())
                        }
                        Err(e) => Err(e
                            .or_provider(&r.provider)
                            .in_context(&r.name, "probe")
                            .to_string()),
                    },
                    None => Err("cannot build the probe from its settings".into()),
                },
            };
            if let Err(e) = result {
                obj.insert("error".into(), json!(plan.redactor().redact(&e)));
            }
            if let Some(calls) = crate::sim::calls_of(&r.settings) {
                obj.insert("calls".into(), json!(calls));
            }
            let mut v = Value::Object(obj);
            plan.redactor().redact_json(&mut v);
            out.push(v);
        }
    }
    out
}
