//! Scheduling the DAG, failure policies, rollback, and resuming from the journal.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;
use tokio::task::JoinSet;

use super::steps::{self, InFlight, StepResult};
use super::{Event, ExecError, RunOptions, RunOutcome, RunStatus, run_dir};
use crate::audit::{AuditRecord, AuditWriter};
use crate::journal::{self, Journal, Record};
use crate::lock::{PlanLock, host};
use crate::plan::OnFailure;
use crate::redact::Redactor;
use crate::report::Report;
use crate::retry::RetryBudget;
use crate::{LoadOptions, Plan, Registry};

/// Everything a running step needs.
pub(crate) struct Ctx {
    pub plan: Arc<Plan>,
    pub opts: RunOptions,
    pub run_id: String,
    pub journal: Journal,
    pub budget: Arc<RetryBudget>,
    pub redactor: Redactor,
    pub host: String,
    pub digest: String,
    pub audit: std::sync::Mutex<AuditWriter>,
}

impl Ctx {
    /// Opens the run's journal (continuing after `seq` existing entries) and the
    /// audit log.
    fn open(
        plan: Arc<Plan>,
        opts: RunOptions,
        run_id: &str,
        seq: u64,
    ) -> Result<Arc<Ctx>, ExecError> {
        let dir = run_dir(&opts.state_dir, run_id);
        let journal = Journal::open(
            &dir,
            seq,
            plan.redactor().clone(),
            opts.crash_after_journal_entries,
        )?;
        Ok(Arc::new(Ctx {
            redactor: plan.redactor().clone(),
            budget: Arc::new(RetryBudget::new(opts.retry.budget)),
            host: host(),
            digest: plan.digest(),
            audit: std::sync::Mutex::new(AuditWriter::open(&opts.state_dir, None)?),
            plan,
            opts,
            run_id: run_id.to_string(),
            journal,
        }))
    }

    pub fn emit(&self, event: Event) {
        if let Some(sink) = &self.opts.events {
            sink(&event);
        }
    }

    pub fn redact(&self, s: &str) -> String {
        self.redactor.redact(s)
    }

    pub fn journal(&self, record: Record) -> Result<(), ExecError> {
        self.journal.append(record).map(|_| ())
    }

    fn audit(&self, step: &str, action: &str, before: &Value, after: &Value, result: &str) {
        let rec = AuditRecord {
            operator: self.opts.operator.clone(),
            host: self.host.clone(),
            plan: self.plan.name.clone(),
            plan_digest: self.digest.clone(),
            run_id: self.run_id.clone(),
            step: step.into(),
            action: action.into(),
            before: before.clone(),
            after: after.clone(),
            result: result.into(),
        };
        let result = self
            .audit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .append(&rec, &self.redactor);
        if let Err(e) = result {
            self.emit(Event::Warning {
                step: Some(step.into()),
                message: format!("could not write the audit log: {e}"),
            });
        }
    }
}

/// A new run id: UTC time plus a random suffix (sortable, unique).
fn new_run_id() -> String {
    let suffix: String = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();
    format!("{}-{suffix}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"))
}

/// What is known about a run's progress (fresh, or rebuilt from a journal).
#[derive(Default)]
struct Progress {
    /// Step id → succeeded?
    done: HashMap<String, bool>,
    /// Succeeded steps in completion order, with their captured prior state.
    completed: Vec<(String, Value)>,
    in_flight: HashMap<String, InFlight>,
    rollback_cause: Option<String>,
    rollback_journaled: bool,
    compensated: HashSet<String>,
    failure: Option<String>,
}

pub(crate) async fn start(plan: Arc<Plan>, opts: RunOptions) -> Result<RunOutcome, ExecError> {
    let run_id = new_run_id();
    let dir = run_dir(&opts.state_dir, &run_id);
    let lock = PlanLock::acquire(
        &crate::lock::lock_dir(&opts.state_dir, &plan),
        &plan.name,
        &run_id,
    )?;
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join(plan_copy_name(&plan.source.name)),
        &plan.source.text,
    )?;
    let ctx = Ctx::open(plan.clone(), opts, &run_id, 0)?;
    ctx.emit(Event::RunStarted {
        run_id: run_id.clone(),
        plan: plan.name.clone(),
        resumed: false,
    });
    ctx.journal(Record::RunStarted {
        run_id: run_id.clone(),
        plan: plan.name.clone(),
        digest: plan.digest(),
        file: plan.source.name.clone(),
        operator: ctx.opts.operator.clone(),
        host: ctx.host.clone(),
        rto_target_ms: plan.rto.map(|d| d.as_millis() as u64),
        rpo_target_ms: plan.rpo.map(|d| d.as_millis() as u64),
        steps: plan.steps.iter().map(|s| s.id.clone()).collect(),
    })?;
    let outcome = execute(ctx, Progress::default()).await;
    drop(lock);
    outcome
}

fn plan_copy_name(original: &str) -> &'static str {
    if original.ends_with(".json") {
        "plan.json"
    } else {
        "plan.toml"
    }
}

