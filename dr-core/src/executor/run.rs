//! Scheduling the DAG, failure policies, rollback, and resuming from the journal.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;
use tokio::task::JoinSet;

use super::context::Ctx;
use super::integrity;
use super::progress::Progress;
use super::steps::{self, StepResult};
use super::{Event, ExecError, RunOptions, RunOutcome, RunStatus, run_dir};
use crate::journal::{self, OperatorDecision, Record};
use crate::outcome::{CompensationStatus, StepError, StepStatus};
use crate::plan::{OnFailure, Step};
use crate::report::Report;
use crate::state::RunDir;
use crate::{LoadOptions, Plan, Registry};

/// A new run id: UTC time plus a random suffix (sortable, unique).
fn new_run_id() -> String {
    let suffix: String = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();
    format!("{}-{suffix}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"))
}

pub(crate) async fn start(plan: Arc<Plan>, opts: RunOptions) -> Result<RunOutcome, ExecError> {
    if !plan.unset_env.is_empty() {
        return Err(ExecError::UnsetEnv(plan.unset_env.clone()));
    }
    let audit = Ctx::open_audit(&opts).await?;
    let run_id = new_run_id();
    let dir = run_dir(&opts.state_dir, &run_id);
    let lock = opts.coordination().lock(&plan, &run_id).await?;
    std::fs::create_dir_all(&dir)?;
    let run_dir = RunDir::new(&opts.state_dir, &run_id);
    let copies = std::iter::once((run_dir.plan_copy(&plan.source.name), &plan.source.text)).chain(
        plan.children
            .iter()
            .map(|child| (run_dir.child_copy(&child.name), &child.text)),
    );
    for (copy, text) in copies {
        if let Some(parent) = copy.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&copy, text)?;
        // For the machines that may resume the run.
        if let Ok(rel) = copy.strip_prefix(run_dir.path()) {
            let (lock, rel, text) = (
                lock.clone(),
                rel.to_string_lossy().into_owned(),
                text.clone(),
            );
            let run_id = run_id.clone();
            super::blocking(move || lock.put_file(&run_id, &rel, text.as_bytes())).await?;
        }
    }
    let mode = opts.mode_over(plan.mode);
    let ctx = Ctx::open(
        plan.clone(),
        opts,
        super::context::Held {
            audit,
            lock: lock.clone(),
        },
        &run_id,
        0,
        HashMap::new(),
        mode,
    )?;
    ctx.emit(Event::RunStarted {
        run_id: run_id.clone(),
        plan: plan.name.clone(),
        resumed: false,
        mode,
    });
    ctx.journal(Record::RunStarted {
        run_id: run_id.clone(),
        plan: plan.name.clone(),
        digest: plan.digest(),
        file: plan.source.name.clone(),
        operator: ctx.opts.operator.clone(),
        host: ctx.host.clone(),
        rto_target_ms: plan.rto.map(duration_ms),
        rpo_target_ms: plan.rpo.map(duration_ms),
        steps: plan.steps.iter().map(|s| s.id.clone()).collect(),
        env: env_digests(&plan, &run_id),
        mode,
        lock_token: ctx.lock_token(),
    })
    .await?;
    audit_lock(&ctx).await;
    super::notices::run_started(&ctx, false);
    let outcome = execute(ctx, Progress::default()).await;
    lock.release().await;
    outcome
}

/// Audits the fencing token of a shared coordination's lock, journaled just
/// before (in `run_started` or `resumed`).
async fn audit_lock(ctx: &Ctx) {
    if let Some(t) = ctx.lock_token() {
        ctx.audit(
            "-",
            "lock",
            &Value::Null,
            &serde_json::json!({ "token": t }),
            &format!("token {t}"),
        )
        .await;
    }
}

/// Milliseconds, saturating (validation bounds plan durations anyway).
fn duration_ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A salted digest per `${env:VAR}` the plan used: enough to tell that a value
/// changed, never enough to recover it (16 hex digits of SHA-256 over the run id
/// and the value).
pub(super) fn env_digests(plan: &Plan, run_id: &str) -> BTreeMap<String, String> {
    use sha2::{Digest, Sha256};
    plan.env_values()
        .iter()
        .map(|(name, value)| {
            let mut h = Sha256::new();
            h.update(run_id.as_bytes());
            h.update([0]);
            h.update(value.as_bytes());
            (name.clone(), hex::encode(&h.finalize()[..8]))
        })
        .collect()
}

