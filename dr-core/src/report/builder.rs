//! The report of a run, built from its journal one entry at a time.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{AuditHeadRef, PhaseMark, Report, StepReport, TimelineEntry};
use crate::journal::{Entry, OperatorDecision, Record};
use crate::outcome::{CompensationStatus, StepStatus};

/// Feed it the journal's entries in order ([`ReportBuilder::record`]), then
/// [`ReportBuilder::finish`]. The first entry must be `run_started`: without
/// it there is no report, and the entries are ignored.
pub(crate) struct ReportBuilder {
    /// Whether the first entry was recorded.
    begun: bool,
    /// What the first entry, `run_started`, says (`None`: it was something else).
    run: Option<RunHeader>,
    /// The plan's steps, by id.
    steps: BTreeMap<String, StepReport>,
    status: String,
    halted_by: Option<String>,
    decision: Option<String>,
    audit_head: Option<AuditHeadRef>,
    finished_at: Option<DateTime<Utc>>,
    /// When the last traffic step that succeeded ended.
    last_traffic: Option<DateTime<Utc>>,
    /// The largest lag a step that succeeded observed.
    rpo: Option<u64>,
    resumed: u32,
    /// In journal order, but a step's "started" line at when it started.
    timeline: Vec<(DateTime<Utc>, String)>,
    phases: Vec<PhaseMark>,
    /// Steps started and not yet finished or stopped at a safe point.
    in_flight: Vec<String>,
    /// The `[plan.after]` window, once it began.
    after: Option<super::AfterReport>,
    /// The run's mode now, and each switch.
    mode: crate::RunMode,
    mode_changes: Vec<super::ModeChange>,
    notify_failed: Vec<super::NotifyFailure>,
}

/// The `run_started` entry.
struct RunHeader {
    run_id: String,
    plan: String,
    digest: String,
    operator: String,
    rto_target_ms: Option<u64>,
    rpo_target_ms: Option<u64>,
    /// Step ids in plan order.
    ids: Vec<String>,
    /// When the run started.
    start: DateTime<Utc>,
}

/// A `step_finished` entry.
struct StepEnd<'a> {
    step: &'a str,
    action: &'a str,
    status: StepStatus,
    attempts: u32,
    detail: &'a Option<String>,
    error: &'a Option<String>,
    error_kind: &'a Option<String>,
    request_id: &'a Option<String>,
    lag_ms: Option<u64>,
    traffic: bool,
    started_at: DateTime<Utc>,
    /// When it was journaled: the step's end.
    at: DateTime<Utc>,
    /// The operator attested it done (`dr resume --done`).
    attested: &'a Option<crate::journal::Attestation>,
    /// A reverse's divergence (`after.divergence_bytes`), when it measured one.
    divergence: Option<&'a serde_json::Value>,
}

/// Milliseconds from `a` to `b`, 0 when `b` is earlier.
fn ms(a: DateTime<Utc>, b: DateTime<Utc>) -> u64 {
    (b - a).num_milliseconds().max(0) as u64
}

impl Default for ReportBuilder {
    fn default() -> Self {
        ReportBuilder {
            begun: false,
            run: None,
            steps: BTreeMap::new(),
            status: "running".to_string(),
            halted_by: None,
            decision: None,
            audit_head: None,
            finished_at: None,
            last_traffic: None,
            rpo: None,
            resumed: 0,
            timeline: Vec::new(),
            phases: Vec::new(),
            in_flight: Vec::new(),
            after: None,
            mode: crate::RunMode::default(),
            mode_changes: Vec::new(),
            notify_failed: Vec::new(),
        }
    }
}