pub(crate) async fn resume(
    registry: &Registry,
    run_id: &str,
    opts: RunOptions,
    load: &LoadOptions,
) -> Result<RunOutcome, ExecError> {
    let dir = run_dir(&opts.state_dir, run_id);
    let entries = journal::read(&dir).map_err(|e| {
        ExecError::Resume(format!(
            "no journal for run `{run_id}` in {}: {e}",
            dir.display()
        ))
    })?;
    let Some(Record::RunStarted { file, .. }) = entries.first().map(|e| &e.record) else {
        return Err(ExecError::Resume(format!(
            "the journal of run `{run_id}` has no run_started entry"
        )));
    };
    if let Some(e) = entries
        .iter()
        .find(|e| matches!(e.record, Record::RunFinished { .. }))
        && let Record::RunFinished { status, .. } = &e.record
    {
        return Err(ExecError::Resume(format!(
            "run `{run_id}` already finished ({status}); nothing to resume"
        )));
    }
    let copy = dir.join(plan_copy_name(file));
    let text = std::fs::read_to_string(&copy)
        .map_err(|e| ExecError::Resume(format!("cannot read {}: {e}", copy.display())))?;
    let plan = Plan::parse(file, &text, registry, load).map_err(ExecError::Plan)?;
    let plan = Arc::new(plan);
    let lock = PlanLock::acquire(
        &crate::lock::lock_dir(&opts.state_dir, &plan),
        &plan.name,
        run_id,
    )?;

    let mut p = Progress::default();
    for e in &entries {
        match &e.record {
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
            Record::StepFinished {
                step,
                status,
                error,
                ..
            } => {
                let before = p
                    .in_flight
                    .remove(step)
                    .map(|f| f.before)
                    .unwrap_or(Value::Null);
                let ok = status == "succeeded";
                p.done.insert(step.clone(), ok);
                if ok {
                    p.completed.push((step.clone(), before));
                } else if plan.step(step).map(|s| s.on_failure) != Some(OnFailure::Continue) {
                    p.failure.get_or_insert_with(|| {
                        format!(
                            "step `{step}` failed: {}",
                            error.clone().unwrap_or_default()
                        )
                    });
                    if plan.step(step).map(|s| s.on_failure) == Some(OnFailure::Rollback) {
                        p.rollback_cause.get_or_insert_with(|| step.clone());
                    }
                }
            }
            Record::RollbackStarted { cause } => {
                p.rollback_cause = Some(cause.clone());
                p.rollback_journaled = true;
            }
            Record::StepCompensated { step, .. } => {
                p.compensated.insert(step.clone());
            }
            _ => {}
        }
    }
    let ctx = Ctx::open(
        plan.clone(),
        opts,
        run_id,
        entries.last().map(|e| e.seq).unwrap_or(0),
    )?;
    ctx.emit(Event::RunStarted {
        run_id: run_id.to_string(),
        plan: plan.name.clone(),
        resumed: true,
    });
    ctx.journal(Record::Resumed {
        operator: ctx.opts.operator.clone(),
        host: ctx.host.clone(),
    })?;
    for s in &plan.steps {
        if p.done.contains_key(&s.id) {
            ctx.emit(Event::StepSkipped {
                step: s.id.clone(),
                reason: "completed before the resume".into(),
            });
        }
    }
    let outcome = execute(ctx, p).await;
    drop(lock);
    outcome
}