pub(crate) async fn resume(
    registry: &Registry,
    run_id: &str,
    opts: RunOptions,
    load: &LoadOptions,
) -> Result<RunOutcome, ExecError> {
    crate::state::check_run_id(run_id).map_err(|e| ExecError::Resume(e.to_string()))?;
    let coordination = opts.coordination();
    let dir = run_dir(&opts.state_dir, run_id);
    let known = coordination
        .fetch_run(run_id, &opts.state_dir)
        .await
        .map_err(|source| ExecError::Coordination {
            what: format!("run `{run_id}` in {}", coordination.describe()),
            source,
        })?;
    if !known || !journal::Journal::path_in(&dir).exists() {
        return Err(ExecError::Resume(format!(
            "no journal for run `{run_id}` in {}",
            dir.display()
        )));
    }
    let entries = journal::read_for_resume(&dir)
        .map_err(|e| ExecError::Resume(format!("cannot resume run `{run_id}`: {e}")))?;
    let Some(Record::RunStarted { file, .. }) = entries.first().map(|e| &e.record) else {
        return Err(ExecError::Resume(format!(
            "the journal of run `{run_id}` has no run_started entry"
        )));
    };
    let copy = RunDir::new(&opts.state_dir, run_id).plan_copy(file);
    let text = std::fs::read_to_string(&copy)
        .map_err(|e| ExecError::Resume(format!("cannot read {}: {e}", copy.display())))?;
    // Child plans as the run started with them: its copies.
    let copies = RunDir::new(&opts.state_dir, run_id);
    let load = load
        .clone()
        .read_children_with(move |name| std::fs::read_to_string(copies.child_copy(name)));
    let parsed = Plan::parse(file, &text, registry, &load);
    // Before the plan's own diagnostics: an edited copy is the reason it fails.
    let audit = Ctx::open_audit(&opts).await?;
    // The audit log may be a remote one (blocking reads): off the runtime's threads.
    let (parsed, entries, reasons) = {
        let (state_dir, id, log) = (opts.state_dir.clone(), run_id.to_string(), audit.clone());
        let text = text.clone();
        super::blocking(move || {
            let reasons = integrity::check(
                &state_dir,
                &id,
                &entries,
                &text,
                parsed.as_ref().ok(),
                &*log,
            );
            (parsed, entries, reasons)
        })
        .await
    };
    integrity::refuse(run_id, reasons)?;
    let plan = parsed.map_err(ExecError::Plan)?;
    let plan = Arc::new(plan);
    let p = Progress::replay(
        &plan,
        run_id,
        &entries,
        !opts.skip.is_empty(),
        opts.ungraceful,
    )?;
    // A command or provider action that was in flight may have taken effect:
    // repeat it only when that is safe or the operator said so.
    check_decisions(&plan, run_id, &p, &opts)?;
    for step in p.in_flight.keys() {
        let Some(s) = plan.step(step) else { continue };
        if !s.rerunnable()
            && !opts.rerun.contains(step)
            && !opts.done.contains(step)
            && !opts.skip.contains(step)
        {
            return Err(ExecError::Resume(format!(
                "step `{step}` ({}) was in flight when run `{run_id}` stopped and may have \
                 taken effect; it is neither idempotent nor verifiable, so it is not run \
                 again on its own. Check its effect, then `dr resume {run_id} --done {step}` \
                 if it took effect, `dr resume {run_id} --rerun {step}` to run it again, \
                 or `dr resume {run_id} --skip {step}` to go on without it",
                s.action.name()
            )));
        }
    }
    for step in &opts.rerun {
        if plan.step(step).is_none() {
            return Err(ExecError::Resume(format!(
                "--rerun {step}: plan `{}` has no step `{step}`",
                plan.name
            )));
        }
    }
    let lock = coordination.lock(&plan, run_id).await?;
    if coordination.is_shared() {
        // Another machine may have recorded more between the fetch and the
        // lock: what this resume decided from is stale then.
        coordination.fetch_run(run_id, &opts.state_dir).await?;
        let now = journal::read(&dir)?.len();
        if now != entries.len() {
            return Err(ExecError::Resume(format!(
                "run `{run_id}` moved on ({} journal entries, now {now}) while this resume \
                 started; run `dr resume {run_id}` again",
                entries.len()
            )));
        }
    }
    let mode = opts.mode_over(p.mode);
    let ctx = Ctx::open(
        plan.clone(),
        opts,
        super::context::Held {
            audit,
            lock: lock.clone(),
        },
        run_id,
        entries.last().map(|e| e.seq).unwrap_or(0),
        p.stop_lags.clone(),
        mode,
    )?;
    ctx.emit(Event::RunStarted {
        run_id: run_id.to_string(),
        plan: plan.name.clone(),
        resumed: true,
        mode: ctx.mode,
    });
    ctx.journal(Record::Resumed {
        operator: ctx.opts.operator.clone(),
        host: ctx.host.clone(),
        rerun: ctx.opts.rerun.iter().cloned().collect(),
        done: ctx.opts.done.iter().cloned().collect(),
        skip: ctx.opts.skip.iter().cloned().collect(),
        lock_token: ctx.lock_token(),
    })
    .await?;
    audit_lock(&ctx).await;
    if ctx.mode != p.mode {
        change_mode(&ctx, p.mode).await?;
    }
    super::notices::run_started(&ctx, true);
    // What the dead process started must not go on acting beside this one.
    for (step, pid) in &p.spawned {
        if p.in_flight.contains_key(step) && super::child::kill_leftover(*pid) {
            ctx.emit(Event::Warning {
                step: Some(step.clone()),
                message: format!(
                    "killed what was left of the command the stopped run started (process group {pid})"
                ),
            });
        }
    }
    let mut p = p;
    for step in &plan.steps {
        if ctx.opts.done.contains(&step.id) {
            decide(&ctx, &mut p, step, OperatorDecision::Done).await?;
        } else if ctx.opts.skip.contains(&step.id) {
            decide(&ctx, &mut p, step, OperatorDecision::Skip).await?;
        }
    }
    for s in &plan.steps {
        if p.done.contains_key(&s.id)
            && !ctx.opts.done.contains(&s.id)
            && !ctx.opts.skip.contains(&s.id)
        {
            ctx.emit(Event::StepSkipped {
                step: s.id.clone(),
                reason: "completed before the resume".into(),
            });
        }
    }
    let outcome = execute(ctx, p).await;
    lock.release().await;
    outcome
}

