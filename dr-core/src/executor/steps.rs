//! What each step action does: capture, journal, act, verify.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::Event;
use super::gate::{self, DEFAULT_GATE_TIMEOUT};
use super::run::Ctx;
use crate::journal::Record;
use crate::outcome::{CompensationStatus, StepError};
use crate::plan::{Step, StepAction};
use crate::retry::{RetryContext, Retrying};
use crate::{
    DataStore, ErrorKind, ProviderError, ReplicationState, Replicator, Role, TrafficRouter,
    TrafficSplit,
};

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
            super::ExecError::Crashed => Fail::Crashed,
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

/// Puts back the split a failed shift captured; says what it did.
async fn restore_shift(
    ctx: &Ctx,
    wrap: &Wrap,
    router: &str,
    scope: Option<&str>,
    before: &Value,
) -> Option<String> {
    let split: TrafficSplit = serde_json::from_value(before.get("split")?.clone()).ok()?;
    let r = wrap.router(ctx, router).ok()?;
    let now = r.current(scope).await.ok();
    if now.as_ref().is_some_and(|n| n.same_as(&split)) {
        return None;
    }
    match r.apply(&split, scope).await {
        Ok(()) => Some(format!("traffic restored to {split}")),
        Err(e) => Some(ctx.redact(&format!("could not restore traffic to {split}: {e}"))),
    }
}

fn split_json(split: &TrafficSplit, scope: Option<&str>) -> Value {
    json!({ "split": split, "scope": scope })
}

