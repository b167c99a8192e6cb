//! The typed plan: what validation produces and the executor runs.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use crate::{
    Action, DataStore, HealthProbe, Kind, Replicator, Settings, TrafficRouter, TrafficSplit,
};

use super::source::SourceFile;
use crate::redact::Redactor;

/// A validated plan with every resource resolved to a provider object.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `[plan] name`: also the lock name, so two runs of one plan cannot overlap.
    pub name: String,
    /// `[plan] description`.
    pub description: Option<String>,
    /// Recovery time objective the report measures against.
    pub rto: Option<Duration>,
    /// Recovery point objective; also the default `max_lag` of RPO gates.
    pub rpo: Option<Duration>,
    /// How many steps may run at once (default 8).
    pub max_parallel: usize,
    /// Safety rules checked before and after every traffic change.
    pub safety: Safety,
    /// The resources, in file order.
    pub resources: Vec<Resource>,
    /// The steps, in file order.
    pub steps: Vec<Step>,
    /// `[plan.watch]`: what `dr watch` probes and when it triggers the plan.
    pub watch: Option<Watch>,
    /// `[plan.after]`: the probes a succeeded run keeps watching, and for how
    /// long, after its last step.
    pub after: Option<After>,
    /// `[plan] mode`: how a run of this plan fails over unless `dr run
    /// --ungraceful` says otherwise (default graceful).
    pub mode: crate::RunMode,
    /// `[plan.notify]`: who is told of which run events.
    pub notify: Option<PlanNotify>,
    /// What validation warns about without refusing the plan (e.g. a rollback
    /// that a one-way step would cut short); `dr validate` prints them.
    pub warnings: Vec<super::Diagnostic>,
    /// The plan's text and file name.
    pub source: SourceFile,
    /// The child plans' texts and file names (`plan.run` steps, nested ones
    /// too), in the order they were read.
    pub children: Vec<SourceFile>,
    /// `[plan] lock_dir`: where the plan's lock file lives, shared by every
    /// state dir (see [`crate::lock::lock_dir`]).
    pub lock_dir: Option<PathBuf>,
    pub(crate) redactor: Redactor,
    pub(crate) env_values: Vec<(String, String)>,
    /// Variables that were unset when the plan was loaded with
    /// `LoadOptions::allow_unset_env`: placeholders stand in for them, so the
    /// plan can be validated but never run.
    pub(crate) unset_env: Vec<String>,
    /// Positions in `steps` and `resources` by id and name, built at load.
    pub(crate) index: PlanIndex,
}

/// Where each step and resource of a loaded plan is, so that [`Plan::step`]
/// and [`Plan::resource`] take constant time.
#[derive(Debug, Clone, Default)]
pub(crate) struct PlanIndex {
    steps: HashMap<String, usize>,
    resources: HashMap<String, usize>,
}

impl PlanIndex {
    pub fn new(steps: &[Step], resources: &[Resource]) -> Self {
        PlanIndex {
            steps: steps
                .iter()
                .enumerate()
                .map(|(i, s)| (s.id.clone(), i))
                .collect(),
            resources: resources
                .iter()
                .enumerate()
                .map(|(i, r)| (r.name.clone(), i))
                .collect(),
        }
    }
}

impl Plan {
    /// The resource called `name`.
    ///
    /// Constant time through an index built at load; the fields are public,
    /// so when the index disagrees with `resources` (changed since), it falls
    /// back to a search.
    pub fn resource(&self, name: &str) -> Option<&Resource> {
        match self
            .index
            .resources
            .get(name)
            .map(|i| self.resources.get(*i))
        {
            Some(Some(r)) if r.name == name => Some(r),
            _ => self.resources.iter().find(|r| r.name == name),
        }
    }

    /// The step with id `id` (constant time, like [`Plan::resource`]).
    pub fn step(&self, id: &str) -> Option<&Step> {
        match self.index.steps.get(id).map(|i| self.steps.get(*i)) {
            Some(Some(s)) if s.id == id => Some(s),
            _ => self.steps.iter().find(|s| s.id == id),
        }
    }