/// The operator switched the run from `from` to the context's mode: journaled
/// (who, when), then audited, then said.
async fn change_mode(ctx: &Ctx, from: crate::RunMode) -> Result<(), ExecError> {
    let to = ctx.mode;
    ctx.journal_and_audit(
        Record::ModeChanged {
            from,
            to,
            operator: ctx.opts.operator.clone(),
        },
        (
            "-",
            "mode",
            &serde_json::json!({ "mode": from }),
            &serde_json::json!({ "mode": to }),
            to.as_str(),
        ),
    )
    .await?;
    ctx.emit(Event::ModeChanged {
        from,
        to,
        operator: ctx.opts.operator.clone(),
    });
    Ok(())
}

/// `--done STEP` names only steps that were in flight when the run stopped
/// (started, not finished); `--skip STEP` any step of the plan that did not
/// succeed (a one-way door already taken cannot be skipped). A usage error
/// otherwise, and for a step given two of `--done`, `--skip`, `--rerun`.
fn check_decisions(
    plan: &Plan,
    run_id: &str,
    p: &Progress,
    opts: &RunOptions,
) -> Result<(), ExecError> {
    let asked = [
        (OperatorDecision::Done, &opts.done),
        (OperatorDecision::Skip, &opts.skip),
    ];
    for (decision, steps) in asked {
        for step in steps {
            let flag = decision.flag();
            let why = if plan.step(step).is_none() {
                format!("plan `{}` has no step `{step}`", plan.name)
            } else if opts.rerun.contains(step) {
                format!("it cannot be both {flag} and run again (--rerun)")
            } else if decision == OperatorDecision::Skip && opts.done.contains(step) {
                "it cannot be both done (--done) and skipped (--skip)".into()
            } else if decision == OperatorDecision::Skip {
                match p.done.get(step) {
                    Some(true) if !p.failed_continue.contains(step) => format!(
                        "it already succeeded in run `{run_id}`; a step that took effect \
                         cannot be skipped"
                    ),
                    _ => continue,
                }
            } else if p.in_flight.contains_key(step) {
                continue;
            } else if let Some(ok) = p.done.get(step) {
                format!(
                    "it is not in doubt: it already {} in run `{run_id}`",
                    if *ok { "succeeded" } else { "failed" }
                )
            } else {
                format!("it is not in doubt: it had not started when run `{run_id}` stopped")
            };
            return Err(ExecError::Resume(format!(
                "{flag} {step}: {why}. {}",
                match decision {
                    OperatorDecision::Skip => {
                        "--skip is for a step that failed, was in flight or has not run"
                    }
                    _ => {
                        "--done is for a step in flight when the run stopped, whose effect \
                         the operator checked took place"
                    }
                }
            )));
        }
    }
    Ok(())
}