async fn act(
    ctx: &Arc<Ctx>,
    step: &Step,
    w: &Wrap,
    in_flight: Option<InFlight>,
    res: &mut StepResult,
) -> R<()> {
    let id = step.id.as_str();
    let resumed = in_flight.is_some();
    let mut in_flight = in_flight.unwrap_or_default();
    let started = |before: &Value, intent: Value| Record::StepStarted {
        step: id.into(),
        action: step.action.name().into(),
        before: before.clone(),
        intent,
    };
    match &step.action {
        StepAction::TrafficSet {
            router,
            split,
            scope,
        } => {
            let scope = scope.as_deref();
            let r = w.router(ctx, router)?;
            let now = r.current(scope).await?;
            let before = if resumed {
                in_flight.before.clone()
            } else {
                split_json(&now, scope)
            };
            res.before = before.clone();
            let resource = ctx.plan.resource(router).expect("validated");
            gate::check_safety(ctx, resource, split, "before").await?;
            ctx.journal(started(&before, json!({ "split": split })))
                .await?;
            if !now.same_as(split) {
                r.apply(split, scope).await?;
            }
            verify_split(&r, split, scope).await?;
            gate::check_safety(ctx, resource, split, "after").await?;
            res.after = split_json(split, scope);
            res.detail = Some(format!(
                "{router}{}: {} -> {split}",
                scope_label(scope),
                before_split(&before).unwrap_or(now)
            ));
        }
        StepAction::TrafficShift {
            router,
            to,
            phases,
            gate: g,
            scope,
        } => {
            let scope = scope.as_deref();
            let r = w.router(ctx, router)?;
            let now = r.current(scope).await?;
            let before = if resumed {
                in_flight.before.clone()
            } else {
                split_json(&now, scope)
            };
            res.before = before.clone();
            let start = before_split(&before).unwrap_or_else(|| now.clone());
            ctx.journal(started(&before, json!({ "to": to, "phases": phases })))
                .await?;
            let resource = ctx.plan.resource(router).expect("validated");
            // On resume, continue from the furthest phase already in effect: the last
            // journaled one, or a later one whose split is in place (applied, then
            // the process died before journaling it).
            let mut last_done = in_flight.phases_done.iter().max().copied();
            if resumed
                && let Some(&p) = phases
                    .iter()
                    .rev()
                    .find(|&&p| start.shifted_towards(to, p).same_as(&now))
            {
                last_done = last_done.max(Some(p));
            }
            for &phase in phases {
                if last_done.is_some_and(|d| phase < d) {
                    continue;
                }
                if ctx.opts.cancel.is_cancelled() {
                    return Err(Fail::Interrupted(Some(format!("before phase {phase}%"))));
                }
                let target = start.shifted_towards(to, phase);
                gate::check_safety(ctx, resource, &target, "before").await?;
                let current = r.current(scope).await?;
                if !current.same_as(&target) {
                    r.apply(&target, scope).await?;
                }
                verify_split(&r, &target, scope).await?;
                if !in_flight.phases_done.contains(&phase) {
                    ctx.journal(Record::PhaseApplied {
                        step: id.into(),
                        phase,
                        split: target.clone(),
                    })
                    .await?;
                }
                ctx.emit(Event::PhaseApplied {
                    step: id.into(),
                    phase,
                    split: target.clone(),
                });
                res.after = split_json(&target, scope);
                gate::check_safety(ctx, resource, &target, "after").await?;
                if let Some(g) = g {
                    if ctx.opts.cancel.is_cancelled() {
                        return Err(Fail::Interrupted(Some(format!(
                            "after phase {phase}% was applied, before its gate"
                        ))));
                    }
                    let deadline = deadline_after(g.timeout.unwrap_or(DEFAULT_GATE_TIMEOUT));
                    gate::hold(ctx, id, g, true, deadline)
                        .await
                        .map_err(|e| match e {
                            gate::GateStop::Failed(m) => Fail::Msg(format!("at {phase}%: {m}")),
                            gate::GateStop::Interrupted => Fail::Interrupted(Some(format!(
                                "at phase {phase}%, while its gate was held"
                            ))),
                        })?;
                }
            }
            in_flight.phases_done.clear();
            res.detail = Some(format!(
                "{router}{}: {start} -> {}",
                scope_label(scope),
                start.shifted_towards(to, 100)
            ));
        }
        StepAction::ProbeWait(g) => {
            let deadline =
                deadline_after(step.timeout.or(g.timeout).unwrap_or(DEFAULT_GATE_TIMEOUT));
            gate::hold(ctx, id, g, false, deadline).await?;
            res.detail = Some(format!("{} healthy", g.probe));
        }
        StepAction::ReplicationCheck {
            replicator,
            max_lag,
        } => {
            let rep = w.replicator(ctx, replicator)?;
            let st = rep.status().await?;
            let lag = st.lag;
            res.after = serde_json::to_value(&st).unwrap_or_default();
            rpo_gate(ctx, id, replicator, lag, *max_lag)?;
            res.detail = Some(format!("{replicator}: {}, lag {}", st.state, lag_text(lag)));
        }
        StepAction::ReplicationStop { replicator } => {
            let rep = w.replicator(ctx, replicator)?;
            let st = rep.status().await?;
            let before = if resumed {
                in_flight.before.clone()
            } else {
                serde_json::to_value(&st).unwrap_or_default()
            };
            res.before = before.clone();
            res.lag_ms = before.get("lag_ms").and_then(Value::as_u64);
            ctx.journal(started(&before, json!({ "state": "stopped" })))
                .await?;
            if st.state == ReplicationState::Replicating {
                rep.stop().await?;
            }
            // A promote's RPO gate later in the run uses this figure once the
            // stopped link reports no lag any more.
            ctx.record_stop_lag(replicator, id, res.lag_ms);
            let after = rep.status().await?;
            if after.state == ReplicationState::Replicating {
                return Err(format!(
                    "verification failed: `{replicator}` still replicating after stop"
                )
                .into());
            }
            res.after = serde_json::to_value(&after).unwrap_or_default();
            res.detail = Some(format!(
                "{replicator}: {} -> {} (lag at stop {})",
                st.state,
                after.state,
                lag_text(res.lag_ms.map(Duration::from_millis))
            ));
        }
        StepAction::ReplicationReverse { replicator } => {
            let rep = w.replicator(ctx, replicator)?;
            let st = rep.status().await?;
            res.before = if resumed {
                in_flight.before.clone()
            } else {
                serde_json::to_value(&st).unwrap_or_default()
            };
            ctx.journal(started(&res.before, json!({ "reversed": true })))
                .await?;
            rep.reverse().await?;
            let after = rep.status().await?;
            res.after = serde_json::to_value(&after).unwrap_or_default();
            res.detail = Some(format!("{replicator}: reversed, now {}", after.state));
        }
        StepAction::DatastorePromote {
            store,
            max_lag,
            lag_from,
        } => {
            let s = w.store(ctx, store)?;
            let role = s.role().await?;
            let before = if resumed {
                in_flight.before.clone()
            } else {
                let lag = match lag_from {
                    Some(l) => promote_lag(ctx, w, l).await?,
                    None => None,
                };
                if max_lag.is_some() {
                    rpo_gate(
                        ctx,
                        id,
                        lag_from.as_deref().unwrap_or(store),
                        lag.as_ref().map(|(d, _)| *d),
                        *max_lag,
                    )?;
                }
                json!({
                    "role": role,
                    "lag_ms": lag.as_ref().map(|(d, _)| d.as_millis() as u64),
                    "lag_source": lag.map(|(_, src)| src),
                })
            };
            res.before = before.clone();
            res.lag_ms = before.get("lag_ms").and_then(Value::as_u64);
            ctx.journal(started(&before, json!({ "role": "primary" })))
                .await?;
            if role != Role::Primary {
                s.promote().await?;
            }
            let (after, writable) = (s.role().await?, s.writable().await?);
            if after != Role::Primary || !writable {
                return Err(format!(
                    "verification failed: `{store}` is {after} (writable: {writable}) after promote"
                )
                .into());
            }
            res.after = json!({ "role": after, "writable": writable });
            res.detail = Some(format!("{store}: {role} -> primary"));
        }
        StepAction::DatastoreFence { store } => {
            let s = w.store(ctx, store)?;
            let writable = s.writable().await?;
            res.before = if resumed {
                in_flight.before.clone()
            } else {
                json!({ "writable": writable })
            };
            ctx.journal(started(&res.before, json!({ "writable": false })))
                .await?;
            if writable {
                s.fence().await?;
            }
            if s.writable().await? {
                return Err(format!(
                    "verification failed: `{store}` still accepts writes after fence"
                )
                .into());
            }
            res.after = json!({ "writable": false });
            res.detail = Some(format!("{store}: fenced (refuses writes)"));
        }
        StepAction::DatastoreFlush { store } => {
            let s = w.store(ctx, store)?;
            ctx.journal(started(&Value::Null, json!({ "flushed": true })))
                .await?;
            s.flush().await?;
            res.after = json!({ "flushed": true });
            res.detail = Some(format!("{store}: flushed"));
        }
        StepAction::Approval { message } => {
            let message = message
                .clone()
                .unwrap_or_else(|| format!("Approve step `{id}`?"));
            if ctx.opts.approvals.contains(id) {
                res.detail = Some("approved with --approve".into());
            } else if let Some(approver) = ctx.opts.approver.clone() {
                ctx.emit(Event::ApprovalNeeded {
                    step: id.into(),
                    message: message.clone(),
                });
                let ok = tokio::select! {
                    ok = approver.approve(id, &message) => ok,
                    _ = ctx.opts.cancel.cancelled() => {
                        return Err(Fail::Interrupted(Some("while waiting for approval".into())));
                    }
                };
                if !ok {
                    return Err(format!("approval of `{id}` was refused").into());
                }
                res.detail = Some(format!("approved by {}", ctx.opts.operator));
            } else {
                ctx.emit(Event::ApprovalNeeded {
                    step: id.into(),
                    message: message.clone(),
                });
                return Err(format!("approval required and not given: rerun with `--approve {id}` (or run on a terminal to be asked)").into());
            }
            res.after = json!({ "approved": true });
        }
        StepAction::Wait { duration } => {
            tokio::select! {
                _ = tokio::time::sleep(*duration) => {}
                _ = ctx.opts.cancel.cancelled() => {
                    return Err(Fail::Interrupted(Some("while waiting".into())));
                }
            }
            res.detail = Some(format!("waited {}", crate::format_duration(*duration)));
        }
        StepAction::Notify {
            url,
            message,
            headers,
        } => {
            ctx.journal(started(&Value::Null, json!({ "notify": ctx.redact(url) })))
                .await?;
            let body =
                json!({ "plan": ctx.plan.name, "run_id": ctx.run_id, "step": id, "text": message });
            w.retry
                .call("notify", || notify(url, headers, &body))
                .await?;
            res.detail = Some("notified".into());
        }
        StepAction::Exec {
            command, cwd, env, ..
        } => {
            ctx.journal(started(
                &Value::Null,
                json!({ "command": ctx.redact(&command.join(" ")) }),
            ))
            .await?;
            let out = exec(ctx, id, command, cwd.as_deref(), env).await?;
            res.after = json!({ "exit": 0, "stdout_tail": ctx.redact(&out) });
            res.detail = Some(format!("`{}` exited 0", ctx.redact(&command.join(" "))));
        }
        StepAction::Provider { name, action } => {
            if w.retry.call("verify", || action.verify()).await? {
                res.detail = Some(format!("{name}: already in place"));
                return Ok(());
            }
            ctx.journal(started(&Value::Null, json!({ "run": action.describe() })))
                .await?;
            // `run()` may have taken effect before a retryable error (a timeout, a
            // lost answer). Retry it only when that is harmless: the action is
            // idempotent, or verify() can tell whether it took effect.
            let first = std::sync::atomic::AtomicBool::new(true);
            let out = w
                .retry
                .call("run", || async {
                    let retry = !first.swap(false, std::sync::atomic::Ordering::SeqCst);
                    if retry && action.verifies() && action.verify().await? {
                        return Ok(json!({ "verified": "in place after a retried run" }));
                    }
                    match action.run().await {
                        Err(e)
                            if e.is_retryable() && !action.idempotent() && !action.verifies() =>
                        {
                            Err(ProviderError::new(
                                ErrorKind::Conflict,
                                format!(
                                    "{}; not retried: the action may have taken effect and is \
                                     neither idempotent nor verifiable",
                                    e.message()
                                ),
                            ))
                        }
                        other => other,
                    }
                })
                .await?;
            res.after = out;
            res.detail = Some(action.describe());
        }
    }
    Ok(())
}

