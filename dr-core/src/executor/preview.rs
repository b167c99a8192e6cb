//! `dr plan`: a read-only preview of what each step would change.

use std::collections::HashMap;

use serde::Serialize;

use crate::plan::{Plan, StepAction};
use crate::{Role, TrafficSplit};

/// What one step would do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepPreview {
    /// Step id.
    pub step: String,
    /// Its action.
    pub action: String,
    /// The change, e.g. `front: east 100 -> maintenance 100`.
    pub change: String,
    /// A one-way step: once it succeeded, a rollback stops here ("One-way doors").
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub one_way: bool,
    /// A problem the preview can already see (an RPO gate that would refuse, a
    /// resource that cannot be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// Reads current state through the non-mutating trait methods only (`current`,
/// `role`, `status`, `probe`, `Action::describe`) and follows the plan's own
/// changes forward, so each traffic step shows the split it would start from.
pub(crate) async fn preview(plan: &Plan) -> Vec<StepPreview> {
    let mut splits: HashMap<(String, Option<String>), TrafficSplit> = HashMap::new();
    let mut roles: HashMap<String, Role> = HashMap::new();
    let mut out = Vec::new();
    for step in &plan.steps {
        let mut warning = None;
        let change = match &step.action {
            StepAction::TrafficSet { router, scope, .. }
            | StepAction::TrafficShift { router, scope, .. } => {
                let key = (router.clone(), scope.clone());
                let before = match splits.get(&key) {
                    Some(s) => Ok(s.clone()),
                    None => match plan.resource(router).and_then(|r| r.router()) {
                        Some(r) => r
                            .current(scope.as_deref())
                            .await
                            .map_err(|e| tag(plan, router, "current", e)),
                        None => Err(format!("router `{router}` unavailable")),
                    },
                };
                let label = format!(
                    "{router}{}",
                    scope
                        .as_ref()
                        .map(|s| format!(" [{s}]"))
                        .unwrap_or_default()
                );
                match before {
                    Ok(before) => {
                        let (after, how) = match &step.action {
                            StepAction::TrafficShift {
                                to, phases, gate, ..
                            } => {
                                let how = format!(
                                    " in phases {}{}",
                                    phases
                                        .iter()
                                        .map(|p| format!("{p}%"))
                                        .collect::<Vec<_>>()
                                        .join("/"),
                                    gate.as_ref()
                                        .map(|g| format!(", gated on `{}`", g.probe))
                                        .unwrap_or_default()
                                );
                                (before.shifted_towards(to, 100), how)
                            }
                            // traffic.set (the only other action this arm matches)
                            StepAction::TrafficSet { split, .. } => (split.clone(), String::new()),
                            _ => (before.clone(), String::new()),
                        };
                        let change = if before.same_as(&after) {
                            format!("{label}: {before} (no change)")
                        } else {
                            format!("{label}: {before} -> {after}{how}")
                        };
                        splits.insert(key, after);
                        change
                    }
                    Err(e) => {
                        warning = Some(e);
                        format!("{label}: current split unknown")
                    }
                }
            }
            StepAction::DatastorePromote {
                store,
                max_lag,
                lag_from,
            } => {
                let role = current_role(plan, &mut roles, store).await;
                if let (Some(max), Some(src)) = (max_lag, lag_from)
                    && let Some(r) = plan.resource(src).and_then(|r| r.replicator())
                {
                    match r.status().await {
                        Ok(st) => match st.lag {
                            Some(l) if l <= *max => {}
                            Some(l) => {
                                warning = Some(format!(
                                    "RPO gate would refuse: lag {} > max_lag {}",
                                    crate::format_duration(l),
                                    crate::format_duration(*max)
                                ))
                            }
                            None => warning = Some("RPO gate would refuse: lag unknown".into()),
                        },
                        Err(e) => warning = Some(e.to_string()),
                    }
                }
                roles.insert(store.clone(), Role::Primary);
                format!("{store}: {role} -> primary")
            }
            StepAction::DatastoreFence { store } => format!(
                "{store}: {} -> fenced (refuses writes)",
                current_role(plan, &mut roles, store).await
            ),
            StepAction::DatastoreFlush { store } => format!("{store}: flush cached data"),
            StepAction::ReplicationCheck { replicator, .. }
            | StepAction::ReplicationStop { replicator }
            | StepAction::ReplicationReverse { replicator } => {
                let now = match plan.resource(replicator).and_then(|r| r.replicator()) {
                    Some(r) => r
                        .status()
                        .await
                        .map_err(|e| tag(plan, replicator, "status", e)),
                    None => Err(format!("replicator `{replicator}` unavailable")),
                };
                let desc = match &now {
                    Ok(st) => format!(
                        "{} (lag {})",
                        st.state,
                        st.lag
                            .map(crate::format_duration)
                            .unwrap_or_else(|| "unknown".into())
                    ),
                    Err(e) => {
                        warning = Some(e.clone());
                        "state unknown".into()
                    }
                };
                match &step.action {
                    StepAction::ReplicationCheck { max_lag, .. } => {
                        if let (Ok(st), Some(max)) = (&now, max_lag)
                            && st.lag.is_none_or(|l| l > *max)
                        {
                            warning = Some(format!(
                                "RPO gate would refuse: lag over max_lag {}",
                                crate::format_duration(*max)
                            ));
                        }
                        format!(
                            "{replicator}: check {desc} against max_lag {}",
                            max_lag.map(crate::format_duration).unwrap_or_default()
                        )
                    }
                    StepAction::ReplicationStop { .. } => {
                        format!("{replicator}: {desc} -> stopped")
                    }
                    _ => format!(
                        "{replicator}: {desc} -> reversed (replicate back to the old primary)"
                    ),
                }
            }
            StepAction::ProbeWait(g) => {
                let now = match plan.resource(&g.probe).and_then(|r| r.probe()) {
                    // `peek`: a preview must not change what the run's probe sees.
                    Some(p) => p
                        .peek()
                        .await
                        .map(|h| h.status.to_string())
                        .unwrap_or_else(|e| format!("unknown ({e})")),
                    None => "unavailable".into(),
                };
                format!("{}: wait until healthy (now {now})", g.probe)
            }
            StepAction::Approval { message } => format!(
                "needs approval (--approve {}){}",
                step.id,
                message
                    .as_ref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
            StepAction::Wait { duration } => format!("wait {}", crate::format_duration(*duration)),
            StepAction::Notify { message, .. } => format!("notify webhook: {message}"),
            StepAction::Exec { command, .. } => format!("run `{}`", command.join(" ")),
            StepAction::Provider { action, .. } => match action.verify().await {
                Ok(true) => format!("{} (already in place)", action.describe()),
                _ => action.describe(),
            },
        };
        out.push(StepPreview {
            step: step.id.clone(),
            action: step.action.name().into(),
            change: plan.redactor().redact(&change),
            one_way: step.one_way,
            warning: warning.map(|w| plan.redactor().redact(&w)),
        });
    }
    out
}

async fn current_role(plan: &Plan, roles: &mut HashMap<String, Role>, store: &str) -> String {
    if let Some(r) = roles.get(store) {
        return r.to_string();
    }
    match plan.resource(store).and_then(|r| r.store()) {
        Some(s) => match s.role().await {
            Ok(r) => {
                roles.insert(store.into(), r.clone());
                r.to_string()
            }
            Err(e) => format!("role unknown ({e})"),
        },
        None => "unavailable".into(),
    }
}

/// A provider error as text, naming the provider, resource and operation.
fn tag(plan: &Plan, resource: &str, operation: &str, e: crate::ProviderError) -> String {
    let provider = plan
        .resource(resource)
        .map(|r| r.provider.as_str())
        .unwrap_or(resource);
    e.or_provider(provider)
        .in_context(resource, operation)
        .to_string()
}