impl ReportBuilder {
    /// Takes in the journal's next entry.
    pub(crate) fn record(&mut self, e: &Entry) {
        if !self.begun {
            self.begun = true;
            self.begin(e);
        }
        let Some(start) = self.run.as_ref().map(|r| r.start) else {
            return;
        };
        let what = match &e.record {
            Record::RunStarted { plan, mode, .. } => {
                self.mode = *mode;
                format!("run started (plan `{plan}`, {mode})")
            }
            Record::NotifyFailed {
                event,
                target,
                error,
            } => {
                self.notify_failed.push(super::NotifyFailure {
                    event: event.clone(),
                    target: target.clone(),
                    error: error.clone(),
                    at: e.ts,
                });
                format!("could not notify {target} of `{event}`: {error}")
            }
            Record::ModeChanged { from, to, operator } => {
                self.mode = *to;
                self.mode_changes.push(super::ModeChange {
                    from: *from,
                    to: *to,
                    by: operator.clone(),
                    at: e.ts,
                });
                format!("mode switched from {from} to {to} by {operator}")
            }
            Record::Resumed {
                operator,
                rerun,
                done,
                skip,
                ..
            } => self.resumed(operator, rerun, done, skip),
            Record::ChildSpawned { step, pid } => {
                format!("step `{step}`: command started (process group {pid})")
            }
            Record::StepInterrupted { step, detail } => {
                self.step_interrupted(step, detail.as_deref())
            }
            Record::StepStarted { step, action, .. } => self.step_started(step, action),
            Record::PhaseApplied { step, phase, split } => self.phase_applied(PhaseMark {
                step: step.clone(),
                at: e.ts,
                offset_ms: (e.ts - start).num_milliseconds(),
                phase: *phase,
                split: split.clone(),
            }),
            Record::StepFinished {
                step,
                action,
                status,
                attempts,
                detail,
                error,
                error_kind,
                request_id,
                lag_ms,
                traffic,
                started_at,
                attested,
                after,
                ..
            } => self.step_finished(StepEnd {
                step,
                action,
                status: *status,
                attempts: *attempts,
                detail,
                error,
                error_kind,
                request_id,
                lag_ms: *lag_ms,
                traffic: *traffic,
                started_at: *started_at,
                at: e.ts,
                attested,
                divergence: after.get("divergence_bytes"),
            }),
            Record::AfterStarted {
                probes,
                for_ms,
                every_ms,
            } => {
                self.after = Some(super::AfterReport {
                    status: "running".into(),
                    probes: probes.clone(),
                    for_ms: *for_ms,
                    every_ms: *every_ms,
                    started_at: e.ts,
                    finished_at: None,
                    rounds: 0,
                    failures: Vec::new(),
                });
                format!(
                    "after the last step: watching {} every {} for {}",
                    probes.join(", "),
                    crate::format_duration(std::time::Duration::from_millis(*every_ms)),
                    crate::format_duration(std::time::Duration::from_millis(*for_ms))
                )
            }
            Record::AfterFinished {
                status,
                rounds,
                failures,
            } => {
                if let Some(a) = &mut self.after {
                    a.status = status.clone();
                    a.finished_at = Some(e.ts);
                    a.rounds = *rounds;
                    a.failures = failures.clone();
                }
                format!(
                    "after the last step: {status} ({rounds} round(s), {} unhealthy probe result(s))",
                    failures.len()
                )
            }
            Record::RollbackStarted { cause } => {
                format!("rollback started (step `{cause}` failed)")
            }
            Record::StepCompensated {
                step,
                status,
                detail,
            } => self.step_compensated(step, *status, detail),
            Record::RunFinished {
                status,
                error,
                halted_by,
                decision,
                audit_head,
            } => self.run_finished(
                e.ts,
                status,
                error.as_deref(),
                halted_by,
                decision,
                audit_head,
            ),
        };
        self.timeline.push((e.ts, what));
    }

    /// The first entry: a run's when it is `run_started`, with every step not run yet.
    fn begin(&mut self, first: &Entry) {
        let Record::RunStarted {
            run_id,
            plan,
            digest,
            operator,
            rto_target_ms,
            rpo_target_ms,
            steps: ids,
            ..
        } = &first.record
        else {
            return;
        };
        self.steps = ids
            .iter()
            .map(|id| (id.clone(), StepReport::not_run(id)))
            .collect();
        self.run = Some(RunHeader {
            run_id: run_id.clone(),
            plan: plan.clone(),
            digest: digest.clone(),
            operator: operator.clone(),
            rto_target_ms: *rto_target_ms,
            rpo_target_ms: *rpo_target_ms,
            ids: ids.clone(),
            start: first.ts,
        });
    }

