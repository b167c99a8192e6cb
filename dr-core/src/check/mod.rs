//! `dr check`: is the plan ready to run now? Readiness without side effects.
//!
//! [`check`] reads every resource through the read-only trait methods only
//! (`TrafficRouter::current`, `DataStore::role`, `Replicator::status`,
//! `HealthProbe::peek`) and says, one [`Finding`] at a time, whether what the
//! plan's steps will need holds now:
//!
//! | `check` | ready when |
//! |---|---|
//! | `reachable` | each resource answers its read (router split, store role, replicator status, probe) |
//! | `router_target` | every target a traffic step names is one of its router's targets, and the live split names only known targets |
//! | `store_role` | every store a `datastore.promote` promotes is a replica now |
//! | `replication_lag` | every link a `replication.check` or an RPO-gated promote reads is replicating, with a lag within the step's `max_lag` |
//! | `gate_probe` | every gate's and `probe.wait`'s probe, and the health probe linked to the target a traffic step moves to, is healthy now |
//! | `capability` | every provider can do what its steps ask (weights, scopes, promote, fence, flush, stop, reverse) |
//! | `step_timeout` | no step's (or gate's) timeout is shorter than the least time its waits and gates take |
//! | `rto` | the plan's critical path of waits and gates can finish within `rto` (the arithmetic is in the message) |
//!
//! The plan is ready when every finding is `ok`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::plan::{Plan, Step, StepAction};
use crate::{
    Health, HealthStatus, Kind, ReplicationState, ReplicationStatus, Role, format_duration,
};

mod time;

/// Most probes read at once.
const MAX_CONCURRENT_READS: usize = 256;

/// One thing `dr check` looked at. `dr check --json` prints one per line:
/// `{"check":"store_role","resource":"db","step":"promote","ok":true,"message":".."}`
/// (`resource` and `step` left out when they do not apply).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was checked (`reachable`, `router_target`, `store_role`,
    /// `replication_lag`, `gate_probe`, `capability`, `step_timeout`, `rto`).
    pub check: &'static str,
    /// The resource, when the finding is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The step, when the finding is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Whether this holds.
    pub ok: bool,
    /// What was seen, or what is wrong (redacted).
    pub message: String,
}

/// Whether every finding is ok.
pub fn ready(findings: &[Finding]) -> bool {
    findings.iter().all(|f| f.ok)
}

/// What the reads saw, once per resource.
#[derive(Default)]
struct Seen {
    splits: HashMap<String, Result<crate::TrafficSplit, String>>,
    roles: HashMap<String, Result<Role, String>>,
    links: HashMap<String, Result<ReplicationStatus, String>>,
    health: HashMap<String, Result<Health, String>>,
}

struct Out<'p> {
    plan: &'p Plan,
    findings: Vec<Finding>,
}

impl Out<'_> {
    fn add(
        &mut self,
        check: &'static str,
        resource: Option<&str>,
        step: Option<&str>,
        ok: bool,
        msg: String,
    ) {
        self.findings.push(Finding {
            check,
            resource: resource.map(String::from),
            step: step.map(String::from),
            ok,
            message: self.plan.redactor().redact(&msg),
        });
    }
}

fn tag(plan: &Plan, resource: &str, op: &str, e: crate::ProviderError) -> String {
    let provider = plan
        .resource(resource)
        .map_or(resource, |r| r.provider.as_str());
    e.or_provider(provider).in_context(resource, op).to_string()
}

/// Checks that `plan` is ready to run now; reads only. See the module docs.
pub async fn check(plan: &Plan) -> Vec<Finding> {
    let mut out = Out {
        plan,
        findings: Vec::new(),
    };
    let seen = read_all(plan, &mut out).await;
    for step in &plan.steps {
        check_step(plan, step, &seen, &mut out);
    }
    time::check_time(plan, &mut out);
    out.findings
}

