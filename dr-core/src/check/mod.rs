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
//! | `rto` | the plan's critical path can finish within `rto`: of waits and gates (the arithmetic is in the message), or with [`check_in`] forecast from what the plan's earlier runs measured |
//! | `action_preflight` | every provider action's read-only [`Action::preflight`](crate::Action::preflight) holds (one finding per thing it checked; an error is not ok); every link a `replication.reverse` step reverses passes its replicator's [`Replicator::reverse_preflight`](crate::Replicator::reverse_preflight) (the same, with the replicator as the resource); and every `exec` step's program can be run (a path: an executable file; a bare name: on the `PATH` of the step's `env`, else dr's) |
//!
//! The plan is ready when every finding is `ok`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::concurrent::{self, Reader, Seen as Seen_};
use crate::plan::{Plan, Step, StepAction};
use crate::{
    Health, HealthStatus, Kind, Preflight, ReplicationState, ReplicationStatus, Role,
    format_duration,
};

mod history;
mod time;

pub use history::{MAX_RUNS as HISTORY_RUNS, PERCENTILE as HISTORY_PERCENTILE};

/// Most probes read at once.
const MAX_CONCURRENT_READS: usize = 256;

/// How long one action's preflight may take: as long as a probe read.
const PREFLIGHT_TIMEOUT: Duration = concurrent::PEEK_TIMEOUT;

/// One thing `dr check` looked at. `dr check --json` prints one per line:
/// `{"check":"store_role","resource":"db","step":"promote","ok":true,"message":".."}`
/// (`resource` and `step` left out when they do not apply).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was checked (`reachable`, `router_target`, `store_role`,
    /// `replication_lag`, `gate_probe`, `capability`, `step_timeout`, `rto`,
    /// `action_preflight`).
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
/// The `rto` finding is the static bound of waits and gates; see
/// [`check_in`] for a forecast from the plan's earlier runs.
pub async fn check(plan: &Plan) -> Vec<Finding> {
    check_with(plan, &history::History::default()).await
}

/// [`check`], with the `rto` finding forecast from what the plan's last
/// [`HISTORY_RUNS`] runs (and drills) in `state_dir` measured: each step
/// takes the [`HISTORY_PERCENTILE`]th percentile of its measured times, at
/// least its static least time; the plan is not ready when that critical
/// path exceeds `rto`. Without earlier runs, the static bound as in [`check`].
pub async fn check_in(plan: &Plan, state_dir: &std::path::Path) -> Vec<Finding> {
    let (dir, name) = (state_dir.to_path_buf(), plan.name.clone());
    let history = tokio::task::spawn_blocking(move || history::History::load(&dir, &name))
        .await
        .unwrap_or_default();
    check_with(plan, &history).await
}

async fn check_with(plan: &Plan, history: &history::History) -> Vec<Finding> {
    let mut out = Out {
        plan,
        findings: Vec::new(),
    };
    let (seen, mut preflights, reverses) = tokio::join!(
        read_all(plan, &mut out),
        preflight_all(plan),
        reverse_preflight_all(plan)
    );
    for step in &plan.steps {
        check_step(plan, step, &seen, &mut out);
        preflight_findings(step, &mut preflights, &mut out);
        reverse_preflight_findings(plan, step, &reverses, &mut out);
    }
    time::check_time(plan, history, &mut out);
    out.findings
}