    fn resumed(
        &mut self,
        operator: &str,
        rerun: &[String],
        done: &[String],
        skip: &[String],
    ) -> String {
        self.resumed += 1;
        // A resumed run is running again until it records its end.
        self.status = "running".into();
        self.finished_at = None;
        self.halted_by = None;
        self.decision = None;
        let list = |steps: &[String]| {
            steps
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut what = format!("run resumed by {operator}");
        let mut said = Vec::new();
        if !rerun.is_empty() {
            said.push(format!("allowed {} to run again", list(rerun)));
        }
        if !done.is_empty() {
            said.push(format!("attested {} done", list(done)));
        }
        if !skip.is_empty() {
            said.push(format!("skipped {}", list(skip)));
        }
        if !said.is_empty() {
            what.push_str(&format!(", who {}", said.join(" and ")));
        }
        what
    }

    fn step_interrupted(&mut self, step: &str, detail: Option<&str>) -> String {
        self.in_flight.retain(|s| s != step);
        if let Some(s) = self.steps.get_mut(step) {
            s.status = StepStatus::Interrupted;
        }
        match detail {
            Some(d) => format!("step `{step}` interrupted {d}"),
            None => format!("step `{step}` interrupted"),
        }
    }

    fn step_started(&mut self, step: &str, action: &str) -> String {
        if !self.in_flight.iter().any(|s| s == step) {
            self.in_flight.push(step.to_string());
        }
        if let Some(s) = self.steps.get_mut(step) {
            s.action = action.to_string();
        }
        format!("step `{step}`: state captured, change begins")
    }

    fn phase_applied(&mut self, mark: PhaseMark) -> String {
        let what = format!(
            "step `{}`: phase {}% applied ({})",
            mark.step, mark.phase, mark.split
        );
        self.phases.push(mark);
        what
    }

    /// The step's figures, its "started" line at when it started, and what
    /// RTO and RPO count of it.
    fn step_finished(&mut self, f: StepEnd<'_>) -> String {
        self.in_flight.retain(|s| s != f.step);
        if let Some(s) = self.steps.get_mut(f.step) {
            if !f.action.is_empty() {
                s.action = f.action.to_string();
            }
            s.status = f.status;
            s.started_at = Some(f.started_at);
            s.finished_at = Some(f.at);
            s.duration_ms = Some(ms(f.started_at, f.at));
            s.attempts = f.attempts;
            s.detail = f.detail.clone();
            s.error = f.error.clone();
            s.error_kind = f.error_kind.clone();
            s.request_id = f.request_id.clone();
            s.lag_ms = f.lag_ms;
            s.divergence_bytes = f.divergence.cloned();
            let decided = f.attested.as_ref().map(|a| a.decision);
            s.done_by_operator = decided == Some(OperatorDecision::Done);
            s.skipped_by_operator = decided == Some(OperatorDecision::Skip);
            s.attested = f.attested.clone();
        }
        if let Some(a) = f.attested {
            return match a.decision {
                OperatorDecision::Skip => format!(
                    "step `{}` skipped by operator {} (not run again; the steps after it run)",
                    f.step, a.operator
                ),
                _ => format!(
                    "step `{}` done by operator {} (attested: in flight when the run stopped, not run again)",
                    f.step, a.operator
                ),
            };
        }
        let (step, action, st, attempts) = (f.step, f.action, f.status, f.attempts);
        let label = if action.is_empty() {
            String::new()
        } else {
            format!(" ({action})")
        };
        self.timeline
            .push((f.started_at, format!("step `{step}` started{label}")));
        if st == StepStatus::Succeeded {
            if f.traffic {
                self.last_traffic = Some(f.at);
            }
            if let Some(l) = f.lag_ms {
                self.rpo = Some(self.rpo.map_or(l, |r: u64| r.max(l)));
            }
        }
        let tail = match (f.error, f.detail) {
            (Some(err), _) => format!(": {err}"),
            (None, Some(d)) => format!(": {d}"),
            _ => String::new(),
        };
        format!("step `{step}` {st} after {attempts} attempt(s){tail}")
    }

    fn step_compensated(&mut self, step: &str, st: CompensationStatus, detail: &str) -> String {
        if let Some(s) = self.steps.get_mut(step) {
            s.compensation = Some(format!("{st}: {detail}"));
            s.compensation_status = Some(st);
        }
        format!("step `{step}` compensated: {st} ({detail})")
    }

    /// The run's end (a halted or interrupted run may be resumed later).
    fn run_finished(
        &mut self,
        at: DateTime<Utc>,
        status: &str,
        error: Option<&str>,
        halted_by: &Option<String>,
        decision: &Option<String>,
        audit_head: &Option<AuditHeadRef>,
    ) -> String {
        self.status = status.to_string();
        self.finished_at = Some(at);
        self.halted_by = halted_by.clone();
        self.decision = decision.clone();
        self.audit_head = audit_head.clone().or(self.audit_head.take());
        let mut what = match error {
            Some(err) => format!("run finished: {status} ({err})"),
            None => format!("run finished: {status}"),
        };
        if let Some(h) = halted_by {
            what.push_str(&format!("; rollback stopped at one-way step `{h}`"));
        }
        what
    }

    /// The report; `None` when the first entry was not `run_started` (or there
    /// was none).
    pub(crate) fn finish(mut self) -> Option<Report> {
        let run = self.run.take()?;
        let start = run.start;
        // Journal order, with each step's "started" line moved to when it started.
        self.timeline.sort_by_key(|(at, _)| *at);
        let timeline = std::mem::take(&mut self.timeline)
            .into_iter()
            .map(|(at, what)| TimelineEntry {
                at,
                offset_ms: (at - start).num_milliseconds(),
                what,
            })
            .collect();
        let (rto_ms, rto_basis) = self.rto(start);
        let steps: Vec<StepReport> = run
            .ids
            .iter()
            .filter_map(|id| self.steps.remove(id.as_str()))
            .collect();
        let failed_steps = if self.status == "succeeded" {
            steps
                .iter()
                .filter(|s| s.status == StepStatus::Failed)
                .map(|s| s.id.clone())
                .collect()
        } else {
            Vec::new()
        };
        let met = |v: Option<u64>, t: Option<u64>| Some(v? <= t?);
        // No end recorded: the journal says the run stopped without a safe point.
        let decision = if self.status == "running" && self.decision.is_none() {
            Some(no_end_decision(&run.run_id, &self.in_flight))
        } else {
            self.decision
        };
        Some(Report {
            run_id: run.run_id,
            plan: run.plan,
            plan_digest: run.digest,
            status: self.status,
            halted_by: self.halted_by,
            decision,
            audit_head: self.audit_head,
            started_at: start,
            finished_at: self.finished_at,
            rto_ms,
            rto_basis,
            rpo_ms: self.rpo,
            rto_target_ms: run.rto_target_ms,
            rpo_target_ms: run.rpo_target_ms,
            rto_met: met(rto_ms, run.rto_target_ms),
            rpo_met: met(self.rpo, run.rpo_target_ms),
            failed_steps,
            resumed: self.resumed,
            operator: run.operator,
            mode: self.mode,
            mode_changes: self.mode_changes,
            notify_failed: self.notify_failed,
            steps,
            timeline,
            phases: self.phases,
            after: self.after,
        })
    }

    /// RTO and what it measures (`traffic` or `run`), for a run that succeeded.
    fn rto(&self, start: DateTime<Utc>) -> (Option<u64>, Option<String>) {
        if self.status != "succeeded" {
            return (None, None);
        }
        match (self.last_traffic, self.finished_at) {
            (Some(t), _) => (Some(ms(start, t)), Some("traffic".to_string())),
            // The steps' end: the `[plan.after]` window is not recovery time.
            (None, Some(t)) => {
                let t = self.after.as_ref().map_or(t, |a| a.started_at);
                (Some(ms(start, t)), Some("run".to_string()))
            }
            (None, None) => (None, None),
        }
    }
}

/// What a journal without the run's end means: unless the run is still
/// going, its process stopped without reaching a safe point (it died or was
/// killed), in the middle of the steps that were in flight.
fn no_end_decision(run_id: &str, in_flight: &[String]) -> String {
    let steps = if in_flight.is_empty() {
        "no step was in flight".to_string()
    } else {
        format!(
            "in flight: {}",
            in_flight
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    format!(
        "no end recorded: unless it is still running, the process stopped without a safe \
         point (it died or was killed; {steps}). `dr resume {run_id}` checks the steps in \
         flight and continues the run"
    )
}

impl StepReport {
    /// Step `id`, before it ran.
    fn not_run(id: &str) -> StepReport {
        StepReport {
            id: id.to_string(),
            action: String::new(),
            status: StepStatus::NotRun,
            started_at: None,
            finished_at: None,
            duration_ms: None,
            attempts: 0,
            detail: None,
            error: None,
            error_kind: None,
            request_id: None,
            lag_ms: None,
            divergence_bytes: None,
            compensation: None,
            compensation_status: None,
            done_by_operator: false,
            skipped_by_operator: false,
            attested: None,
        }
    }
}