/// Reads every resource in every role the plan uses it as (`reachable`).
async fn read_all(plan: &Plan, out: &mut Out<'_>) -> Seen {
    let mut seen = Seen::default();
    // Probes at once (a watch may name thousands); `peek`: a check must not
    // advance what the run's probe sees.
    let owned: Vec<(String, String, Arc<dyn crate::HealthProbe>)> = plan
        .resources
        .iter()
        .filter_map(|r| Some((r.name.clone(), r.provider.clone(), r.probe()?.clone())))
        .collect();
    let mut probes: HashMap<String, Result<Health, String>> =
        crate::concurrent::bounded(owned, MAX_CONCURRENT_READS, peek)
            .await
            .into_iter()
            .collect();
    for r in &plan.resources {
        let name = r.name.as_str();
        for kind in &r.kinds {
            let result: Result<String, String> = match kind {
                Kind::Router => match r.router() {
                    Some(router) => {
                        let got = router
                            .current(None)
                            .await
                            .map_err(|e| tag(plan, name, "current", e));
                        let msg = got
                            .as_ref()
                            .map(|s| format!("router split: {s}"))
                            .map_err(Clone::clone);
                        seen.splits.insert(name.into(), got);
                        msg
                    }
                    None => Err("router not built".into()),
                },
                Kind::Store => match r.store() {
                    Some(store) => {
                        let got = store.role().await.map_err(|e| tag(plan, name, "role", e));
                        let msg = got
                            .as_ref()
                            .map(|role| format!("store role: {role}"))
                            .map_err(Clone::clone);
                        seen.roles.insert(name.into(), got);
                        msg
                    }
                    None => Err("store not built".into()),
                },
                Kind::Replicator => match r.replicator() {
                    Some(rep) => {
                        let got = rep.status().await.map_err(|e| tag(plan, name, "status", e));
                        let msg = got
                            .as_ref()
                            .map(|s| format!("replication {} (lag {})", s.state, lag_text(s.lag)))
                            .map_err(Clone::clone);
                        seen.links.insert(name.into(), got);
                        msg
                    }
                    None => Err("replicator not built".into()),
                },
                Kind::Probe => match probes.remove(name) {
                    Some(got) => {
                        let msg = got
                            .as_ref()
                            .map(|h| format!("probe answers: {}", h.status))
                            .map_err(Clone::clone);
                        seen.health.insert(name.into(), got);
                        msg
                    }
                    None => Err("probe not built".into()),
                },
            };
            let ok = result.is_ok();
            let msg =
                result.unwrap_or_else(|e| format!("cannot read {} `{name}`: {e}", kind.as_str()));
            out.add("reachable", Some(name), None, ok, msg);
        }
    }
    // A replicator read only through a store that is also one (a promote's lag source).
    for r in &plan.resources {
        if !r.kinds.contains(&Kind::Replicator)
            && let Some(rep) = r.replicator()
        {
            let got = rep
                .status()
                .await
                .map_err(|e| tag(plan, &r.name, "status", e));
            seen.links.insert(r.name.clone(), got);
        }
    }
    seen
}

/// One probe's `peek`, bounded: its name and what it said.
async fn peek(
    (name, provider, p): (String, String, Arc<dyn crate::HealthProbe>),
) -> (String, Result<Health, String>) {
    let got = match tokio::time::timeout(Duration::from_secs(60), p.peek()).await {
        Ok(res) => res.map_err(|e| {
            e.or_provider(&provider)
                .in_context(&name, "probe")
                .to_string()
        }),
        Err(_) => Err(format!("{name}: probe did not answer within 60s")),
    };
    (name, got)
}

fn lag_text(lag: Option<Duration>) -> String {
    lag.map(format_duration).unwrap_or_else(|| "unknown".into())
}