    /// SHA-256 of the plan's text, hex: identifies exactly what ran.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        if self.children.is_empty() {
            return hex::encode(Sha256::digest(self.source.text.as_bytes()));
        }
        // With child plans: every file, each with its name, so that an edited
        // child changes the digest too.
        let mut h = Sha256::new();
        h.update(self.source.text.as_bytes());
        for c in &self.children {
            h.update([0]);
            h.update(c.name.as_bytes());
            h.update([0]);
            h.update(c.text.as_bytes());
        }
        hex::encode(h.finalize())
    }

    /// Hides the plan's secrets: `${env:..}` values that are secret by their
    /// variable's name or where they land, and literal credentials (URL
    /// passwords, header values, values of secret-named keys). See
    /// [`Redactor`] for the rules.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Every webhook URL the plan posts to (each `notify` step's `url`), in
    /// file order, repeats removed. For Slack, Teams and most incoming
    /// webhooks the URL is the credential, so the plan's [`redactor`]
    /// hides each of them wherever it appears; a new place in the plan that
    /// names a webhook (a notification target) belongs here.
    ///
    /// [`redactor`]: Self::redactor
    pub fn webhook_urls(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        self.steps
            .iter()
            .filter_map(|s| match &s.action {
                StepAction::Notify { url, .. } => Some(url.as_str()),
                _ => None,
            })
            .chain(
                self.notify
                    .iter()
                    .flat_map(|n| n.targets.iter().map(|t| t.url.as_str())),
            )
            .filter(|u| seen.insert(*u))
            .collect()
    }

    /// Every `(variable name, value)` substituted for `${env:..}` into the
    /// plan, once per name, in the order of first use. Secret values included:
    /// digest them, never print them.
    pub fn env_values(&self) -> &[(String, String)] {
        &self.env_values
    }
}

/// `[plan.safety]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Safety {
    /// A traffic step refuses to give weight to a target whose linked probe is not
    /// healthy (default false).
    #[serde(default)]
    pub never_route_to_unhealthy: bool,
    /// After a traffic change, at least this many targets carrying traffic must be
    /// healthy (targets without a linked probe count as healthy; default 0 = off).
    #[serde(default)]
    pub min_healthy_targets: u32,
}

/// `[plan.watch]`: the active side's health, and when its failure triggers the
/// plan (see [`crate::watch`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Watch {
    /// Probe resources: the active side's health.
    pub probes: Vec<String>,
    /// One round of probes every ... (default 10s).
    #[serde(with = "crate::duration::millis")]
    pub interval: Duration,
    /// Per probe (default 5s, at most `interval`): a probe that has not
    /// answered by then is unhealthy for that round.
    #[serde(with = "crate::duration::millis")]
    pub timeout: Duration,
    /// Consecutive failed rounds before the trigger (default 3).
    pub failure_threshold: u32,
    /// Unhealthy probes that make a round fail (default: all of them).
    pub quorum: u32,
    /// No second trigger within this time of the first (default 30m).
    #[serde(with = "crate::duration::millis")]
    pub hold_down: Duration,
    /// `auto` (run the plan) or `approve` (notify, then wait for an approval).
    pub mode: WatchMode,
    /// How often `dr watch` re-runs the readiness check (default 30m).
    #[serde(with = "crate::duration::millis")]
    pub check_every: Duration,
    /// Under a shared coordination (`dr watch --coordination`): the live
    /// watch instances, the leader included, that must see the side failing
    /// in the same window before the leader triggers (default 1).
    pub witnesses: u32,
}

/// `[plan.after]`: after the last step of a run that succeeded (a resumed one
/// too), the executor probes `probes` every `every` for `for`. A round is
/// unhealthy when any probe in it is unhealthy (or errs, or does not answer
/// within `every`); the window is `unhealthy` when any round was. Nothing is
/// undone: the run stays `succeeded`, the report says what the window saw and
/// `dr run` exits 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct After {
    /// Probe resources of the plan: the new side's health.
    pub probes: Vec<String>,
    /// How long the window lasts (`for`).
    #[serde(rename = "for_ms", with = "crate::duration::millis")]
    pub window: Duration,
    /// One round of probes every ... (at most `for`).
    #[serde(rename = "every_ms", with = "crate::duration::millis")]
    pub every: Duration,
}

/// `[plan.notify]`: one message per event of `on` to every target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanNotify {
    /// The events that are sent.
    pub on: Vec<NotifyEvent>,
    /// Where they are sent.
    pub targets: Vec<NotifyTarget>,
}

/// A run event `[plan.notify]` can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    /// A run (or a resumed run) began.
    RunStarted,
    /// An `approval` step waits for a person.
    ApprovalNeeded,
    /// A rollback stopped at a one-way step.
    Halted,
    /// The run failed.
    Failed,
    /// The run was rolled back.
    RolledBack,
    /// Every step succeeded.
    Succeeded,
    /// The run was interrupted (Ctrl-C, SIGTERM).
    Interrupted,
    /// `dr watch` triggered the plan.
    WatchTriggered,
    /// The `[plan.after]` window ended (with its status).
    AfterFinished,
}

impl NotifyEvent {
    /// The name in `on` and in the message (`after_finished`).
    pub fn as_str(&self) -> &'static str {
        match self {
            NotifyEvent::RunStarted => "run_started",
            NotifyEvent::ApprovalNeeded => "approval_needed",
            NotifyEvent::Halted => "halted",
            NotifyEvent::Failed => "failed",
            NotifyEvent::RolledBack => "rolled_back",
            NotifyEvent::Succeeded => "succeeded",
            NotifyEvent::Interrupted => "interrupted",
            NotifyEvent::WatchTriggered => "watch_triggered",
            NotifyEvent::AfterFinished => "after_finished",
        }
    }
}