/// The operator's `decision` about `step`, given on resume: `done` (in flight
/// when the run stopped, it took effect: it ends `succeeded`) or `skip` (it
/// ends `skipped`). Either way it does not run again, its dependents run, and
/// who decided and when is in the journal, the audit log and the report.
async fn decide(
    ctx: &Arc<Ctx>,
    p: &mut Progress,
    step: &Step,
    decision: OperatorDecision,
) -> Result<(), ExecError> {
    let now = chrono::Utc::now();
    let attested = journal::Attestation {
        operator: ctx.opts.operator.clone(),
        at: now,
        decision,
    };
    let detail = match decision {
        OperatorDecision::Skip => format!(
            "skipped by operator {} (not run again; the steps after it run)",
            attested.operator
        ),
        _ => format!(
            "done by operator {}: its effect took place before the run stopped (attested, not run again)",
            attested.operator
        ),
    };
    let before = p
        .in_flight
        .get(&step.id)
        .map(|f| f.before.clone())
        .unwrap_or(Value::Null);
    ctx.journal(Record::StepFinished {
        step: step.id.clone(),
        action: step.action.name().into(),
        status: decision.status(),
        attempts: 1,
        after: Value::Null,
        detail: Some(detail.clone()),
        error: None,
        error_kind: None,
        request_id: None,
        lag_ms: None,
        traffic: false,
        started_at: now,
        attested: Some(attested.clone()),
    })
    .await?;
    ctx.audit(
        &step.id,
        step.action.name(),
        &before,
        &serde_json::json!({"attested_by": attested.operator, "attested_at": attested.at}),
        decision.audit_result(),
    )
    .await;
    match decision {
        OperatorDecision::Skip => p.skipped(&step.id),
        _ => p.finished_ok(&ctx.plan, &step.id, None),
    }
    ctx.emit(Event::StepSkipped {
        step: step.id.clone(),
        reason: detail,
    });
    Ok(())
}

/// What a step's task hands back: the step's index, its result, its attempts
/// and when it started.
type Finished = (usize, StepResult, u32, chrono::DateTime<chrono::Utc>);

/// Runs the DAG from `p` to the end: steps, then rollback if a step asked for it.
async fn execute(ctx: Arc<Ctx>, p: Progress) -> Result<RunOutcome, ExecError> {
    let mut run = Execution::new(ctx, p);
    run.run_steps().await?;
    let end = run.conclude().await?;
    run.finish(end).await
}

/// The DAG's ready queue, by dependency counts: a dependency is satisfied when
/// it succeeded or failed with `on_failure = "continue"`.
struct Schedule {
    /// Step index → the steps waiting for it.
    dependents: Vec<Vec<usize>>,
    /// Step index → how many of its dependencies are not satisfied yet.
    waiting: Vec<usize>,
    /// Steps not done whose dependencies are all satisfied, in plan order.
    ready: BTreeSet<usize>,
}

