//! `dr plan`: a read-only preview of what each step would change.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use crate::plan::{Gate, Plan, Step, StepAction};
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
    let mut ahead = Lookahead {
        plan,
        splits: HashMap::new(),
        roles: HashMap::new(),
    };
    let mut out = Vec::new();
    for step in &plan.steps {
        let (change, warning) = ahead.change(step).await;
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

/// The plan's state as its earlier steps will have left it: the split of each
/// (router, scope) and the role of each store, read once and then followed.
struct Lookahead<'a> {
    plan: &'a Plan,
    splits: HashMap<(String, Option<String>), TrafficSplit>,
    roles: HashMap<String, Role>,
}

/// What a step would change, and a problem the preview can already see.
type Change = (String, Option<String>);

impl Lookahead<'_> {
    /// What `step` would change.
    async fn change(&mut self, step: &Step) -> Change {
        let plan = self.plan;
        match &step.action {
            StepAction::TrafficSet { router, scope, .. }
            | StepAction::TrafficShift { router, scope, .. } => {
                self.traffic(&step.action, router, scope).await
            }
            StepAction::DatastorePromote {
                store,
                max_lag,
                lag_from,
            } => self.promote(store, *max_lag, lag_from.as_deref()).await,
            StepAction::DatastoreFence { store } => {
                let role = current_role(plan, &mut self.roles, store).await;
                (format!("{store}: {role} -> fenced (refuses writes)"), None)
            }
            StepAction::DatastoreFlush { store } => (format!("{store}: flush cached data"), None),
            StepAction::ReplicationCheck { replicator, .. }
            | StepAction::ReplicationStop { replicator }
            | StepAction::ReplicationReverse { replicator } => {
                replication(plan, &step.action, replicator).await
            }
            StepAction::ProbeWait(g) => (probe_wait(plan, g).await, None),
            StepAction::Approval { message } => (
                format!(
                    "needs approval (--approve {}){}",
                    step.id,
                    message
                        .as_ref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ),
                None,
            ),
            StepAction::Wait { duration } => {
                (format!("wait {}", crate::format_duration(*duration)), None)
            }
            StepAction::Notify { message, .. } => (format!("notify webhook: {message}"), None),
            StepAction::Exec { command, .. } => (format!("run `{}`", command.join(" ")), None),
            StepAction::Provider { action, .. } => match action.verify().await {
                Ok(true) => (format!("{} (already in place)", action.describe()), None),
                _ => (action.describe(), None),
            },
        }
    }

    /// `traffic.set` and `traffic.shift`: the split it starts from (the
    /// router's, or the one an earlier step leaves) and the one it ends at.
    async fn traffic(
        &mut self,
        action: &StepAction,
        router: &str,
        scope: &Option<String>,
    ) -> Change {
        let plan = self.plan;
        let key = (router.to_string(), scope.clone());
        let before = match self.splits.get(&key) {
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
        let before = match before {
            Ok(before) => before,
            Err(e) => return (format!("{label}: current split unknown"), Some(e)),
        };
        let (after, how) = match action {
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
            // traffic.set (the only other action this matches)
            StepAction::TrafficSet { split, .. } => (split.clone(), String::new()),
            _ => (before.clone(), String::new()),
        };
        let change = if before.same_as(&after) {
            format!("{label}: {before} (no change)")
        } else {
            format!("{label}: {before} -> {after}{how}")
        };
        self.splits.insert(key, after);
        (change, None)
    }

    /// `datastore.promote`: the role it leaves, and whether its RPO gate would
    /// refuse with the lag now.
    async fn promote(
        &mut self,
        store: &str,
        max_lag: Option<Duration>,
        lag_from: Option<&str>,
    ) -> Change {
        let plan = self.plan;
        let mut warning = None;
        let role = current_role(plan, &mut self.roles, store).await;
        if let (Some(max), Some(src)) = (max_lag, lag_from)
            && let Some(r) = plan.resource(src).and_then(|r| r.replicator())
        {
            match r.status().await {
                Ok(st) => match st.lag {
                    Some(l) if l <= max => {}
                    Some(l) => {
                        warning = Some(format!(
                            "RPO gate would refuse: lag {} > max_lag {}",
                            crate::format_duration(l),
                            crate::format_duration(max)
                        ))
                    }
                    None => warning = Some("RPO gate would refuse: lag unknown".into()),
                },
                Err(e) => warning = Some(e.to_string()),
            }
        }
        self.roles.insert(store.to_string(), Role::Primary);
        (format!("{store}: {role} -> primary"), warning)
    }
}

/// `replication.check`, `.stop` and `.reverse`: the link's state and lag now,
/// and what the step makes of it.
async fn replication(plan: &Plan, action: &StepAction, replicator: &str) -> Change {
    let mut warning = None;
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
    let change = match action {
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
        StepAction::ReplicationStop { .. } => format!("{replicator}: {desc} -> stopped"),
        _ => format!("{replicator}: {desc} -> reversed (replicate back to the old primary)"),
    };
    (change, warning)
}

/// `probe.wait`: the probe's health now.
async fn probe_wait(plan: &Plan, g: &Gate) -> String {
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