async fn verify_split(
    r: &Retrying<dyn TrafficRouter>,
    split: &TrafficSplit,
    scope: Option<&str>,
) -> R<()> {
    let now = r.current(scope).await?;
    if !now.same_as(split) {
        return Err(
            format!("verification failed: router reports {now} after applying {split}").into(),
        );
    }
    Ok(())
}

fn before_split(before: &Value) -> Option<TrafficSplit> {
    serde_json::from_value(before.get("split")?.clone()).ok()
}

fn scope_label(scope: Option<&str>) -> String {
    scope.map(|s| format!(" [{s}]")).unwrap_or_default()
}

fn lag_text(lag: Option<Duration>) -> String {
    lag.map(crate::format_duration)
        .unwrap_or_else(|| "unknown".into())
}

/// `now + d`, or a deadline far in the future when that does not fit.
fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 86_400))
}

/// The lag a promote's RPO gate judges, and where it came from: what the
/// replicator reports now; else what this run measured when it stopped that
/// link (journaled, so it survives a resume); else unknown.
async fn promote_lag(ctx: &Ctx, w: &Wrap, replicator: &str) -> R<Option<(Duration, String)>> {
    let now = w.replicator(ctx, replicator)?.status().await?;
    if let Some(lag) = now.lag {
        return Ok(Some((lag, format!("reported by `{replicator}`"))));
    }
    Ok(ctx.stop_lag(replicator).and_then(|s| {
        let ms = s.lag_ms?;
        Some((
            Duration::from_millis(ms),
            format!("measured when step `{}` stopped `{replicator}`", s.step),
        ))
    }))
}