/// The body a notification target gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NotifyFormat {
    /// `{"plan","run_id","event","text","delivery_id",..}` (as a `notify`
    /// step's, with `event`).
    #[default]
    Webhook,
    /// A Slack incoming webhook: `text` and Block Kit `blocks` (plan, run,
    /// event, status, the error, the command to run next).
    Slack,
    /// A Microsoft Teams Workflows webhook: a `message` carrying an
    /// Adaptive Card with the same facts.
    Teams,
    /// PagerDuty Events API v2: `trigger` on `halted`, `failed`,
    /// `rolled_back` and `watch_triggered`, `resolve` (same `dedup_key`) on
    /// `succeeded`; other events are not sent. Needs `routing_key`.
    Pagerduty,
}

impl NotifyFormat {
    /// `webhook`, `slack`, `teams` or `pagerduty`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyFormat::Webhook => "webhook",
            NotifyFormat::Slack => "slack",
            NotifyFormat::Teams => "teams",
            NotifyFormat::Pagerduty => "pagerduty",
        }
    }
}

/// Where PagerDuty's Events API v2 takes events (a `pagerduty` target's
/// default `url`).
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// One `[plan.notify]` target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotifyTarget {
    /// The URL (a secret: shown as its origin only).
    #[serde(skip)]
    pub url: String,
    /// Extra headers (their values are secret).
    #[serde(skip)]
    pub headers: BTreeMap<String, String>,
    /// The body's format.
    pub format: NotifyFormat,
    /// PagerDuty's integration key (`format = "pagerduty"`; a secret).
    #[serde(skip)]
    pub routing_key: Option<String>,
}

/// What a watch does when it triggers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WatchMode {
    /// Run the plan at once, as `dr run` does.
    #[default]
    Auto,
    /// Send the plan's `notify` webhooks, then wait for a person's approval.
    Approve,
}

impl WatchMode {
    /// `auto` or `approve`.
    pub fn as_str(self) -> &'static str {
        match self {
            WatchMode::Auto => "auto",
            WatchMode::Approve => "approve",
        }
    }
}

/// A named resource: a provider plus that provider's settings, resolved to the
/// provider objects for each kind the plan uses it as.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The plan's name for it.
    pub name: String,
    /// `provider = "..."`.
    pub provider: String,
    /// The settings the factories got.
    pub settings: Settings,
    /// `health = { target = "probe resource" }`: links router targets to probes.
    pub health: BTreeMap<String, String>,
    /// The kinds the plan uses this resource as (explicitly, by a step or a link).
    pub kinds: Vec<Kind>,
    pub(crate) router: Option<Arc<dyn TrafficRouter>>,
    pub(crate) probe: Option<Arc<dyn HealthProbe>>,
    pub(crate) store: Option<Arc<dyn DataStore>>,
    pub(crate) replicator: Option<Arc<dyn Replicator>>,
}

impl Resource {
    /// The router, when this resource is used as one.
    pub fn router(&self) -> Option<&Arc<dyn TrafficRouter>> {
        self.router.as_ref()
    }

    /// The probe, when this resource is used as one.
    pub fn probe(&self) -> Option<&Arc<dyn HealthProbe>> {
        self.probe.as_ref()
    }

    /// The store, when this resource is used as one.
    pub fn store(&self) -> Option<&Arc<dyn DataStore>> {
        self.store.as_ref()
    }

    /// The replicator, when this resource is used as one.
    pub fn replicator(&self) -> Option<&Arc<dyn Replicator>> {
        self.replicator.as_ref()
    }
}

/// What to do when a step fails (after its retries).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Stop: start no further step; the run fails.
    #[default]
    Abort,
    /// Record the failure and go on; dependents still run.
    Continue,
    /// Stop and compensate every completed step in reverse order.
    Rollback,
}

/// What a step does in an ungraceful run (`ungraceful = "skip" | "continue"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Ungraceful {
    /// The step does not run: it ends `skipped` (it needs the old region).
    Skip,
    /// The step runs; its failure does not stop the run (as `on_failure =
    /// "continue"`).
    Continue,
}

/// One step of a plan.
#[derive(Debug, Clone)]
pub struct Step {
    /// Unique id.
    pub id: String,
    /// Steps that must succeed first.
    pub depends_on: Vec<String>,
    /// Deadline for the whole step, retries and gates included.
    pub timeout: Option<Duration>,
    /// Retries of retryable provider errors (default 3).
    pub retries: Option<u32>,
    /// What a failure does to the run (in a graceful run; see
    /// [`Step::on_failure_in`]).
    pub on_failure: OnFailure,
    /// What the step does in an ungraceful run (default: as in a graceful one).
    pub ungraceful: Option<Ungraceful>,
    /// Whether going back past this step once it has succeeded is unsafe (a
    /// promote, a fence, a reverse, or a step that declares `one_way = true`):
    /// a rollback stops at the latest completed one-way step ("One-way doors").
    pub one_way: bool,
    /// What the step does.
    pub action: StepAction,
    /// 1-based line of the step in the plan file.
    pub line: usize,
}

