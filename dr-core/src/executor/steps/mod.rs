//! What each step action does: capture, journal, act, verify. The actions
//! live in [`traffic`], [`data`] and [`builtin`]; this module runs a step
//! (timeout, hard stop, restore of a failed shift) and compensates it.

mod builtin;
mod data;
mod traffic;

pub(crate) use builtin::exec_preflight;

use traffic::{before_split, restore_shift, scope_label, verify_split};

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::Event;
use super::context::Ctx;
use super::gate;
use crate::journal::Record;
use crate::outcome::{CompensationStatus, StepError};
use crate::plan::{Step, StepAction};
use crate::retry::{RetryContext, Retrying};
use crate::{DataStore, ProviderError, Replicator, TrafficRouter};

/// What a step left behind.
#[derive(Debug, Default)]
pub(crate) struct StepResult {
    pub error: Option<StepError>,
    pub before: Value,
    pub after: Value,
    pub detail: Option<String>,
    pub lag_ms: Option<u64>,
    pub traffic: bool,
    /// The process "died" (test hook): stop everything.
    pub crashed: bool,
    /// The run was interrupted and the step stopped at a safe point (with where);
    /// it stays in flight for `dr resume`.
    pub interrupted: Option<Option<String>>,
}

/// Journal state of a step that was in flight when the process died.
#[derive(Debug, Clone, Default)]
pub(crate) struct InFlight {
    pub before: Value,
    pub phases_done: Vec<u32>,
}

/// A step's failure: a message, an interrupt (not a failure: the step stays in
/// flight), or the simulated crash.
pub(crate) enum Fail {
    Msg(String),
    Provider(ProviderError),
    Interrupted(Option<String>),
    Crashed,
}

impl From<gate::GateStop> for Fail {
    fn from(g: gate::GateStop) -> Self {
        match g {
            gate::GateStop::Failed(m) => Fail::Msg(m),
            gate::GateStop::Interrupted => Fail::Interrupted(Some("while a gate was held".into())),
        }
    }
}

impl From<String> for Fail {
    fn from(s: String) -> Self {
        Fail::Msg(s)
    }
}

impl From<ProviderError> for Fail {
    fn from(e: ProviderError) -> Self {
        Fail::Provider(e)
    }
}

impl From<super::ExecError> for Fail {
    fn from(e: super::ExecError) -> Self {
        match e {
            // The run stops at once, recording nothing more.
            super::ExecError::Crashed | super::ExecError::LockLost { .. } => Fail::Crashed,
            other => Fail::Msg(format!("journal: {other}")),
        }
    }
}

type R<T> = Result<T, Fail>;

/// The retry-wrapped provider objects of one step.
pub(crate) struct Wrap {
    pub retry: Arc<RetryContext>,
}

impl Wrap {
    pub fn new(ctx: &Arc<Ctx>, step: &Step) -> Wrap {
        let resource = step.action.resource().unwrap_or(&step.id).to_string();
        let retries = step.retries.unwrap_or(ctx.opts.retry.max_retries);
        let events = ctx.clone();
        let id = step.id.clone();
        let provider = ctx
            .plan
            .resource(&resource)
            .map(|r| r.provider.clone())
            .unwrap_or_else(|| step.action.name().to_string());
        let retry = RetryContext::new(ctx.opts.retry, retries, ctx.budget.clone(), resource)
            .with_provider(provider)
            .with_hook(Arc::new(
                move |op: &str, attempt: u32, delay: Duration, e: &ProviderError| {
                    events.emit(Event::Retrying {
                        step: id.clone(),
                        operation: op.to_string(),
                        attempt,
                        delay_ms: delay.as_millis() as u64,
                        error: events.redact(&e.to_string()),
                    });
                },
            ));
        Wrap {
            retry: Arc::new(retry),
        }
    }

    /// The plan's provider object for `name`, wrapped in this step's retries.
    fn wrap<T: ?Sized>(&self, obj: Option<&Arc<T>>, kind: &str, name: &str) -> R<Retrying<T>> {
        let obj = obj
            .cloned()
            .ok_or_else(|| format!("{kind} `{name}` is not available"))?;
        Ok(Retrying::new(obj, self.retry.clone()))
    }