/// Refuses when the lag is unknown or larger than `max_lag`, unless data loss is
/// accepted (then warns, and the warning is journaled as an event).
fn rpo_gate(
    ctx: &Ctx,
    step: &str,
    source: &str,
    lag: Option<Duration>,
    max_lag: Option<Duration>,
) -> R<()> {
    let Some(max) = max_lag else { return Ok(()) };
    let problem = match lag {
        None => format!(
            "replication lag of `{source}` is unknown, so the RPO of {} cannot be guaranteed",
            crate::format_duration(max)
        ),
        Some(l) if l > max => format!(
            "replication lag of `{source}` is {}, more than max_lag {}",
            crate::format_duration(l),
            crate::format_duration(max)
        ),
        Some(_) => return Ok(()),
    };
    if ctx.opts.accept_data_loss {
        ctx.emit(Event::Warning {
            step: Some(step.into()),
            message: format!("{problem}; continuing because --accept-data-loss was given"),
        });
        Ok(())
    } else {
        Err(format!(
            "RPO gate: {problem}; refusing (use --accept-data-loss to accept the data loss)"
        )
        .into())
    }
}

/// POSTs `body` to the webhook through the shared HTTP layer: statuses map by its
/// table (a 429 or 503 with `Retry-After` is `throttled`, so the retry waits as
/// asked) and messages never show the URL, whose path often is the secret.
async fn notify(
    url: &str,
    headers: &std::collections::BTreeMap<String, String>,
    body: &Value,
) -> Result<(), ProviderError> {
    let client = crate::http::HttpClient::builder("notify")
        .timeout(Some(Duration::from_secs(30)))
        .build()
        .map_err(|e| ProviderError::fatal(e.to_string()).with_provider("notify"))?;
    let mut req = client.request(reqwest::Method::POST, url).json(body);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    client.send("webhook", req).await?;
    Ok(())
}