impl Step {
    /// What a failure of this step does to a run in `mode`: `ungraceful =
    /// "continue"` makes it `continue` in an ungraceful run.
    pub fn on_failure_in(&self, mode: crate::RunMode) -> OnFailure {
        match (mode, self.ungraceful) {
            (crate::RunMode::Ungraceful, Some(Ungraceful::Continue)) => OnFailure::Continue,
            _ => self.on_failure,
        }
    }

    /// Whether the step is left out of a run in `mode` (`ungraceful = "skip"`
    /// in an ungraceful run).
    pub fn skipped_in(&self, mode: crate::RunMode) -> bool {
        mode == crate::RunMode::Ungraceful && self.ungraceful == Some(Ungraceful::Skip)
    }

    /// Whether the step may be run again after it was in flight when the process
    /// died, or retried after a failure that may have taken effect: built-in
    /// steps are (they capture, compare and verify), an `exec` step only with
    /// `idempotent = true`, a provider action when it declares
    /// [`Action::idempotent`] (one that can [`Action::verifies`] is checked by
    /// the executor first).
    pub fn rerunnable(&self) -> bool {
        match &self.action {
            StepAction::Exec { idempotent, .. } => *idempotent,
            StepAction::Provider { action, .. } => action.idempotent() || action.verifies(),
            _ => true,
        }
    }
}

/// A health gate: `probe.wait`, or the `gate` of a `traffic.shift`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gate {
    /// The probe resource.
    pub probe: String,
    /// Consecutive healthy results required (default 1 unless `healthy_for` is set).
    pub times: Option<u32>,
    /// Healthy without interruption for this long.
    #[serde(with = "crate::duration::opt_millis")]
    pub healthy_for: Option<Duration>,
    /// Polling interval (default 5s).
    #[serde(with = "crate::duration::millis")]
    pub every: Duration,
    /// Give up after this long (default: the step's timeout, else 10m).
    #[serde(with = "crate::duration::opt_millis")]
    pub timeout: Option<Duration>,
}

/// What a step does.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StepAction {
    /// `traffic.set`: apply a split.
    TrafficSet {
        /// Router resource.
        router: String,
        /// The split.
        split: TrafficSplit,
        /// Optional scope (e.g. `WNAM`).
        scope: Option<String>,
    },
    /// `traffic.shift`: move traffic to `to` in phases, gated.
    TrafficShift {
        /// Router resource.
        router: String,
        /// Target that ends with 100.
        to: String,
        /// Percentages for `to`, increasing, ending at 100.
        phases: Vec<u32>,
        /// Gate held after each phase.
        gate: Option<Gate>,
        /// Optional scope.
        scope: Option<String>,
    },
    /// `probe.wait`: wait until a probe is healthy.
    ProbeWait(Gate),
    /// `replication.check`: RPO gate.
    ReplicationCheck {
        /// Replicator resource.
        replicator: String,
        /// Largest acceptable lag (default: the plan's `rpo`).
        max_lag: Option<Duration>,
    },
    /// `replication.stop`.
    ReplicationStop {
        /// Replicator resource.
        replicator: String,
    },
    /// `replication.reverse`.
    ReplicationReverse {
        /// Replicator resource.
        replicator: String,
    },
    /// `datastore.promote`, with an optional RPO gate.
    DatastorePromote {
        /// Store resource.
        store: String,
        /// Refuse when the lag is larger (unless data loss is accepted).
        max_lag: Option<Duration>,
        /// Where the lag is read: the step's `replicator`, else the store itself.
        lag_from: Option<String>,
    },
    /// `datastore.fence`.
    DatastoreFence {
        /// Store resource.
        store: String,
    },
    /// `datastore.flush`.
    DatastoreFlush {
        /// Store resource.
        store: String,
    },
    /// `approval`: a person confirms.
    Approval {
        /// What the approver is asked.
        message: Option<String>,
    },
    /// `wait`.
    Wait {
        /// How long.
        duration: Duration,
    },
    /// `notify`: POST a JSON message to a webhook.
    Notify {
        /// Webhook URL.
        url: String,
        /// The text.
        message: String,
        /// Extra headers.
        headers: BTreeMap<String, String>,
    },
    /// `exec`: run a command.
    Exec {
        /// Program and arguments (a string runs through `sh -c`).
        command: Vec<String>,
        /// Working directory.
        cwd: Option<String>,
        /// Extra environment.
        env: BTreeMap<String, String>,
        /// Whether running the command twice is the same as once (`idempotent =
        /// true`): only then is it re-run by `dr resume` after it was in flight.
        idempotent: bool,
    },
    /// `plan.run`: the steps of a child plan run as part of this run (they
    /// are in [`Plan::steps`], with ids prefixed `STEP_ID/`); this step ends
    /// once every one of them ended.
    PlanRun {
        /// The child plan's file as the plan names it (relative to the plan).
        plan: String,
        /// The child's steps, as ids of this plan (`data-tier/promote`).
        steps: Vec<String>,
    },
    /// A provider action (`aws.ec2.start_instances`).
    Provider {
        /// The action name.
        name: String,
        /// The built action.
        action: Arc<dyn Action>,
    },
}