/// Reads every resource in every role the plan uses it as (`reachable`),
/// concurrently: routers, stores and replicators at most the plan's
/// `max_parallel` at once, probes (a watch may name thousands) at most
/// [`MAX_CONCURRENT_READS`].
async fn read_all(plan: &Plan, out: &mut Out<'_>) -> Seen {
    let mut seen = Seen::default();
    let mut reads: Vec<((String, Kind), Reader)> = Vec::new();
    let mut peeks: Vec<((String, Kind), Reader)> = Vec::new();
    let mut missing: Vec<(String, Kind)> = Vec::new();
    for r in &plan.resources {
        for kind in &r.kinds {
            let key = (r.name.clone(), *kind);
            match kind {
                Kind::Router => match r.router() {
                    Some(x) => reads.push((key, Reader::Split(x.clone(), None))),
                    None => missing.push(key),
                },
                Kind::Store => match r.store() {
                    Some(x) => reads.push((key, Reader::Role(x.clone(), false))),
                    None => missing.push(key),
                },
                Kind::Replicator => match r.replicator() {
                    Some(x) => reads.push((key, Reader::Status(x.clone()))),
                    None => missing.push(key),
                },
                Kind::Probe => match r.probe() {
                    Some(x) => peeks.push((key, Reader::Peek(x.clone()))),
                    None => missing.push(key),
                },
            }
        }
        // A replicator read only through a store that is also one (a promote's lag source).
        if !r.kinds.contains(&Kind::Replicator)
            && let Some(rep) = r.replicator()
        {
            reads.push((
                (r.name.clone(), Kind::Replicator),
                Reader::Status(rep.clone()),
            ));
        }
    }
    let (got, peeked) = tokio::join!(
        concurrent::read_all(reads, plan.max_parallel),
        concurrent::read_all(peeks, MAX_CONCURRENT_READS)
    );
    let mut results: HashMap<(String, Kind), Result<String, String>> = HashMap::new();
    for ((name, kind), got) in got.into_iter().chain(peeked) {
        let op = match kind {
            Kind::Router => "current",
            Kind::Store => "role",
            Kind::Replicator => "status",
            Kind::Probe => "probe",
        };
        let got = got.map_err(|e| tag(plan, &name, op, e));
        let msg = match got {
            Ok(Seen_::Split(s)) => {
                let m = format!("router split: {s}");
                seen.splits.insert(name.clone(), Ok(s));
                Ok(m)
            }
            Ok(Seen_::Role(role, _)) => {
                let m = format!("store role: {role}");
                seen.roles.insert(name.clone(), Ok(role));
                Ok(m)
            }
            Ok(Seen_::Status(s)) => {
                let mut m = format!("replication {} (lag {})", s.state, lag_text(s.lag));
                if let Some(d) = &s.detail {
                    m.push_str(&format!(": {d}"));
                }
                seen.links.insert(name.clone(), Ok(s));
                Ok(m)
            }
            Ok(Seen_::Health(h)) => {
                let m = format!("probe answers: {}", h.status);
                seen.health.insert(name.clone(), Ok(h));
                Ok(m)
            }
            Ok(Seen_::Verified(_)) => Ok(String::new()),
            Err(e) => {
                let name = name.clone();
                match kind {
                    Kind::Router => _ = seen.splits.insert(name, Err(e.clone())),
                    Kind::Store => _ = seen.roles.insert(name, Err(e.clone())),
                    Kind::Replicator => _ = seen.links.insert(name, Err(e.clone())),
                    Kind::Probe => _ = seen.health.insert(name, Err(e.clone())),
                }
                Err(e)
            }
        };
        results.insert((name, kind), msg);
    }
    for key in missing {
        results.insert(key.clone(), Err(format!("{} not built", key.1.as_str())));
    }
    // `reachable` findings in the plan's order of resources and kinds.
    for r in &plan.resources {
        for kind in &r.kinds {
            let Some(result) = results.remove(&(r.name.clone(), *kind)) else {
                continue;
            };
            let name = r.name.as_str();
            let ok = result.is_ok();
            let msg =
                result.unwrap_or_else(|e| format!("cannot read {} `{name}`: {e}", kind.as_str()));
            out.add("reachable", Some(name), None, ok, msg);
        }
    }
    seen
}

/// What one action's preflight answered (an error already tagged).
type Preflights = HashMap<String, Result<Vec<Preflight>, String>>;

