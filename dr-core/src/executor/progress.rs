//! What is known about a run's progress: fresh, or rebuilt from its journal
//! for `dr resume`.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::context::StopLag;
use super::steps::InFlight;
use super::{ExecError, RunStatus};
use crate::Plan;
use crate::journal::{self, Record};
use crate::outcome::{CompensationStatus, StepError, StepStatus};
use crate::plan::{OnFailure, StepAction};

/// What is known about a run's progress (fresh, or rebuilt from a journal).
#[derive(Default)]
pub(super) struct Progress {
    /// Step id → succeeded?
    pub(super) done: HashMap<String, bool>,
    /// Succeeded steps in completion order, with their captured prior state.
    pub(super) completed: Vec<(String, Value)>,
    pub(super) in_flight: HashMap<String, InFlight>,
    pub(super) rollback_cause: Option<String>,
    pub(super) rollback_journaled: bool,
    /// Compensated steps, with whether the compensation undid them.
    pub(super) compensated: HashMap<String, bool>,
    pub(super) failure: Option<StepError>,
    /// Steps that failed with `on_failure = "continue"`.
    pub(super) failed_continue: Vec<String>,
    pub(super) stop_lags: HashMap<String, StopLag>,
    /// `exec` steps whose command was started: step → process group id.
    pub(super) spawned: HashMap<String, u32>,
    /// The run's mode as journaled (at `run_started`, then each `mode_changed`).
    pub(super) mode: crate::RunMode,
}

impl Progress {
    /// Rebuilds a run's progress from its journal. Errors when the run finished
    /// in a way that cannot be continued (`succeeded`, `rolled_back`, and
    /// `failed` unless the operator is `skipping` steps or switching a graceful
    /// run to `ungraceful`: then a failed run goes forward again as a halted
    /// one does, its failed steps run again).
    pub(super) fn replay(
        plan: &Plan,
        run_id: &str,
        entries: &[journal::Entry],
        skipping: bool,
        ungraceful: bool,
    ) -> Result<Progress, ExecError> {
        let mut p = Progress::default();
        let mut ended: Option<RunStatus> = None;
        for e in entries {
            match &e.record {
                Record::RunStarted { mode, .. } => p.mode = *mode,
                Record::ModeChanged { to, .. } => p.mode = *to,
                Record::StepStarted { step, before, .. } => {
                    p.in_flight.entry(step.clone()).or_insert_with(|| InFlight {
                        before: before.clone(),
                        phases_done: vec![],
                    });
                }
                Record::PhaseApplied { step, phase, .. } => {
                    if let Some(f) = p.in_flight.get_mut(step) {
                        f.phases_done.push(*phase);
                    }
                }
                Record::ChildSpawned { step, pid } => {
                    p.spawned.insert(step.clone(), *pid);
                }
                Record::StepFinished {
                    step,
                    status,
                    error,
                    error_kind,
                    request_id,
                    lag_ms,
                    ..
                } => {
                    p.spawned.remove(step);
                    let before = p
                        .in_flight
                        .remove(step)
                        .map(|f| f.before)
                        .unwrap_or(Value::Null);
                    if *status == StepStatus::Skipped {
                        p.skipped(step);
                        continue;
                    }
                    let ok = *status == StepStatus::Succeeded;
                    let s = plan.step(step);
                    if ok {
                        p.completed.push((step.clone(), before));
                        p.finished_ok(plan, step, *lag_ms);
                        continue;
                    }
                    p.done.insert(step.clone(), false);
                    let on_failure = s.map(|s| s.on_failure_in(p.mode));
                    if on_failure == Some(OnFailure::Continue) {
                        p.failed_continue.push(step.clone());
                    } else {
                        p.failure.get_or_insert_with(|| StepError {
                            message: format!(
                                "step `{step}` failed: {}",
                                error.clone().unwrap_or_default()
                            ),
                            kind: error_kind.clone(),
                            request_id: request_id.clone(),
                        });
                        if on_failure == Some(OnFailure::Rollback) {
                            p.rollback_cause.get_or_insert_with(|| step.clone());
                        }
                    }
                }
                Record::RollbackStarted { cause } => {
                    p.rollback_cause = Some(cause.clone());
                    p.rollback_journaled = true;
                }
                Record::StepCompensated { step, status, .. } => {
                    p.compensated
                        .insert(step.clone(), *status == CompensationStatus::Succeeded);
                }
                Record::RunFinished { status, .. } => {
                    ended = Some(RunStatus::parse(status).unwrap_or(RunStatus::Failed));
                }
                Record::Resumed { .. } => {
                    // A resumed failed run was resumed with `--skip` or
                    // switched to ungraceful.
                    if matches!(ended, Some(RunStatus::Halted | RunStatus::Failed)) {
                        p.reopen_halted(plan);
                    }
                    ended = None;
                }
                _ => {}
            }
        }
        match ended {
            None | Some(RunStatus::Interrupted) => {}
            Some(RunStatus::Halted) => p.reopen_halted(plan),
            Some(RunStatus::Failed)
                if skipping || (ungraceful && p.mode == crate::RunMode::Graceful) =>
            {
                p.reopen_halted(plan)
            }
            Some(RunStatus::Failed) => {
                let how = if p.mode == crate::RunMode::Graceful {
                    "--skip STEP_ID (go on without the failed step) or --ungraceful \
                     (run the failed steps again as a forced failover)"
                } else {
                    "--skip STEP_ID (go on without the failed step)"
                };
                return Err(ExecError::Resume(format!(
                    "run `{run_id}` already finished (failed); it goes on only with {how}"
                )));
            }
            Some(status) => {
                return Err(ExecError::Resume(format!(
                    "run `{run_id}` already finished ({status}); nothing to resume"
                )));
            }
        }
        Ok(p)
    }

    /// `step` succeeded (its captured state already in `completed`, or taken
    /// from `in_flight`): it is done, and a `replication.stop` remembers its lag.
    pub(super) fn finished_ok(&mut self, plan: &Plan, step: &str, lag_ms: Option<u64>) {
        self.spawned.remove(step);
        if let Some(f) = self.in_flight.remove(step) {
            self.completed.push((step.to_string(), f.before));
        }
        self.done.insert(step.to_string(), true);
        if let Some(StepAction::ReplicationStop { replicator }) = plan.step(step).map(|s| &s.action)
        {
            self.stop_lags.insert(
                replicator.clone(),
                StopLag {
                    step: step.to_string(),
                    lag_ms,
                },
            );
        }
    }

    /// The operator skipped `step`: it counts as done for its dependents, and
    /// there is nothing of it to compensate.
    pub(super) fn skipped(&mut self, step: &str) {
        self.spawned.remove(step);
        self.in_flight.remove(step);
        self.failed_continue.retain(|s| s != step);
        self.done.insert(step.to_string(), true);
    }

    /// A halted run goes forward again: the failed steps run again, and so do the
    /// steps its rollback undid; what the rollback could not undo stays done.
    fn reopen_halted(&mut self, plan: &Plan) {
        let mode = self.mode;
        let undone: HashSet<String> = self
            .compensated
            .iter()
            .filter(|(_, undid)| **undid)
            .map(|(s, _)| s.clone())
            .collect();
        self.done.retain(|step, ok| {
            let failed =
                !*ok && plan.step(step).map(|s| s.on_failure_in(mode)) != Some(OnFailure::Continue);
            !failed && !undone.contains(step)
        });
        self.completed.retain(|(s, _)| !undone.contains(s));
        self.compensated.clear();
        self.rollback_cause = None;
        self.rollback_journaled = false;
        self.failure = None;
    }
}