impl StepAction {
    /// Whether this action is a one-way door by its nature: `datastore.promote`,
    /// `datastore.fence`, `replication.reverse`, and provider actions that
    /// declare [`Action::one_way`].
    pub fn one_way_by_default(&self) -> bool {
        match self {
            StepAction::DatastorePromote { .. }
            | StepAction::DatastoreFence { .. }
            | StepAction::ReplicationReverse { .. } => true,
            StepAction::Provider { action, .. } => action.one_way(),
            _ => false,
        }
    }

    /// The plan's name for the action (`traffic.shift`).
    pub fn name(&self) -> &str {
        match self {
            StepAction::TrafficSet { .. } => "traffic.set",
            StepAction::TrafficShift { .. } => "traffic.shift",
            StepAction::ProbeWait(_) => "probe.wait",
            StepAction::ReplicationCheck { .. } => "replication.check",
            StepAction::ReplicationStop { .. } => "replication.stop",
            StepAction::ReplicationReverse { .. } => "replication.reverse",
            StepAction::DatastorePromote { .. } => "datastore.promote",
            StepAction::DatastoreFence { .. } => "datastore.fence",
            StepAction::DatastoreFlush { .. } => "datastore.flush",
            StepAction::Approval { .. } => "approval",
            StepAction::Wait { .. } => "wait",
            StepAction::Notify { .. } => "notify",
            StepAction::Exec { .. } => "exec",
            StepAction::PlanRun { .. } => "plan.run",
            StepAction::Provider { name, .. } => name,
        }
    }

    /// The resource the step acts on, if any.
    pub fn resource(&self) -> Option<&str> {
        match self {
            StepAction::TrafficSet { router, .. } | StepAction::TrafficShift { router, .. } => {
                Some(router)
            }
            StepAction::ProbeWait(g) => Some(&g.probe),
            StepAction::ReplicationCheck { replicator, .. }
            | StepAction::ReplicationStop { replicator }
            | StepAction::ReplicationReverse { replicator } => Some(replicator),
            StepAction::DatastorePromote { store, .. }
            | StepAction::DatastoreFence { store }
            | StepAction::DatastoreFlush { store } => Some(store),
            _ => None,
        }
    }
}

/// The names of the built-in step actions.
pub const BUILTIN_ACTIONS: &[&str] = &[
    "traffic.set",
    "traffic.shift",
    "probe.wait",
    "replication.check",
    "replication.stop",
    "replication.reverse",
    "datastore.promote",
    "datastore.fence",
    "datastore.flush",
    "approval",
    "wait",
    "notify",
    "exec",
    "plan.run",
];

// ---------------------------------------------------------------------------
// The file format, as serde types: decoding and the published JSON Schema.
// ---------------------------------------------------------------------------

/// A duration written as text (`"15m"`, `"500ms"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DurationText(pub Duration);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        crate::parse_duration(&s)
            .map(DurationText)
            .map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for DurationText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9]+(\\.[0-9]+)?(ms|s|m|h|d))+$|^0$",
            "description": "A duration: `500ms`, `10s`, `2m`, `1h30m`."
        })
    }
}

fn opt_d(d: Option<DurationText>) -> Option<Duration> {
    d.map(|d| d.0)
}

/// `[plan]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlanTable {
    /// The plan's name (also its lock name).
    pub name: String,
    /// What the plan does.
    #[serde(default)]
    pub description: Option<String>,
    /// Recovery time objective.
    #[serde(default)]
    pub rto: Option<DurationText>,
    /// Recovery point objective.
    #[serde(default)]
    pub rpo: Option<DurationText>,
    /// Steps that may run at once (default 8).
    #[serde(default)]
    pub max_parallel: Option<u32>,
    /// Safety rules.
    #[serde(default)]
    pub safety: Option<Safety>,
    /// Directory of the plan's lock file, shared by every state dir that runs
    /// this plan (default: `$DR_LOCK_DIR`, else `<state-dir>/locks`).
    #[serde(default)]
    pub lock_dir: Option<String>,
    /// What `dr watch` probes and when it triggers the plan.
    #[serde(default)]
    pub watch: Option<WatchTable>,
    /// What a succeeded run keeps probing after its last step, and how long.
    #[serde(default)]
    pub after: Option<AfterTable>,
    /// `graceful` (default: planned switchovers, the old primary is there) or
    /// `ungraceful` (forced failovers); `dr run --ungraceful` overrides it.
    #[serde(default)]
    pub mode: Option<crate::RunMode>,
    /// Who is told of which run events.
    #[serde(default)]
    pub notify: Option<NotifyTable>,
}