    fn router(&self, ctx: &Ctx, name: &str) -> R<Retrying<dyn TrafficRouter>> {
        self.wrap(
            ctx.plan.resource(name).and_then(|r| r.router()),
            "router",
            name,
        )
    }

    fn store(&self, ctx: &Ctx, name: &str) -> R<Retrying<dyn DataStore>> {
        self.wrap(
            ctx.plan.resource(name).and_then(|r| r.store()),
            "store",
            name,
        )
    }

    fn replicator(&self, ctx: &Ctx, name: &str) -> R<Retrying<dyn Replicator>> {
        self.wrap(
            ctx.plan.resource(name).and_then(|r| r.replicator()),
            "replicator",
            name,
        )
    }
}

/// Runs one step, bounded by its timeout. A traffic shift that fails after
/// moving traffic restores the split it captured before it began.
pub(crate) async fn run(
    ctx: Arc<Ctx>,
    step: &Step,
    in_flight: Option<InFlight>,
) -> (StepResult, u32) {
    let wrap = Wrap::new(&ctx, step);
    let mut res = StepResult {
        traffic: matches!(
            step.action,
            StepAction::TrafficSet { .. } | StepAction::TrafficShift { .. }
        ),
        ..Default::default()
    };
    let body = act(&ctx, step, &wrap, in_flight, &mut res);
    let bounded = async {
        match step.timeout {
            Some(t) => match tokio::time::timeout(t, body).await {
                Ok(r) => r,
                Err(_) => Err(Fail::Msg(format!(
                    "step timed out after {}",
                    crate::format_duration(t)
                ))),
            },
            None => body.await,
        }
    };
    // A hard stop abandons the step where it is (a command is killed); it stays
    // in flight, and resume decides whether it may run again.
    let outcome = tokio::select! {
        r = bounded => r,
        _ = ctx.opts.abort.cancelled() => Err(Fail::Interrupted(Some("stopped hard".into()))),
    };
    res.error = match outcome {
        Ok(()) => None,
        Err(Fail::Crashed) => {
            res.crashed = true;
            None
        }
        Err(Fail::Interrupted(detail)) => {
            res.interrupted = Some(detail);
            None
        }
        Err(Fail::Provider(e)) => Some(StepError::provider(&e, &ctx.redactor)),
        Err(Fail::Msg(m)) => Some(StepError::message(ctx.redact(&m))),
    };
    if res.error.is_some()
        && let StepAction::TrafficShift { router, scope, .. } = &step.action
        && let Some(restored) =
            restore_shift(&ctx, &wrap, router, scope.as_deref(), &res.before).await
    {
        res.detail = Some(restored);
    }
    (res, wrap.retry.attempts().max(1))
}

async fn act(
    ctx: &Arc<Ctx>,
    step: &Step,
    w: &Wrap,
    in_flight: Option<InFlight>,
    res: &mut StepResult,
) -> R<()> {
    let mut s = StepRun {
        ctx,
        step,
        w,
        resumed: in_flight.is_some(),
        in_flight: in_flight.unwrap_or_default(),
        res,
    };
    let s = &mut s;
    match &step.action {
        StepAction::TrafficSet {
            router,
            split,
            scope,
        } => traffic::set(s, router, split, scope).await,
        StepAction::TrafficShift {
            router,
            to,
            phases,
            gate,
            scope,
        } => traffic::shift(s, router, to, phases, gate, scope).await,
        StepAction::ProbeWait(g) => builtin::probe_wait(s, g).await,
        StepAction::ReplicationCheck {
            replicator,
            max_lag,
        } => data::check(s, replicator, max_lag).await,
        StepAction::ReplicationStop { replicator } => data::stop(s, replicator).await,
        StepAction::ReplicationReverse { replicator } => data::reverse(s, replicator).await,
        StepAction::DatastorePromote {
            store,
            max_lag,
            lag_from,
        } => data::promote(s, store, max_lag, lag_from).await,
        StepAction::DatastoreFence { store } => data::fence(s, store).await,
        StepAction::DatastoreFlush { store } => data::flush(s, store).await,
        StepAction::Approval { message } => builtin::approval(s, message).await,
        StepAction::Wait { duration } => builtin::wait(s, duration).await,
        StepAction::PlanRun { plan, steps } => builtin::plan_run(s, plan, steps).await,
        StepAction::Notify {
            url,
            message,
            headers,
        } => builtin::notify_step(s, url, message, headers).await,
        StepAction::Exec {
            command, cwd, env, ..
        } => builtin::exec_step(s, command, cwd, env).await,
        StepAction::Provider { name, action } => builtin::provider(s, name, action).await,
    }
}