impl Schedule {
    /// The queue of `plan`, given the steps already `done` (a resume).
    fn new(plan: &Plan, done: &HashMap<String, bool>, mode: crate::RunMode) -> Schedule {
        let index: HashMap<&str, usize> = plan
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); plan.steps.len()];
        let mut waiting: Vec<usize> = vec![0; plan.steps.len()];
        let satisfied = |i: usize| match done.get(&plan.steps[i].id) {
            Some(true) => true,
            Some(false) => plan.steps[i].on_failure_in(mode) == OnFailure::Continue,
            None => false,
        };
        for (i, s) in plan.steps.iter().enumerate() {
            for d in &s.depends_on {
                let j = index[d.as_str()];
                if !satisfied(j) {
                    dependents[j].push(i);
                    waiting[i] += 1;
                }
            }
        }
        let ready = (0..plan.steps.len())
            .filter(|&i| waiting[i] == 0 && !done.contains_key(&plan.steps[i].id))
            .collect();
        Schedule {
            dependents,
            waiting,
            ready,
        }
    }

    /// The next ready step, in plan order.
    fn next(&mut self) -> Option<usize> {
        self.ready.pop_first()
    }

    /// Step `i` is satisfied: the steps that waited only for it become ready.
    fn satisfied(&mut self, i: usize) {
        for &d in &self.dependents[i] {
            self.waiting[d] -= 1;
            if self.waiting[d] == 0 {
                self.ready.insert(d);
            }
        }
    }
}

/// A run going through its steps.
struct Execution {
    ctx: Arc<Ctx>,
    p: Progress,
    schedule: Schedule,
    running: JoinSet<Finished>,
    max_parallel: usize,
    /// No new step starts: a step failed, a rollback is due, or an interrupt.
    stopping: bool,
    /// The run was interrupted (or a step stopped at a safe point).
    interrupted: bool,
    /// Ready steps an ungraceful run leaves out (`ungraceful = "skip"`), to be
    /// journaled as skipped.
    left_out: Vec<usize>,
}

/// How a run ended, decided once no step runs any more.
struct End {
    status: RunStatus,
    /// The one-way step the rollback stopped at (`halted`).
    halted_by: Option<String>,
    /// What the operator must decide (`halted`, `interrupted`).
    decision: Option<String>,
}

impl Execution {
    fn new(ctx: Arc<Ctx>, p: Progress) -> Execution {
        let max_parallel = ctx
            .opts
            .max_parallel
            .unwrap_or(ctx.plan.max_parallel)
            .max(1);
        let stopping = p.failure.is_some() || p.rollback_cause.is_some();
        let schedule = Schedule::new(&ctx.plan, &p.done, ctx.mode);
        Execution {
            ctx,
            p,
            schedule,
            running: JoinSet::new(),
            max_parallel,
            stopping,
            interrupted: false,
            left_out: Vec::new(),
        }
    }

    /// Starts the ready steps and settles the finished ones until none runs.
    async fn run_steps(&mut self) -> Result<(), ExecError> {
        loop {
            // An interrupt is not a failure: no new step starts, the ones running
            // stop at their next safe point, nothing is rolled back.
            if !self.stopping
                && (self.ctx.opts.cancel.is_cancelled() || self.ctx.opts.abort.is_cancelled())
            {
                self.stopping = true;
                self.interrupted = true;
            }
            self.start_ready();
            if !self.left_out.is_empty() {
                self.leave_out().await?;
                continue;
            }
            let Some(joined) = self.running.join_next().await else {
                return Ok(());
            };
            match joined {
                Ok(finished) => self.settle(finished).await?,
                Err(e) => {
                    self.p.failure.get_or_insert_with(|| {
                        StepError::message(format!("a step task panicked: {e}"))
                    });
                    self.stopping = true;
                }
            }
        }
    }

    /// Starts ready steps, up to `max_parallel` at once, unless the run is stopping.
    fn start_ready(&mut self) {
        while !self.stopping && self.running.len() < self.max_parallel {
            let Some(i) = self.schedule.next() else { break };
            let step = &self.ctx.plan.steps[i];
            if step.skipped_in(self.ctx.mode) {
                self.left_out.push(i);
                continue;
            }
            self.ctx.emit(Event::StepStarted {
                step: step.id.clone(),
                action: step.action.name().into(),
            });
            let c = self.ctx.clone();
            let in_flight = self.p.in_flight.remove(&step.id);
            self.running.spawn(async move {
                let t0 = chrono::Utc::now();
                let step = &c.plan.steps[i];
                let (res, attempts) = steps::run(c.clone(), step, in_flight).await;
                (i, res, attempts, t0)
            });
        }
    }

