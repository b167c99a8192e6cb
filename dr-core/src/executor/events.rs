//! The event stream: what the CLI renders as progress and `--json` prints.

use std::sync::Arc;

use serde::Serialize;

use crate::TrafficSplit;
use crate::outcome::{CompensationStatus, StepStatus};

/// One thing that happened during a run. Serialized with an `event` tag, one JSON
/// object per line (`{"event":"step_started","step":"shift",..}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A run (or a resumed run) began.
    RunStarted {
        /// The run id (`dr resume` and `dr report` take it).
        run_id: String,
        /// The plan's name.
        plan: String,
        /// Whether this continues a run whose process died.
        resumed: bool,
        /// How the run fails over: `graceful` or `ungraceful`.
        mode: crate::RunMode,
    },
    /// A `[plan.notify]` target could not be told of `notified` (the run goes
    /// on; the report has a line for it).
    NotifyFailed {
        /// The run event that was to be sent (`failed`, `after_finished`, ..).
        notified: String,
        /// The target, as its origin only.
        target: String,
        /// Why (redacted).
        error: String,
    },
    /// The operator switched the run's mode (`dr resume RUN_ID --ungraceful`).
    ModeChanged {
        /// The mode before.
        from: crate::RunMode,
        /// The mode from now on.
        to: crate::RunMode,
        /// Who switched it.
        operator: String,
    },
    /// A step began.
    StepStarted {
        /// Step id.
        step: String,
        /// Its action.
        action: String,
    },
    /// A step was already completed by the run being resumed.
    StepSkipped {
        /// Step id.
        step: String,
        /// Why.
        reason: String,
    },
    /// A provider call failed with a retryable error and will be retried.
    Retrying {
        /// Step id.
        step: String,
        /// The provider operation (`apply`, `promote`).
        operation: String,
        /// The attempt that failed (1-based).
        attempt: u32,
        /// How long until the next attempt.
        delay_ms: u64,
        /// The error (redacted).
        error: String,
    },
    /// A gate polled its probe and is not satisfied yet.
    GateWaiting {
        /// Step id.
        step: String,
        /// Probe resource.
        probe: String,
        /// What the probe said.
        status: String,
        /// Consecutive healthy results so far.
        consecutive: u32,
        /// Consecutive healthy results needed.
        needed: u32,
        /// Time left before the gate gives up.
        remaining_ms: u64,
    },
    /// A gate was satisfied.
    GatePassed {
        /// Step id.
        step: String,
        /// Probe resource.
        probe: String,
    },
    /// A traffic phase was applied.
    PhaseApplied {
        /// Step id.
        step: String,
        /// The phase (percent for the shift's target).
        phase: u32,
        /// The split now in place.
        split: TrafficSplit,
    },
    /// An approval step is waiting for a person.
    ApprovalNeeded {
        /// Step id.
        step: String,
        /// What the approver is asked.
        message: String,
    },
    /// Something worth the operator's attention that does not fail the step
    /// (`--accept-data-loss` used, a step that cannot be compensated).
    Warning {
        /// Step id, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// The warning.
        message: String,
    },
    /// A step ended.
    StepFinished {
        /// Step id.
        step: String,
        /// `succeeded` or `failed`.
        status: StepStatus,
        /// How long it took.
        duration_ms: u64,
        /// Attempts made (1 + retries).
        attempts: u32,
        /// What it changed, for the operator (`front: east 100 -> west 100`).
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        /// The error, when it failed (redacted).
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The provider error's kind (`throttled`, `auth`, ...), when a provider call failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        error_kind: Option<String>,
        /// The remote request id of the failed call, when there was one.
        #[serde(skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
    },
    /// A step stopped at a safe point because the run was interrupted (Ctrl-C,
    /// SIGTERM): nothing was rolled back and `dr resume` continues it.
    StepInterrupted {
        /// Step id.
        step: String,
        /// Where it stopped (`after phase 40%`).
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// A completed step was compensated during rollback.
    RolledBack {
        /// Step id.
        step: String,
        /// `succeeded`, `failed` or `skipped` (nothing to undo / cannot be undone).
        status: CompensationStatus,
        /// What was done.
        detail: String,
    },
    /// After the last step of a succeeded run, the `[plan.after]` window began.
    AfterStarted {
        /// The probe resources watched.
        probes: Vec<String>,
        /// How long the window lasts.
        for_ms: u64,
        /// One round of probes every ...
        every_ms: u64,
    },
    /// The `[plan.after]` window ended (before `run_finished`).
    AfterFinished {
        /// `healthy`, `unhealthy` or `interrupted`.
        status: String,
        /// Rounds of probes made.
        rounds: u32,
        /// Every probe that was not healthy, by round.
        failures: Vec<crate::journal::AfterFailure>,
    },
    /// The run ended; always the last event.
    RunFinished {
        /// The run id.
        run_id: String,
        /// `succeeded`, `failed`, `rolled_back`, `halted` or `interrupted`.
        status: String,
        /// RTO achieved, when the run succeeded.
        rto_ms: Option<u64>,
        /// Largest replication lag observed at a stop or promote.
        rpo_ms: Option<u64>,
        /// Why the run failed, if it did.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The kind of the provider error that failed the run, if one did.
        #[serde(skip_serializing_if = "Option::is_none")]
        error_kind: Option<String>,
        /// The remote request id of that error, when there was one.
        #[serde(skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
        /// Steps that failed with `on_failure = "continue"`: a run that ends
        /// `succeeded` with these did not do everything it was asked.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        failed_steps: Vec<String>,
        /// The one-way step that stopped the rollback (status `halted`).
        #[serde(skip_serializing_if = "Option::is_none")]
        halted_by: Option<String>,
        /// What the operator must decide now (status `halted` or `interrupted`).
        #[serde(skip_serializing_if = "Option::is_none")]
        decision: Option<String>,
        /// How the `[plan.after]` window ended (`healthy`, `unhealthy`,
        /// `interrupted`), when the run succeeded and the plan has one.
        #[serde(skip_serializing_if = "Option::is_none")]
        after: Option<String>,
    },
}

/// Receives events as they happen. Must be quick: it is called inline.
pub type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;