async fn exec(
    ctx: &Ctx,
    step: &str,
    argv: &[String],
    cwd: Option<&str>,
    env: &std::collections::BTreeMap<String, String>,
) -> R<String> {
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .envs(env)
        .env("DR_RUN_ID", &ctx.run_id)
        .env("DR_PLAN", &ctx.plan.name)
        .env("DR_STEP", step)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    // Its own process group, killed whole if the step times out, is stopped
    // hard, or `dr` dies (the child gets SIGKILL with its parent; what it left
    // behind is killed by `dr resume`).
    super::child::isolate(&mut cmd);
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot run `{}`: {e}", argv[0]))?;
    let mut group = super::child::GroupGuard::new(child.id());
    if let Some(pid) = child.id() {
        ctx.journal(Record::ChildSpawned {
            step: step.into(),
            pid,
        })
        .await?;
    }
    // An interrupt lets the command finish (it is a side effect in progress); a
    // hard stop or the step's timeout drops this future, and the guard kills
    // the group.
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| format!("cannot run `{}`: {e}", argv[0]))?;
    group.disarm();
    let tail = |b: &[u8]| {
        let s = String::from_utf8_lossy(b);
        let s = s.trim_end();
        let start = s
            .char_indices()
            .rev()
            .nth(2000)
            .map(|(i, _)| i)
            .unwrap_or(0);
        s[start..].to_string()
    };
    if out.status.success() {
        Ok(tail(&out.stdout))
    } else {
        Err(format!("command exited with {}: {}", out.status, tail(&out.stderr)).into())
    }
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