/// `[plan.notify]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotifyTable {
    /// The events to send (`run_started`, `approval_needed`, `halted`,
    /// `failed`, `rolled_back`, `succeeded`, `interrupted`, `watch_triggered`,
    /// `after_finished`).
    pub on: Vec<NotifyEvent>,
    /// Where to send them.
    pub targets: Vec<NotifyTargetTable>,
}

/// One target of `[plan.notify]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotifyTargetTable {
    /// The webhook URL (write it as `${env:VAR}`); for `pagerduty`, default
    /// the public Events API v2 endpoint.
    #[serde(default)]
    pub url: Option<String>,
    /// Extra headers.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// The body's format: `webhook` (the default), `slack`, `teams` or `pagerduty`.
    #[serde(default)]
    pub format: Option<NotifyFormat>,
    /// `pagerduty`: the integration's routing key (write it as `${env:VAR}`).
    #[serde(default)]
    pub routing_key: Option<String>,
}

/// `[plan.after]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AfterTable {
    /// Probe resources: the new side's health after the last step.
    pub probes: Vec<String>,
    /// How long to keep probing after the last step (`15m`).
    #[serde(rename = "for")]
    pub window: DurationText,
    /// One round of probes every ... (`30s`; at most `for`).
    pub every: DurationText,
}

/// `[plan.watch]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WatchTable {
    /// Probe resources: the active side's health; the plan runs when it fails.
    pub probes: Vec<String>,
    /// One round of probes every ... (default 10s).
    #[serde(default)]
    pub interval: Option<DurationText>,
    /// Per probe (default 5s, at most `interval`); no answer in time is unhealthy.
    #[serde(default)]
    pub timeout: Option<DurationText>,
    /// Consecutive failed rounds before the trigger (default 3).
    #[serde(default)]
    pub failure_threshold: Option<u32>,
    /// Unhealthy probes that make a round fail (default: all of them).
    #[serde(default)]
    pub quorum: Option<u32>,
    /// No second trigger within this time (default 30m).
    #[serde(default)]
    pub hold_down: Option<DurationText>,
    /// `auto` (default: run the plan) or `approve` (notify, then wait for an approval).
    #[serde(default)]
    pub mode: Option<WatchMode>,
    /// How often `dr watch` re-runs `dr check` (default 30m).
    #[serde(default)]
    pub check_every: Option<DurationText>,
    /// With `dr watch --coordination`: live instances (the leader included)
    /// that must see the side failing in the same window before the leader
    /// triggers (default 1), so one watcher's broken network is not taken for
    /// a regional outage.
    #[serde(default)]
    pub witnesses: Option<u32>,
}

/// `[resources.NAME]`: a provider plus that provider's own settings.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ResourceTable {
    /// The provider (`redis`, `sim.router`, `cloudflare.load_balancer`, ...).
    pub provider: String,
    /// Router targets linked to probe resources: `{ westus = "web_west" }`.
    #[serde(default)]
    pub health: Option<BTreeMap<String, String>>,
    /// The provider's settings.
    #[serde(flatten)]
    pub settings: serde_json::Map<String, serde_json::Value>,
}

/// Keys every step has.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct StepCommon {
    /// Unique step id.
    pub id: String,
    /// The action (`traffic.shift`, `datastore.promote`, a provider action, ...).
    pub action: String,
    /// Steps that must succeed first.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Deadline for the whole step.
    #[serde(default)]
    pub timeout: Option<DurationText>,
    /// Retries of retryable errors (default 3).
    #[serde(default)]
    pub retries: Option<u32>,
    /// `abort` (default), `continue` or `rollback`.
    #[serde(default)]
    pub on_failure: Option<OnFailure>,
    /// Going back past this step is unsafe once it succeeded (default: true for
    /// `datastore.promote`, `datastore.fence`, `replication.reverse` and provider
    /// actions that declare it; false otherwise).
    #[serde(default)]
    pub one_way: Option<bool>,
    /// In an ungraceful run: `skip` (the step does not run) or `continue`
    /// (its failure does not stop the run).
    #[serde(default)]
    pub ungraceful: Option<Ungraceful>,
}

pub(crate) const COMMON_KEYS: &[&str] = &[
    "id",
    "action",
    "depends_on",
    "timeout",
    "retries",
    "on_failure",
    "one_way",
    "ungraceful",
];