/// Runs the DAG from `p` to the end: steps, then rollback if a step asked for it.
async fn execute(ctx: Arc<Ctx>, mut p: Progress) -> Result<RunOutcome, ExecError> {
    let plan = ctx.plan.clone();
    let max_parallel = ctx.opts.max_parallel.unwrap_or(plan.max_parallel).max(1);
    let mut running: JoinSet<(usize, StepResult, u32, chrono::DateTime<chrono::Utc>)> =
        JoinSet::new();
    let mut stopping = p.failure.is_some() || p.rollback_cause.is_some();
    // Ready queue by dependency counts: a dependency is satisfied when it succeeded
    // or failed with `on_failure = "continue"`.
    let index: HashMap<&str, usize> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); plan.steps.len()];
    let mut waiting: Vec<usize> = vec![0; plan.steps.len()];
    let satisfied = |done: &HashMap<String, bool>, i: usize| match done.get(&plan.steps[i].id) {
        Some(true) => true,
        Some(false) => plan.steps[i].on_failure == OnFailure::Continue,
        None => false,
    };
    for (i, s) in plan.steps.iter().enumerate() {
        for d in &s.depends_on {
            let j = index[d.as_str()];
            if !satisfied(&p.done, j) {
                dependents[j].push(i);
                waiting[i] += 1;
            }
        }
    }
    let mut ready: std::collections::BTreeSet<usize> = (0..plan.steps.len())
        .filter(|&i| waiting[i] == 0 && !p.done.contains_key(&plan.steps[i].id))
        .collect();

    loop {
        if ctx.opts.cancel.is_cancelled() && !stopping {
            stopping = true;
            p.failure.get_or_insert_with(|| "cancelled".into());
        }
        while !stopping && running.len() < max_parallel {
            let Some(i) = ready.pop_first() else { break };
            let step = &plan.steps[i];
            ctx.emit(Event::StepStarted {
                step: step.id.clone(),
                action: step.action.name().into(),
            });
            let c = ctx.clone();
            let in_flight = p.in_flight.remove(&step.id);
            running.spawn(async move {
                let t0 = chrono::Utc::now();
                let step = &c.plan.steps[i];
                let (res, attempts) = steps::run(c.clone(), step, in_flight).await;
                (i, res, attempts, t0)
            });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (i, res, attempts, t0) = match joined {
            Ok(v) => v,
            Err(e) => {
                p.failure
                    .get_or_insert_with(|| format!("a step task panicked: {e}"));
                stopping = true;
                continue;
            }
        };
        if res.crashed {
            return Err(ExecError::Crashed);
        }
        let step = &plan.steps[i];
        let ok = res.error.is_none();
        let status = if ok { "succeeded" } else { "failed" };
        ctx.journal(Record::StepFinished {
            step: step.id.clone(),
            action: step.action.name().into(),
            status: status.into(),
            attempts,
            after: res.after.clone(),
            detail: res.detail.clone(),
            error: res.error.clone(),
            lag_ms: res.lag_ms,
            traffic: res.traffic,
            started_at: t0,
        })?;
        ctx.audit(
            &step.id,
            step.action.name(),
            &res.before,
            &res.after,
            status,
        );
        ctx.emit(Event::StepFinished {
            step: step.id.clone(),
            status: status.into(),
            duration_ms: (chrono::Utc::now() - t0).num_milliseconds().max(0) as u64,
            attempts,
            detail: res.detail.clone(),
            error: res.error.clone(),
        });
        p.done.insert(step.id.clone(), ok);
        if ok || step.on_failure == OnFailure::Continue {
            for &d in &dependents[i] {
                waiting[d] -= 1;
                if waiting[d] == 0 {
                    ready.insert(d);
                }
            }
        }
        if ok {
            p.completed.push((step.id.clone(), res.before));
        } else {
            match step.on_failure {
                OnFailure::Continue => {}
                OnFailure::Abort => {
                    stopping = true;
                    p.failure.get_or_insert_with(|| {
                        format!(
                            "step `{}` failed: {}",
                            step.id,
                            res.error.clone().unwrap_or_default()
                        )
                    });
                }
                OnFailure::Rollback => {
                    stopping = true;
                    p.failure.get_or_insert_with(|| {
                        format!(
                            "step `{}` failed: {}",
                            step.id,
                            res.error.clone().unwrap_or_default()
                        )
                    });
                    p.rollback_cause.get_or_insert_with(|| step.id.clone());
                }
            }
        }
    }

    // A dependency chain cut by a `continue` failure leaves nothing unrunnable;
    // an abort leaves the rest not run, which the report shows.
    let mut status = if p.failure.is_some() {
        RunStatus::Failed
    } else {
        RunStatus::Succeeded
    };
    if let Some(cause) = p.rollback_cause.clone() {
        if !p.rollback_journaled {
            ctx.journal(Record::RollbackStarted { cause })?;
        }
        let mut all_ok = true;
        for (id, before) in p.completed.iter().rev() {
            if p.compensated.contains(id) {
                continue;
            }
            let Some(step) = plan.step(id) else { continue };
            let (st, detail) = steps::compensate(&ctx, step, before).await;
            all_ok &= st != "failed";
            ctx.journal(Record::StepCompensated {
                step: id.clone(),
                status: st.clone(),
                detail: detail.clone(),
            })?;
            ctx.audit(id, "rollback", &Value::Null, before, &st);
            ctx.emit(Event::RolledBack {
                step: id.clone(),
                status: st,
                detail,
            });
        }
        status = if all_ok {
            RunStatus::RolledBack
        } else {
            RunStatus::Failed
        };
    }
    let error = p.failure.clone().map(|e| ctx.redact(&e));
    ctx.journal(Record::RunFinished {
        status: status.as_str().into(),
        error: error.clone(),
    })?;
    ctx.audit("-", "run", &Value::Null, &Value::Null, status.as_str());
    ctx.audit.lock().unwrap_or_else(|p| p.into_inner()).sync()?;
    let dir = run_dir(&ctx.opts.state_dir, &ctx.run_id);
    let report = Report::from_journal(&journal::read(&dir)?)
        .ok_or_else(|| ExecError::Resume("journal lost its run_started entry".into()))?;
    let mut value = serde_json::to_value(&report).map_err(std::io::Error::other)?;
    ctx.redactor.redact_json(&mut value);
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_vec_pretty(&value).map_err(std::io::Error::other)?,
    )?;
    ctx.emit(Event::RunFinished {
        run_id: ctx.run_id.clone(),
        status: status.as_str().into(),
        rto_ms: report.rto_ms,
        rpo_ms: report.rpo_ms,
        error,
    });
    Ok(RunOutcome {
        run_id: ctx.run_id.clone(),
        status,
        report,
    })
}