    /// The steps an ungraceful run leaves out end `skipped` (journaled,
    /// audited, said); their dependents become ready.
    async fn leave_out(&mut self) -> Result<(), ExecError> {
        let ctx = self.ctx.clone();
        for i in std::mem::take(&mut self.left_out) {
            let step = &ctx.plan.steps[i];
            let detail = "not run: the run is ungraceful and the step says `ungraceful = \"skip\"`";
            let now = chrono::Utc::now();
            ctx.journal_and_audit(
                Record::StepFinished {
                    step: step.id.clone(),
                    action: step.action.name().into(),
                    status: StepStatus::Skipped,
                    attempts: 0,
                    after: Value::Null,
                    detail: Some(detail.into()),
                    error: None,
                    error_kind: None,
                    request_id: None,
                    lag_ms: None,
                    traffic: false,
                    started_at: now,
                    attested: None,
                },
                (
                    &step.id,
                    step.action.name(),
                    &Value::Null,
                    &Value::Null,
                    StepStatus::Skipped.as_str(),
                ),
            )
            .await?;
            self.p.skipped(&step.id);
            self.schedule.satisfied(i);
            ctx.emit(Event::StepSkipped {
                step: step.id.clone(),
                reason: detail.into(),
            });
        }
        Ok(())
    }

    /// A step's task ended: journal it, and go on by its outcome and its
    /// `on_failure` (release its dependents, stop, ask for a rollback).
    async fn settle(&mut self, finished: Finished) -> Result<(), ExecError> {
        let (i, mut res, attempts, t0) = finished;
        if res.crashed {
            return Err(self.ctx.lock_lost().unwrap_or(ExecError::Crashed));
        }
        let ctx = self.ctx.clone();
        let step = &ctx.plan.steps[i];
        if let Some(detail) = res.interrupted.take() {
            // Still in flight: the journal has what it captured, resume continues.
            ctx.journal(Record::StepInterrupted {
                step: step.id.clone(),
                detail: detail.clone(),
            })
            .await?;
            ctx.emit(Event::StepInterrupted {
                step: step.id.clone(),
                detail,
            });
            self.interrupted = true;
            self.stopping = true;
            return Ok(());
        }
        let ok = res.error.is_none();
        step_finished(&ctx, step, &res, attempts, t0).await?;
        self.p.done.insert(step.id.clone(), ok);
        let on_failure = step.on_failure_in(ctx.mode);
        if ok || on_failure == OnFailure::Continue {
            self.schedule.satisfied(i);
        }
        if ok {
            self.p.completed.push((step.id.clone(), res.before));
        } else if on_failure == OnFailure::Continue {
            self.p.failed_continue.push(step.id.clone());
        } else {
            self.stopping = true;
            if let Some(e) = res.error {
                self.p
                    .failure
                    .get_or_insert_with(|| e.prefixed(&format!("step `{}` failed: ", step.id)));
            }
            if on_failure == OnFailure::Rollback {
                self.p.rollback_cause.get_or_insert_with(|| step.id.clone());
            }
        }
        Ok(())
    }

    /// How the run ends: a rollback when a step asked for one (rolled back,
    /// halted at a one-way step, or failed), else failed, interrupted or
    /// succeeded.
    async fn conclude(&self) -> Result<End, ExecError> {
        let (ctx, p) = (&self.ctx, &self.p);
        // A dependency chain cut by a `continue` failure leaves nothing unrunnable;
        // an abort leaves the rest not run, which the report shows.
        let mut halted_by = None;
        let mut decision = None;
        let status = if let Some(cause) = p.rollback_cause.clone() {
            if !p.rollback_journaled {
                ctx.journal(Record::RollbackStarted {
                    cause: cause.clone(),
                })
                .await?;
            }
            let (all_ok, door) = rollback(ctx, p).await?;
            if let Some(door) = &door {
                decision = Some(halt_decision(ctx, &ctx.plan, door, &cause));
            }
            halted_by = door;
            match (all_ok, &halted_by) {
                (false, _) => RunStatus::Failed,
                (true, Some(_)) => RunStatus::Halted,
                (true, None) => RunStatus::RolledBack,
            }
        } else if p.failure.is_some() {
            RunStatus::Failed
        } else if self.interrupted && ctx.opts.abort.is_cancelled() {
            // A hard stop abandons the steps in flight mid-call: no safe point.
            decision = Some(format!(
                "stopped hard, not at a safe point: calls in progress were abandoned and \
                 commands killed, so what the steps in flight changed is unknown; nothing was \
                 rolled back. `dr resume {}` checks those steps and continues the run",
                ctx.run_id
            ));
            RunStatus::Interrupted
        } else if self.interrupted {
            decision = Some(format!(
                "interrupted at a safe point: nothing was rolled back and traffic is where the \
                 last completed change put it. `dr resume {}` continues the run",
                ctx.run_id
            ));
            RunStatus::Interrupted
        } else {
            RunStatus::Succeeded
        };
        Ok(End {
            status,
            halted_by,
            decision,
        })
    }

