//! `dr plan`: a read-only preview of what each step would change.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use crate::concurrent::{Reader, Seen, read_all};
use crate::plan::{Gate, Plan, Step, StepAction};
use crate::{ReplicationStatus, Role, TrafficSplit};

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
///
/// Every read the preview needs is made first, concurrently (at most the plan's
/// `max_parallel` at once), and each distinct read once.
pub(crate) async fn preview(plan: &Plan) -> Vec<StepPreview> {
    let mut ahead = Lookahead {
        plan,
        splits: HashMap::new(),
        roles: HashMap::new(),
        live: prefetch(plan).await,
    };
    let mut out = Vec::new();
    for step in &plan.steps {
        let (change, warning) = if step.skipped_in(plan.mode) {
            (
                "not run: the plan is ungraceful and the step says `ungraceful = \"skip\"`"
                    .to_string(),
                None,
            )
        } else {
            ahead.change(step)
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

/// The plan's state as its earlier steps will have left it: the split of each
/// (router, scope) and the role of each store, read once and then followed.
struct Lookahead<'a> {
    plan: &'a Plan,
    splits: HashMap<(String, Option<String>), TrafficSplit>,
    roles: HashMap<String, Role>,
    /// What the live reads saw (errors name provider, resource and operation).
    live: HashMap<Read, Result<Seen, String>>,
}

/// One live read the preview makes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Read {
    Split(String, Option<String>),
    Role(String),
    Status(String),
    Peek(String),
    /// A provider action's `verify`, by step id.
    Verify(String),
}

/// Makes every read the steps need, each distinct one once, concurrently.
async fn prefetch(plan: &Plan) -> HashMap<Read, Result<Seen, String>> {
    let mut wanted: Vec<Read> = Vec::new();
    for step in &plan.steps {
        match &step.action {
            StepAction::TrafficSet { router, scope, .. }
            | StepAction::TrafficShift { router, scope, .. } => {
                wanted.push(Read::Split(router.clone(), scope.clone()))
            }
            StepAction::DatastorePromote {
                store,
                max_lag,
                lag_from,
            } => {
                wanted.push(Read::Role(store.clone()));
                if let (Some(_), Some(src)) = (max_lag, lag_from) {
                    wanted.push(Read::Status(src.clone()));
                }
            }
            StepAction::DatastoreFence { store } => wanted.push(Read::Role(store.clone())),
            StepAction::ReplicationCheck { replicator, .. }
            | StepAction::ReplicationStop { replicator }
            | StepAction::ReplicationReverse { replicator } => {
                wanted.push(Read::Status(replicator.clone()))
            }
            StepAction::ProbeWait(g) => wanted.push(Read::Peek(g.probe.clone())),
            StepAction::Provider { .. } => wanted.push(Read::Verify(step.id.clone())),
            _ => {}
        }
    }
    let mut seen = std::collections::HashSet::new();
    let mut reads = Vec::new();
    for read in wanted {
        if !seen.insert(read.clone()) {
            continue;
        }
        let resource = |name: &str| plan.resource(name);
        let reader = match &read {
            Read::Split(r, scope) => resource(r)
                .and_then(|r| r.router())
                .map(|x| Reader::Split(x.clone(), scope.clone())),
            Read::Role(s) => resource(s)
                .and_then(|r| r.store())
                .map(|x| Reader::Role(x.clone(), false)),
            Read::Status(s) => resource(s)
                .and_then(|r| r.replicator())
                .map(|x| Reader::Status(x.clone())),
            Read::Peek(p) => resource(p)
                .and_then(|r| r.probe())
                .map(|x| Reader::Peek(x.clone())),
            Read::Verify(id) => match plan.step(id).map(|s| &s.action) {
                Some(StepAction::Provider { action, .. }) => Some(Reader::Verify(action.clone())),
                _ => None,
            },
        };
        // A resource that is not there is left out: it reads as unavailable.
        if let Some(reader) = reader {
            reads.push((read, reader));
        }
    }
    let mut live = HashMap::new();
    for (read, got) in read_all(reads, plan.max_parallel).await {
        let (resource, op) = match &read {
            Read::Split(r, _) => (r.as_str(), "current"),
            Read::Role(s) => (s.as_str(), "role"),
            Read::Status(s) => (s.as_str(), "status"),
            Read::Peek(p) => (p.as_str(), "probe"),
            Read::Verify(id) => (id.as_str(), "verify"),
        };
        let got = got.map_err(|e| tag(plan, resource, op, e));
        live.insert(read, got);
    }
    live
}

/// What a step would change, and a problem the preview can already see.
type Change = (String, Option<String>);

impl Lookahead<'_> {
    /// What `step` would change.
    fn change(&mut self, step: &Step) -> Change {
        match &step.action {
            StepAction::TrafficSet { router, scope, .. }
            | StepAction::TrafficShift { router, scope, .. } => {
                self.traffic(&step.action, router, scope)
            }
            StepAction::DatastorePromote {
                store,
                max_lag,
                lag_from,
            } => self.promote(store, *max_lag, lag_from.as_deref()),
            StepAction::DatastoreFence { store } => {
                let role = self.current_role(store);
                (format!("{store}: {role} -> fenced (refuses writes)"), None)
            }
            StepAction::DatastoreFlush { store } => (format!("{store}: flush cached data"), None),
            StepAction::ReplicationCheck { replicator, .. }
            | StepAction::ReplicationStop { replicator }
            | StepAction::ReplicationReverse { replicator } => {
                replication(&self.live, &step.action, replicator)
            }
            StepAction::ProbeWait(g) => (probe_wait(&self.live, g), None),
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
            StepAction::PlanRun { plan, steps } => (
                format!(
                    "child plan `{plan}`: {} step(s), shown with its prefix",
                    steps.len()
                ),
                None,
            ),
            StepAction::Exec { command, .. } => (format!("run `{}`", command.join(" ")), None),
            StepAction::Provider { action, .. } => {
                match self.live.get(&Read::Verify(step.id.clone())) {
                    Some(Ok(Seen::Verified(true))) => {
                        (format!("{} (already in place)", action.describe()), None)
                    }
                    _ => (action.describe(), None),
                }
            }
        }
    }

    /// `traffic.set` and `traffic.shift`: the split it starts from (the
    /// router's, or the one an earlier step leaves) and the one it ends at.
    fn traffic(&mut self, action: &StepAction, router: &str, scope: &Option<String>) -> Change {
        let key = (router.to_string(), scope.clone());
        let before = match self.splits.get(&key) {
            Some(s) => Ok(s.clone()),
            None => match self.live.get(&Read::Split(key.0.clone(), key.1.clone())) {
                Some(Ok(Seen::Split(s))) => Ok(s.clone()),
                Some(Err(e)) => Err(e.clone()),
                _ => Err(format!("router `{router}` unavailable")),
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
    fn promote(
        &mut self,
        store: &str,
        max_lag: Option<Duration>,
        lag_from: Option<&str>,
    ) -> Change {
        let plan = self.plan;
        let mut warning = None;
        let role = self.current_role(store);
        if let (Some(max), Some(src)) = (max_lag, lag_from)
            && plan.resource(src).and_then(|r| r.replicator()).is_some()
        {
            match status(&self.live, src) {
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
                Err(e) => warning = Some(e),
            }
        }
        self.roles.insert(store.to_string(), Role::Primary);
        (format!("{store}: {role} -> primary"), warning)
    }
}

/// `replication.check`, `.stop` and `.reverse`: the link's state and lag now,
/// and what the step makes of it.
fn replication(
    live: &HashMap<Read, Result<Seen, String>>,
    action: &StepAction,
    replicator: &str,
) -> Change {
    let mut warning = None;
    let now = status(live, replicator);
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
fn probe_wait(live: &HashMap<Read, Result<Seen, String>>, g: &Gate) -> String {
    let now = match live.get(&Read::Peek(g.probe.clone())) {
        Some(Ok(Seen::Health(h))) => h.status.to_string(),
        Some(Err(e)) => format!("unknown ({e})"),
        _ => "unavailable".into(),
    };
    format!("{}: wait until healthy (now {now})", g.probe)
}

/// A replicator's status as read.
fn status(
    live: &HashMap<Read, Result<Seen, String>>,
    replicator: &str,
) -> Result<ReplicationStatus, String> {
    match live.get(&Read::Status(replicator.to_string())) {
        Some(Ok(Seen::Status(s))) => Ok(s.clone()),
        Some(Err(e)) => Err(e.clone()),
        _ => Err(format!("replicator `{replicator}` unavailable")),
    }
}

impl Lookahead<'_> {
    /// A store's role: as an earlier step leaves it, else as read.
    fn current_role(&mut self, store: &str) -> String {
        if let Some(r) = self.roles.get(store) {
            return r.to_string();
        }
        match self.live.get(&Read::Role(store.to_string())) {
            Some(Ok(Seen::Role(r, _))) => {
                self.roles.insert(store.into(), r.clone());
                r.to_string()
            }
            Some(Err(e)) => format!("role unknown ({e})"),
            _ => "unavailable".into(),
        }
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