fn check_step(plan: &Plan, step: &Step, seen: &Seen, out: &mut Out<'_>) {
    let id = Some(step.id.as_str());
    match &step.action {
        StepAction::TrafficSet {
            router,
            split,
            scope,
        } => {
            let named: Vec<&str> = split.targets().collect();
            router_checks(
                plan,
                step,
                router,
                &named,
                scope.as_deref(),
                split.iter().count() > 1,
                seen,
                out,
            );
            for t in named {
                linked_probe(plan, step, router, t, seen, out);
            }
        }
        StepAction::TrafficShift {
            router,
            to,
            phases,
            gate,
            scope,
        } => {
            let weighted = phases.iter().any(|p| *p < 100);
            router_checks(
                plan,
                step,
                router,
                &[to.as_str()],
                scope.as_deref(),
                weighted,
                seen,
                out,
            );
            linked_probe(plan, step, router, to, seen, out);
            if let Some(g) = gate {
                gate_probe(step, &g.probe, "gate", seen, out);
            }
        }
        StepAction::ProbeWait(g) => gate_probe(step, &g.probe, "probe.wait", seen, out),
        StepAction::ReplicationCheck {
            replicator,
            max_lag,
        } => {
            lag_check(step, replicator, *max_lag, seen, out);
        }
        StepAction::ReplicationStop { replicator }
        | StepAction::ReplicationReverse { replicator } => {
            let stop = matches!(step.action, StepAction::ReplicationStop { .. });
            if let Some(rep) = plan.resource(replicator).and_then(|r| r.replicator()) {
                let caps = rep.capabilities();
                let (can, what) = if stop {
                    (caps.stop, "stop")
                } else {
                    (caps.reverse, "reverse")
                };
                out.add(
                    "capability",
                    Some(replicator),
                    id,
                    can,
                    format!(
                        "replicator `{replicator}` {} {what} replication",
                        if can { "can" } else { "cannot" }
                    ),
                );
            }
        }
        StepAction::DatastorePromote {
            store,
            max_lag,
            lag_from,
        } => {
            store_cap(plan, step, store, "promote", |c| c.promote, out);
            match seen.roles.get(store) {
                Some(Ok(Role::Replica { of })) => out.add("store_role", Some(store), id, true, format!(
                    "store `{store}` is a replica{} and can be promoted",
                    of.as_ref().map(|o| format!(" of {o}")).unwrap_or_default()
                )),
                Some(Ok(role)) => out.add("store_role", Some(store), id, false, format!(
                    "store `{store}` is {role}, not a replica: step `{}` promotes it (has a failover already happened?)",
                    step.id
                )),
                Some(Err(e)) => out.add("store_role", Some(store), id, false, format!("role of store `{store}` unknown: {e}")),
                None => {}
            }
            if let (Some(max), Some(src)) = (max_lag, lag_from) {
                lag_check(step, src, Some(*max), seen, out);
            }
        }
        StepAction::DatastoreFence { store } => {
            store_cap(plan, step, store, "fence", |c| c.fence, out)
        }
        StepAction::DatastoreFlush { store } => {
            store_cap(plan, step, store, "flush", |c| c.flush, out)
        }
        _ => {}
    }
}

#[allow(clippy::too_many_arguments)]
fn router_checks(
    plan: &Plan,
    step: &Step,
    router: &str,
    named: &[&str],
    scope: Option<&str>,
    weighted: bool,
    seen: &Seen,
    out: &mut Out<'_>,
) {
    let id = Some(step.id.as_str());
    let Some(r) = plan.resource(router).and_then(|r| r.router()) else {
        return;
    };
    let targets = r.targets();
    for t in named {
        let ok = targets.iter().any(|x| x == t);
        out.add(
            "router_target",
            Some(router),
            id,
            ok,
            if ok {
                format!("router `{router}` has target `{t}`")
            } else {
                format!(
                    "router `{router}` has no target `{t}` (targets: {})",
                    targets.join(", ")
                )
            },
        );
    }
    if let Some(Ok(split)) = seen.splits.get(router) {
        let unknown: Vec<&str> = split
            .targets()
            .filter(|t| !targets.iter().any(|x| x == t))
            .collect();
        if !unknown.is_empty() {
            out.add(
                "router_target",
                Some(router),
                id,
                false,
                format!(
                    "router `{router}` sends traffic to targets it does not know: {}",
                    unknown.join(", ")
                ),
            );
        }
    }
    let caps = r.capabilities();
    if weighted {
        out.add(
            "capability",
            Some(router),
            id,
            caps.weighted,
            format!(
                "router `{router}` {} split traffic by weight",
                if caps.weighted { "can" } else { "cannot" }
            ),
        );
    }
    if let Some(s) = scope {
        let ok = caps.accepts_scope(s);
        out.add(
            "capability",
            Some(router),
            id,
            ok,
            format!(
                "router `{router}` {} scope `{s}`",
                if ok { "accepts" } else { "does not accept" }
            ),
        );
    }
}