/// A gate table.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GateTable {
    /// Probe resource.
    pub probe: String,
    /// Consecutive healthy results required.
    #[serde(default)]
    pub times: Option<u32>,
    /// Healthy without interruption for this long.
    #[serde(default)]
    pub healthy_for: Option<DurationText>,
    /// Polling interval (default 5s).
    #[serde(default)]
    pub every: Option<DurationText>,
    /// Give up after this long.
    #[serde(default)]
    pub timeout: Option<DurationText>,
}

impl GateTable {
    pub fn into_gate(self) -> Gate {
        Gate {
            probe: self.probe,
            times: self.times,
            healthy_for: opt_d(self.healthy_for),
            every: self.every.map(|d| d.0).unwrap_or(Duration::from_secs(5)),
            timeout: opt_d(self.timeout),
        }
    }
}

/// `probe.wait` keys (the step's `timeout` bounds the wait).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProbeWaitTable {
    /// Probe resource.
    pub probe: String,
    /// Consecutive healthy results required.
    #[serde(default)]
    pub times: Option<u32>,
    /// Healthy without interruption for this long.
    #[serde(default)]
    pub healthy_for: Option<DurationText>,
    /// Polling interval (default 5s).
    #[serde(default)]
    pub every: Option<DurationText>,
}

/// The built-in actions' own keys, tagged by `action`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(tag = "action", deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) enum BuiltinStep {
    /// Apply a split.
    #[serde(rename = "traffic.set")]
    TrafficSet {
        /// Router resource.
        router: String,
        /// Weight per target, summing to 100.
        split: BTreeMap<String, u32>,
        /// Optional provider-specific part of the traffic (e.g. `WNAM`).
        #[serde(default)]
        scope: Option<String>,
    },
    /// Move traffic to `to` in gated phases.
    #[serde(rename = "traffic.shift")]
    TrafficShift {
        /// Router resource.
        router: String,
        /// Target that ends with 100 %.
        to: String,
        /// Increasing percentages ending at 100 (default `[100]`).
        #[serde(default)]
        phases: Option<Vec<u32>>,
        /// Gate held after each phase.
        #[serde(default)]
        gate: Option<GateTable>,
        /// Optional scope.
        #[serde(default)]
        scope: Option<String>,
    },
    /// Wait until a probe is healthy.
    #[serde(rename = "probe.wait")]
    ProbeWait(ProbeWaitTable),
    /// RPO gate.
    #[serde(rename = "replication.check")]
    ReplicationCheck {
        /// Replicator resource.
        replicator: String,
        /// Largest acceptable lag (default: the plan's `rpo`).
        #[serde(default)]
        max_lag: Option<DurationText>,
    },
    /// Break a replication link.
    #[serde(rename = "replication.stop")]
    ReplicationStop {
        /// Replicator resource.
        replicator: String,
    },
    /// Re-protect: replicate back from the new primary.
    #[serde(rename = "replication.reverse")]
    ReplicationReverse {
        /// Replicator resource.
        replicator: String,
    },
    /// Make a store a writable primary.
    #[serde(rename = "datastore.promote")]
    DatastorePromote {
        /// Store resource.
        store: String,
        /// RPO gate: refuse when the lag is larger (unless `--accept-data-loss`).
        #[serde(default)]
        max_lag: Option<DurationText>,
        /// Replicator to read the lag from (default: the store resource itself).
        #[serde(default)]
        replicator: Option<String>,
    },
    /// Make a store refuse writes.
    #[serde(rename = "datastore.fence")]
    DatastoreFence {
        /// Store resource.
        store: String,
    },
    /// Drop a store's cached state.
    #[serde(rename = "datastore.flush")]
    DatastoreFlush {
        /// Store resource.
        store: String,
    },
    /// A person confirms (`--approve ID` or a prompt); never skipped silently.
    #[serde(rename = "approval")]
    Approval {
        /// What the approver is asked.
        #[serde(default)]
        message: Option<String>,
    },
    /// Sleep.
    #[serde(rename = "wait")]
    Wait {
        /// How long.
        duration: DurationText,
    },
    /// POST a JSON message to a webhook.
    #[serde(rename = "notify")]
    Notify {
        /// Webhook URL.
        url: String,
        /// The message.
        #[serde(default)]
        message: Option<String>,
        /// Extra headers.
        #[serde(default)]
        headers: Option<BTreeMap<String, String>>,
    },
    /// Run a command; a non-zero exit fails the step.
    #[serde(rename = "exec")]
    Exec {
        /// A string (run by `sh -c`) or an array (program and arguments).
        command: CommandSpec,
        /// Working directory.
        #[serde(default)]
        cwd: Option<String>,
        /// Extra environment.
        #[serde(default)]
        env: Option<BTreeMap<String, String>>,
        /// Running the command twice is the same as once: `dr resume` may re-run
        /// it after it was in flight when the process died (default false).
        #[serde(default)]
        idempotent: Option<bool>,
    },
    /// Run another plan's steps as part of this run.
    #[serde(rename = "plan.run")]
    PlanRun {
        /// The child plan's file, relative to this plan's.
        plan: String,
    },
}