/// What one execution of a step works with.
pub(super) struct StepRun<'a> {
    ctx: &'a Arc<Ctx>,
    step: &'a Step,
    w: &'a Wrap,
    /// Whether the step was in flight when the run stopped (resume).
    resumed: bool,
    /// What the journal says the step did before it stopped (resume).
    in_flight: InFlight,
    res: &'a mut StepResult,
}

/// The state to journal as "before": what the journal captured when the step
/// was in flight before a resume (the state now may already be the step's own
/// doing), else `now`, captured just now.
fn captured(resumed: bool, in_flight: &InFlight, now: Value) -> Value {
    if resumed {
        in_flight.before.clone()
    } else {
        now
    }
}

/// The `step_started` record: the captured prior state and the intent.
fn started(step: &Step, before: &Value, intent: Value) -> Record {
    Record::StepStarted {
        step: step.id.clone(),
        action: step.action.name().into(),
        before: before.clone(),
        intent,
    }
}

/// `now + d`, or a deadline far in the future when that does not fit.
fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 86_400))
}

/// What rollback does for a completed step.
pub(crate) async fn compensate(
    ctx: &Arc<Ctx>,
    step: &Step,
    before: &Value,
) -> (CompensationStatus, String) {
    let w = Wrap::new(ctx, step);
    match &step.action {
        StepAction::TrafficSet { router, scope, .. }
        | StepAction::TrafficShift { router, scope, .. } => {
            let Some(split) = before_split(before) else {
                return (
                    CompensationStatus::Failed,
                    "no captured split to restore".into(),
                );
            };
            let result: R<()> = async {
                let r = w.router(ctx, router)?;
                if !r.current(scope.as_deref()).await?.same_as(&split) {
                    r.apply(&split, scope.as_deref()).await?;
                }
                verify_split(&r, &split, scope.as_deref()).await
            }
            .await;
            match result {
                Ok(()) => (
                    CompensationStatus::Succeeded,
                    format!(
                        "{router}{}: restored {split}",
                        scope_label(scope.as_deref())
                    ),
                ),
                Err(Fail::Msg(m)) => (
                    CompensationStatus::Failed,
                    ctx.redact(&format!("could not restore {split}: {m}")),
                ),
                Err(Fail::Provider(e)) => (
                    CompensationStatus::Failed,
                    ctx.redact(&format!("could not restore {split}: {e}")),
                ),
                Err(Fail::Crashed) => (CompensationStatus::Failed, "crashed".into()),
                Err(Fail::Interrupted(_)) => (CompensationStatus::Failed, "interrupted".into()),
            }
        }
        StepAction::Provider { name, action } if action.compensable() => {
            match w.retry.call("compensate", || action.compensate()).await {
                Ok(()) => (
                    CompensationStatus::Succeeded,
                    format!("{name}: compensated"),
                ),
                Err(e) => (CompensationStatus::Failed, ctx.redact(&e.to_string())),
            }
        }
        StepAction::ProbeWait(_)
        | StepAction::ReplicationCheck { .. }
        | StepAction::Approval { .. }
        | StepAction::Wait { .. }
        | StepAction::PlanRun { .. }
        | StepAction::Notify { .. } => (CompensationStatus::Skipped, "nothing to undo".into()),
        other => {
            let msg = format!(
                "`{}` cannot be undone automatically; check `{}` by hand",
                other.name(),
                other.resource().unwrap_or(&step.id)
            );
            ctx.emit(Event::Warning {
                step: Some(step.id.clone()),
                message: msg.clone(),
            });
            (CompensationStatus::Skipped, msg)
        }
    }
}