/// Runs every provider action's [`Action::preflight`](crate::Action::preflight),
/// at most the plan's `max_parallel` at once, each bounded by
/// [`PREFLIGHT_TIMEOUT`]; by step id.
async fn preflight_all(plan: &Plan) -> Preflights {
    let actions: Vec<(String, String, Arc<dyn crate::Action>)> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            StepAction::Provider { name, action } => {
                Some((s.id.clone(), name.clone(), action.clone()))
            }
            _ => None,
        })
        .collect();
    concurrent::bounded(
        actions,
        plan.max_parallel,
        |(id, name, action)| async move {
            let got = match tokio::time::timeout(PREFLIGHT_TIMEOUT, action.preflight()).await {
                Ok(got) => got,
                Err(_) => Err(crate::ProviderError::transient(format!(
                    "no answer within {}",
                    format_duration(PREFLIGHT_TIMEOUT)
                ))),
            };
            let got = got.map_err(|e| {
                e.or_provider(&name)
                    .in_context(&id, "preflight")
                    .to_string()
            });
            (id, got)
        },
    )
    .await
    .into_iter()
    .collect()
}

/// Runs the [`Replicator::reverse_preflight`](crate::Replicator::reverse_preflight)
/// of every replicator a `replication.reverse` step reverses (once each, however
/// many steps reverse it), like [`preflight_all`]; by replicator.
async fn reverse_preflight_all(plan: &Plan) -> Preflights {
    let mut links: Vec<(String, String, Arc<dyn crate::Replicator>)> = Vec::new();
    for step in &plan.steps {
        if let StepAction::ReplicationReverse { replicator } = &step.action
            && !links.iter().any(|(name, _, _)| name == replicator)
            && let Some(r) = plan.resource(replicator)
            && let Some(rep) = r.replicator()
        {
            links.push((replicator.clone(), r.provider.clone(), rep.clone()));
        }
    }
    concurrent::bounded(
        links,
        plan.max_parallel,
        |(name, provider, rep)| async move {
            let got = match tokio::time::timeout(PREFLIGHT_TIMEOUT, rep.reverse_preflight()).await {
                Ok(got) => got,
                Err(_) => Err(crate::ProviderError::transient(format!(
                    "no answer within {}",
                    format_duration(PREFLIGHT_TIMEOUT)
                ))),
            };
            let got = got.map_err(|e| {
                e.or_provider(&provider)
                    .in_context(&name, "reverse_preflight")
                    .to_string()
            });
            (name, got)
        },
    )
    .await
    .into_iter()
    .collect()
}

/// The `action_preflight` findings of a `replication.reverse` step: its
/// replicator's reverse preflight.
fn reverse_preflight_findings(plan: &Plan, step: &Step, reverses: &Preflights, out: &mut Out<'_>) {
    let StepAction::ReplicationReverse { replicator } = &step.action else {
        return;
    };
    let (id, res) = (Some(step.id.as_str()), Some(replicator.as_str()));
    match reverses.get(replicator) {
        Some(Ok(found)) => {
            for p in found {
                out.add("action_preflight", res, id, p.ok, p.message.clone());
            }
        }
        Some(Err(e)) => out.add(
            "action_preflight",
            res,
            id,
            false,
            format!("reverse preflight of `{replicator}` failed: {e}"),
        ),
        // Not built (the `reachable` finding says so), or its task panicked.
        None if plan
            .resource(replicator)
            .is_some_and(|r| r.replicator().is_some()) =>
        {
            out.add(
                "action_preflight",
                res,
                id,
                false,
                format!("reverse preflight of `{replicator}` panicked"),
            )
        }
        None => {}
    }
}

/// The `action_preflight` findings of `step`: its action's preflight, or the
/// program of an `exec` step.
fn preflight_findings(step: &Step, preflights: &mut Preflights, out: &mut Out<'_>) {
    let id = Some(step.id.as_str());
    match &step.action {
        StepAction::Provider { name, .. } => match preflights.remove(&step.id) {
            Some(Ok(found)) => {
                for p in found {
                    out.add("action_preflight", None, id, p.ok, p.message);
                }
            }
            Some(Err(e)) => out.add(
                "action_preflight",
                None,
                id,
                false,
                format!("preflight of `{name}` failed: {e}"),
            ),
            // Its task panicked: not a silent gap.
            None => out.add(
                "action_preflight",
                None,
                id,
                false,
                format!("preflight of `{name}` panicked"),
            ),
        },
        StepAction::Exec {
            command, cwd, env, ..
        } => {
            let p = crate::executor::exec_preflight(command, cwd.as_deref(), env);
            out.add("action_preflight", None, id, p.ok, p.message);
        }
        _ => {}
    }
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