    /// Records the end: the audit log's last entry, `run_finished` with the
    /// audit head, the report beside the journal, and the `RunFinished` event.
    async fn finish(self, end: End) -> Result<RunOutcome, ExecError> {
        let End {
            status,
            halted_by,
            decision,
        } = end;
        let ctx = &self.ctx;
        let after = match status {
            RunStatus::Succeeded => super::after::window(ctx).await?,
            _ => None,
        };
        let failure = self.p.failure.clone();
        notify_end(ctx, status, after, failure.as_ref(), &halted_by, &decision).await;
        ctx.audit("-", "run", &Value::Null, &Value::Null, status.as_str())
            .await;
        let audit = ctx.audit.clone();
        let audit_head = super::blocking(move || audit.sync_head()).await?;
        ctx.journal(Record::RunFinished {
            status: status.as_str().into(),
            error: failure.as_ref().map(|e| e.message.clone()),
            halted_by: halted_by.clone(),
            decision: decision.clone(),
            audit_head: audit_head.map(|h| journal::AuditHeadRef {
                seq: h.seq,
                hash: h.hash,
            }),
        })
        .await?;
        let report = write_report(ctx)?;
        ctx.emit(Event::RunFinished {
            run_id: ctx.run_id.clone(),
            status: status.as_str().into(),
            rto_ms: report.rto_ms,
            rpo_ms: report.rpo_ms,
            error: failure.as_ref().map(|e| e.message.clone()),
            error_kind: failure.as_ref().and_then(|e| e.kind.clone()),
            request_id: failure.and_then(|e| e.request_id),
            failed_steps: if status == RunStatus::Succeeded {
                self.p.failed_continue.clone()
            } else {
                Vec::new()
            },
            halted_by,
            decision,
            after: after.map(|a| a.as_str().to_string()),
        });
        Ok(RunOutcome {
            run_id: ctx.run_id.clone(),
            status,
            report,
            after,
        })
    }
}

/// `[plan.notify]` of the run's end: `after_finished` (when the window ran),
/// then the status (`succeeded`, `failed`, `halted`, ..), after the
/// background `run_started` was sent. Not after a hard stop (a second
/// Ctrl-C): the operator wants dr gone.
async fn notify_end(
    ctx: &Ctx,
    status: RunStatus,
    after: Option<super::after::AfterStatus>,
    failure: Option<&StepError>,
    halted_by: &Option<String>,
    decision: &Option<String>,
) {
    use crate::plan::NotifyEvent;
    ctx.settle_notices().await;
    if ctx.plan.notify.is_none() || ctx.opts.abort.is_cancelled() {
        return;
    }
    let plan = &ctx.plan.name;
    let run_id = &ctx.run_id;
    if let Some(a) = after {
        let text = format!(
            "dr: after run {run_id} of plan `{plan}`, the new side was {} during the [plan.after] window",
            a.as_str()
        );
        super::notices::send(
            ctx,
            NotifyEvent::AfterFinished,
            &text,
            serde_json::json!({ "status": a.as_str() }),
        )
        .await;
    }
    let event = match status {
        RunStatus::Succeeded => NotifyEvent::Succeeded,
        RunStatus::Failed => NotifyEvent::Failed,
        RunStatus::RolledBack => NotifyEvent::RolledBack,
        RunStatus::Halted => NotifyEvent::Halted,
        RunStatus::Interrupted => NotifyEvent::Interrupted,
    };
    let mut text = format!("dr: run {run_id} of plan `{plan}` {}", status.as_str());
    if let Some(f) = failure {
        text.push_str(&format!(": {}", f.message));
    }
    if let Some(d) = decision {
        text.push_str(&format!(". {d}"));
    }
    super::notices::send(
        ctx,
        event,
        &text,
        serde_json::json!({
            "status": status.as_str(),
            "error": failure.map(|f| f.message.clone()),
            "halted_by": halted_by,
        }),
    )
    .await;
}