/// `command = "..."` or `command = ["prog", "arg"]`.
#[derive(Debug, JsonSchema)]
#[serde(untagged)]
pub(crate) enum CommandSpec {
    /// Run through `sh -c`.
    Shell(String),
    /// Program and arguments.
    Argv(Vec<String>),
}

/// By hand rather than `untagged`, so that a wrong value gets a sentence (not
/// "data did not match any variant") and an element of the array its own path.
impl<'de> Deserialize<'de> for CommandSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = CommandSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a string (run by `sh -c`) or an array of strings (program and arguments)",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<CommandSpec, E> {
                Ok(CommandSpec::Shell(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<CommandSpec, A::Error> {
                let mut argv = Vec::new();
                while let Some(arg) = seq.next_element::<String>()? {
                    argv.push(arg);
                }
                Ok(CommandSpec::Argv(argv))
            }
        }
        d.deserialize_any(Visit)
    }
}

impl CommandSpec {
    pub fn into_argv(self) -> Vec<String> {
        match self {
            CommandSpec::Shell(s) => vec!["sh".into(), "-c".into(), s],
            CommandSpec::Argv(v) => v,
        }
    }
}

/// A step as written (schema only).
#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
pub(crate) struct StepDoc {
    /// Unique step id.
    pub id: String,
    /// Steps that must succeed first.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Deadline for the whole step.
    #[serde(default)]
    pub timeout: Option<DurationText>,
    /// Retries of retryable errors (default 3).
    #[serde(default)]
    pub retries: Option<u32>,
    /// `abort` (default), `continue` or `rollback`.
    #[serde(default)]
    pub on_failure: Option<OnFailure>,
    /// Going back past this step is unsafe once it succeeded.
    #[serde(default)]
    pub one_way: Option<bool>,
    /// In an ungraceful run: `skip` or `continue`.
    #[serde(default)]
    pub ungraceful: Option<Ungraceful>,
    #[serde(flatten)]
    pub action: BuiltinStep,
}

/// A whole plan file (schema only).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct PlanDoc {
    /// Editors' schema reference (JSON plans).
    #[serde(default, rename = "$schema")]
    pub schema: Option<String>,
    /// Plan metadata.
    pub plan: PlanTable,
    /// Named resources.
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceTable>,
    /// The steps.
    #[serde(default)]
    pub steps: Vec<StepDoc>,
}

/// The JSON Schema of the plan format, generated from the types above (built-in
/// actions are checked in full; a provider action `noun.verb` not built in may
/// carry any keys, which its provider checks).
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<PlanDoc>();
    let mut v = serde_json::to_value(&schema).expect("schema serializes");
    v["title"] = "dr plan".into();
    // Provider actions: any `action` not built in, with free-form keys.
    let provider_step = serde_json::json!({
        "type": "object",
        "description": "A provider action (e.g. `aws.ec2.start_instances`); its provider checks its keys.",
        "required": ["id", "action"],
        "properties": {
            "id": {"type": "string"},
            "action": {"type": "string", "pattern": "^[a-z0-9_]+(\\.[a-z0-9_]+)+$", "not": {"enum": BUILTIN_ACTIONS}},
            "depends_on": {"type": "array", "items": {"type": "string"}},
            "timeout": {"$ref": "#/$defs/Duration"},
            "retries": {"type": "integer", "minimum": 0},
            "on_failure": {"$ref": "#/$defs/OnFailure"},
            "one_way": {"type": "boolean"},
            "ungraceful": {"$ref": "#/$defs/Ungraceful"}
        }
    });
    if let Some(defs) = v.get_mut("$defs").and_then(|d| d.as_object_mut())
        && let Some(mut step) = defs.remove("StepDoc")
    {
        // serde's flatten hides `deny_unknown_fields` from schemars: a key that
        // neither the common part nor the matched action declares is an error.
        step["unevaluatedProperties"] = false.into();
        defs.insert("BuiltinStepDoc".into(), step);
        defs.insert("ProviderStep".into(), provider_step);
        defs.insert(
                "StepDoc".into(),
                serde_json::json!({"anyOf": [{"$ref": "#/$defs/BuiltinStepDoc"}, {"$ref": "#/$defs/ProviderStep"}]}),
            );
    }
    v
}

impl fmt::Display for OnFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OnFailure::Abort => "abort",
            OnFailure::Continue => "continue",
            OnFailure::Rollback => "rollback",
        })
    }
}