fn store_cap(
    plan: &Plan,
    step: &Step,
    store: &str,
    what: &str,
    can: impl Fn(&crate::StoreCapabilities) -> bool,
    out: &mut Out<'_>,
) {
    if let Some(s) = plan.resource(store).and_then(|r| r.store()) {
        let ok = can(&s.capabilities());
        out.add(
            "capability",
            Some(store),
            Some(&step.id),
            ok,
            format!(
                "store `{store}` {} {what}",
                if ok { "can" } else { "cannot" }
            ),
        );
    }
}

/// The probe linked (`health = { target = "probe" }`) to the target a traffic
/// step moves to must be healthy.
fn linked_probe(
    plan: &Plan,
    step: &Step,
    router: &str,
    target: &str,
    seen: &Seen,
    out: &mut Out<'_>,
) {
    if let Some(probe) = plan.resource(router).and_then(|r| r.health.get(target)) {
        gate_probe(
            step,
            probe,
            &format!("health of `{router}:{target}`"),
            seen,
            out,
        );
    }
}

fn gate_probe(step: &Step, probe: &str, what: &str, seen: &Seen, out: &mut Out<'_>) {
    let id = Some(step.id.as_str());
    match seen.health.get(probe) {
        Some(Ok(h)) if h.status == HealthStatus::Healthy => out.add("gate_probe", Some(probe), id, true, format!(
            "probe `{probe}` ({what} of step `{}`) is healthy", step.id
        )),
        Some(Ok(h)) => out.add("gate_probe", Some(probe), id, false, format!(
            "probe `{probe}` ({what} of step `{}`) is {}{}: the side the plan moves to is not serving",
            step.id, h.status, if h.detail.is_empty() { String::new() } else { format!(": {}", h.detail) }
        )),
        Some(Err(e)) => out.add("gate_probe", Some(probe), id, false, format!("probe `{probe}` ({what} of step `{}`) cannot be read: {e}", step.id)),
        None => {}
    }
}

fn lag_check(
    step: &Step,
    replicator: &str,
    max_lag: Option<Duration>,
    seen: &Seen,
    out: &mut Out<'_>,
) {
    let id = Some(step.id.as_str());
    let Some(max) = max_lag else { return };
    match seen.links.get(replicator) {
        Some(Ok(st)) => {
            let (ok, msg) = match (st.state, st.lag) {
                (ReplicationState::Replicating, Some(lag)) if lag <= max => (
                    true,
                    format!(
                        "replication into `{replicator}` lags {} (max_lag {})",
                        format_duration(lag),
                        format_duration(max)
                    ),
                ),
                (ReplicationState::Replicating, Some(lag)) => (
                    false,
                    format!(
                        "replication into `{replicator}` lags {}, more than max_lag {} of step `{}`: its RPO gate would refuse",
                        format_duration(lag),
                        format_duration(max),
                        step.id
                    ),
                ),
                (ReplicationState::Replicating, None) => (
                    false,
                    format!(
                        "replication into `{replicator}`: lag unknown; the RPO gate of step `{}` would refuse",
                        step.id
                    ),
                ),
                (state, lag) => (
                    false,
                    format!(
                        "replication into `{replicator}` is {state} (lag {}), not replicating",
                        lag_text(lag)
                    ),
                ),
            };
            out.add("replication_lag", Some(replicator), id, ok, msg);
        }
        Some(Err(e)) => out.add(
            "replication_lag",
            Some(replicator),
            id,
            false,
            format!("status of `{replicator}` unknown: {e}"),
        ),
        None => {}
    }
}