/// Journals, audits and reports (event) the end of a step that ran to its end.
async fn step_finished(
    ctx: &Ctx,
    step: &Step,
    res: &StepResult,
    attempts: u32,
    t0: chrono::DateTime<chrono::Utc>,
) -> Result<(), ExecError> {
    let status = if res.error.is_none() {
        StepStatus::Succeeded
    } else {
        StepStatus::Failed
    };
    let (error, error_kind, request_id) = match &res.error {
        Some(e) => (
            Some(e.message.clone()),
            e.kind.clone(),
            e.request_id.clone(),
        ),
        None => (None, None, None),
    };
    let record = Record::StepFinished {
        step: step.id.clone(),
        action: step.action.name().into(),
        status,
        attempts,
        after: res.after.clone(),
        detail: res.detail.clone(),
        error: error.clone(),
        error_kind: error_kind.clone(),
        request_id: request_id.clone(),
        lag_ms: res.lag_ms,
        traffic: res.traffic,
        started_at: t0,
        attested: None,
    };
    ctx.journal_and_audit(
        record,
        (
            &step.id,
            step.action.name(),
            &res.before,
            &res.after,
            status.as_str(),
        ),
    )
    .await?;
    ctx.emit(Event::StepFinished {
        step: step.id.clone(),
        status,
        duration_ms: (chrono::Utc::now() - t0).num_milliseconds().max(0) as u64,
        attempts,
        detail: res.detail.clone(),
        error,
        error_kind,
        request_id,
    });
    Ok(())
}

/// Builds the run's report from its journal and writes it (redacted) beside it.
fn write_report(ctx: &Ctx) -> Result<Report, ExecError> {
    let dir = run_dir(&ctx.opts.state_dir, &ctx.run_id);
    let report = Report::from_journal(&journal::read(&dir)?)
        .ok_or_else(|| ExecError::Resume("journal lost its run_started entry".into()))?;
    let mut value = serde_json::to_value(&report).map_err(std::io::Error::other)?;
    ctx.redactor.redact_json(&mut value);
    std::fs::write(
        RunDir::new(&ctx.opts.state_dir, &ctx.run_id).report(),
        serde_json::to_vec_pretty(&value).map_err(std::io::Error::other)?,
    )?;
    Ok(report)
}

/// Compensates the completed steps in reverse order of completion, down to the
/// latest completed one-way step and no further ("One-way doors"). Returns
/// whether every compensation succeeded, and the one-way step it stopped at.
async fn rollback(ctx: &Arc<Ctx>, p: &Progress) -> Result<(bool, Option<String>), ExecError> {
    let mut all_ok = true;
    for (id, before) in p.completed.iter().rev() {
        if p.compensated.contains_key(id) {
            continue;
        }
        let Some(step) = ctx.plan.step(id) else {
            continue;
        };
        if step.one_way {
            return Ok((all_ok, Some(id.clone())));
        }
        let (st, detail) = steps::compensate(ctx, step, before).await;
        all_ok &= st != CompensationStatus::Failed;
        ctx.journal(Record::StepCompensated {
            step: id.clone(),
            status: st,
            detail: detail.clone(),
        })
        .await?;
        ctx.audit(id, "rollback", &Value::Null, before, st.as_str())
            .await;
        ctx.emit(Event::RolledBack {
            step: id.clone(),
            status: st,
            detail,
        });
    }
    Ok((all_ok, None))
}

/// What an operator reads when a rollback stopped at a one-way step.
fn halt_decision(ctx: &Ctx, plan: &Plan, door: &str, cause: &str) -> String {
    let action = plan.step(door).map(|s| s.action.name()).unwrap_or("?");
    format!(
        "the rollback stopped at `{door}` ({action}), a one-way step: going further back would \
         send traffic to the old side, which is no longer safe to write to (split brain, lost \
         writes). Traffic stays where the rollback left it. Decide: fix what made `{cause}` \
         fail, then `dr resume {run}` retries it and goes forward; or fail back deliberately \
         with a failback plan",
        run = ctx.run_id
    )
}
