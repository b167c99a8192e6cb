//! Watching: probe the active side, trigger the plan when it fails.
//!
//! A plan's `[plan.watch]` names the probes that tell whether the active side
//! is serving. [`watch`] probes them every `interval` (each probe bounded by
//! `timeout`; one that has not answered by then is unhealthy for that round)
//! and feeds each round to the [`Detector`], a pure state machine:
//! `healthy` → `suspect` (a failed round: at least `quorum` probes unhealthy)
//! → `failing` (`failure_threshold` failed rounds in a row), which triggers.
//! One passing round makes it `healthy` again, so isolated failures, a single
//! timeout and flapping never trigger. Detection time, from the first failed
//! probe of the streak to the trigger, is at most `interval ×
//! (failure_threshold − 1) + timeout`, within the bound `interval ×
//! failure_threshold + timeout` ([`detection_bound`]).
//!
//! On a trigger:
//! - a trigger less than `hold_down` after the previous one is held down (a
//!   [`WatchEvent::WatchHeldDown`]; if the side is still failing when the
//!   hold-down ends, the watch triggers then);
//! - while another run of the plan holds its lock, the trigger is refused
//!   ([`WatchEvent::WatchTriggerRefused`]), nothing runs, and the hold-down
//!   starts as if it had run: the run holding the lock is handling it;
//! - with `dry_run`, the trigger is reported and the watch goes on;
//! - `mode = "auto"` runs the plan through [`Executor::run`], exactly as
//!   `dr run` does (events, journal, audit, report, lock), and [`watch`]
//!   returns its outcome;
//! - `mode = "approve"` POSTs to every `notify` step's webhook of the plan,
//!   writes an approval request (see [`approval`]) and goes on probing until a
//!   person approves it (then runs the plan as in `auto`), or the side
//!   recovers (the request is withdrawn).
//!
//! The run options' cancel token (Ctrl-C, SIGTERM) stops the watch: [`watch`]
//! returns [`WatchEnd::Stopped`]. Once the plan runs, the same token
//! interrupts the run at its next safe point, as it does for `dr run`.
//!
//! Every `check_every`, the watch runs [`crate::check::check`] in the
//! background and reports [`WatchEvent::WatchCheck`]; [`metrics`] exports all
//! of it for Prometheus.

pub mod approval;
mod events;
mod machine;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::task::JoinHandle;
use tokio::time::{Interval, MissedTickBehavior};

pub use events::{ProbeDown, WatchEvent, WatchSink};
pub use machine::{Decision, Detection, Detector, Observation, Round, WatchState, detection_bound};
#[cfg(feature = "metrics")]
pub use metrics::WatchMetrics;

use crate::check;
use crate::executor::{ExecError, Executor, RunOptions, RunOutcome};
use crate::lock::{PlanLock, lock_dir};
use crate::plan::{Plan, StepAction, Watch, WatchMode};
use crate::{HealthStatus, format_duration};

/// How a watch is carried out.
#[derive(Clone)]
#[non_exhaustive]
pub struct WatchOptions {
    /// The options of the run a trigger starts; their `cancel` token also stops
    /// the watch.
    pub run: RunOptions,
    /// Decide and report triggers, run nothing, keep watching.
    pub dry_run: bool,
    /// Receives the watch's events (the run's go to `run.events`).
    pub events: Option<WatchSink>,
    /// Exported for Prometheus.
    #[cfg(feature = "metrics")]
    pub metrics: Option<Arc<WatchMetrics>>,
    /// Most probes in flight at once in a round (default 1024).
    pub max_concurrent_probes: usize,
    /// How often an approval request is looked at (default 200ms).
    pub approval_poll: Duration,
}

impl std::fmt::Debug for WatchOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchOptions")
            .field("run", &self.run)
            .field("dry_run", &self.dry_run)
            .field("max_concurrent_probes", &self.max_concurrent_probes)
            .finish_non_exhaustive()
    }
}

impl WatchOptions {
    /// Defaults around the run options `run`.
    pub fn new(run: RunOptions) -> Self {
        WatchOptions {
            run,
            dry_run: false,
            events: None,
            #[cfg(feature = "metrics")]
            metrics: None,
            max_concurrent_probes: 1024,
            approval_poll: Duration::from_millis(200),
        }
    }

    /// Sets `dry_run`.
    pub fn dry_run(mut self, yes: bool) -> Self {
        self.dry_run = yes;
        self
    }

    /// Sets the event sink.
    pub fn on_event(mut self, sink: impl Fn(&WatchEvent) + Send + Sync + 'static) -> Self {
        self.events = Some(Arc::new(sink));
        self
    }

    /// Exports to `metrics`.
    #[cfg(feature = "metrics")]
    pub fn with_metrics(mut self, metrics: Arc<WatchMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }
}

/// How a watch ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum WatchEnd {
    /// Stopped (cancel token) without running the plan.
    Stopped,
    /// It triggered and ran the plan: the run's result, as `dr run` has it.
    Ran(Box<Result<RunOutcome, ExecError>>),
}

/// Why a watch could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// The plan has no `[plan.watch]`.
    #[error("plan `{0}` has no `[plan.watch]` table: nothing to watch")]
    NoWatch(String),
    /// The plan was loaded with unset `${{env:..}}` variables.
    #[error(transparent)]
    Exec(#[from] ExecError),
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

struct Ctx {
    plan: Arc<Plan>,
    w: Watch,
    opts: WatchOptions,
}

impl Ctx {
    fn emit(&self, e: WatchEvent) {
        if let Some(sink) = &self.opts.events {
            sink(&e);
        }
    }

    /// `Err(message)` when another run holds (or left) the plan's lock.
    fn lock_free(&self) -> Result<(), String> {
        PlanLock::check(
            &lock_dir(&self.opts.run.state_dir, &self.plan),
            &self.plan.name,
        )
        .map_err(|e| e.to_string())
    }

    fn refuse(&self, message: String) {
        self.emit(WatchEvent::WatchTriggerRefused {
            reason: "locked",
            message,
        });
    }

    /// Runs the plan as `dr run` does; `None` when the lock was taken first.
    async fn run_plan(&self) -> Option<Result<RunOutcome, ExecError>> {
        if let Err(m) = self.lock_free() {
            self.refuse(m);
            return None;
        }
        let result = Executor::new((*self.plan).clone(), self.opts.run.clone())
            .run()
            .await;
        if let Err(ExecError::Locked(e)) = &result {
            self.refuse(e.to_string());
            return None;
        }
        Some(result)
    }

    /// One round: every probe at once (at most `max_concurrent_probes` in
    /// flight), each bounded by `timeout`.
    async fn round(&self) -> (Round, Vec<ProbeDown>) {
        let started = Instant::now();
        let started_at = Utc::now();
        let timeout = self.w.timeout;
        // Owned inputs, so the round's future is `Send + 'static`-friendly
        // (a watch may be spawned).
        let probes: Vec<(String, Option<Arc<dyn crate::HealthProbe>>)> = self
            .w
            .probes
            .iter()
            .map(|name| {
                let p = self.plan.resource(name).and_then(|r| r.probe()).cloned();
                (name.clone(), p)
            })
            .collect();
        let results = crate::concurrent::bounded(
            probes,
            self.opts.max_concurrent_probes,
            move |(name, probe)| probe_once(name, probe, timeout),
        )
        .await;
        let mut down = Vec::new();
        for (name, d, latency) in results {
            #[cfg(not(feature = "metrics"))]
            let _ = latency;
            #[cfg(feature = "metrics")]
            if let Some(m) = &self.opts.metrics {
                m.probe(&name, d.is_none(), latency);
            }
            if let Some((status, detail)) = d {
                down.push(ProbeDown {
                    status,
                    detail: self.plan.redactor().redact(&detail),
                    probe: name,
                });
            }
        }
        down.sort_by(|a, b| a.probe.cmp(&b.probe));
        let round = Round {
            started,
            started_at,
            ended: Instant::now(),
            ended_at: Utc::now(),
            unhealthy: down.len(),
        };
        (round, down)
    }

    /// POSTs the approval request to every `notify` step's webhook; how many answered.
    async fn notify(&self, pending: &approval::PendingApproval, approve_with: &str) -> usize {
        let mut sent = 0;
        let mut seen = std::collections::HashSet::new();
        for step in &self.plan.steps {
            let StepAction::Notify { url, headers, .. } = &step.action else {
                continue;
            };
            if !seen.insert(url.clone()) {
                continue;
            }
            let body = serde_json::json!({
                "plan": self.plan.name,
                "event": "watch_approval_needed",
                "requested_at": stamp(pending.requested_at),
                "text": format!(
                    "dr watch: plan `{}` is failing over; approve with `{approve_with}`",
                    self.plan.name
                ),
            });
            match crate::notify::notify(url, headers, &body).await {
                Ok(()) => sent += 1,
                Err(e) => self.emit(WatchEvent::WatchWarning {
                    message: self.plan.redactor().redact(&format!(
                        "could not notify the webhook of step `{}`: {e}",
                        step.id
                    )),
                }),
            }
        }
        sent
    }
}

/// One probe of a round, bounded by `timeout`: its name, why it is down
/// (`None` when up), and how long it took.
async fn probe_once(
    name: String,
    probe: Option<Arc<dyn crate::HealthProbe>>,
    timeout: Duration,
) -> (String, Option<(&'static str, String)>, Duration) {
    let t0 = Instant::now();
    let down = match probe {
        None => Some(("error", "probe not built".to_string())),
        Some(p) => match tokio::time::timeout(timeout, p.probe()).await {
            Ok(Ok(h)) if h.status != HealthStatus::Unhealthy => None,
            Ok(Ok(h)) => Some(("unhealthy", h.detail)),
            Ok(Err(e)) => Some(("error", e.to_string())),
            Err(_) => Some((
                "timeout",
                format!("no answer within {}", format_duration(timeout)),
            )),
        },
    };
    (name, down, t0.elapsed())
}

/// Watches `plan` until it triggers and runs (see the module docs), or until
/// `opts.run.cancel`.
pub async fn watch(plan: Plan, opts: WatchOptions) -> Result<WatchEnd, WatchError> {
    let mut watcher = Watcher::start(plan, opts)?;
    let end = watcher.run().await;
    watcher.stop();
    Ok(end)
}

/// A watch under way: the detector, the timers, the background check and the
/// approval request it waits for.
struct Watcher {
    ctx: Arc<Ctx>,
    /// The detection bound, reported with the start and every trigger.
    bound: Duration,
    detector: Detector,
    /// Probe rounds, every `interval`.
    rounds: Interval,
    /// Background checks, every `check_every`.
    checks: Interval,
    /// Looks at the approval request, every `approval_poll`.
    poll: Interval,
    /// The background check running, if any.
    checking: Option<JoinHandle<()>>,
    /// The approval request waiting for a person (`mode = "approve"`).
    pending: Option<approval::PendingApproval>,
    /// Rounds so far.
    n: u64,
}

impl Watcher {
    /// Checks that `plan` can be watched, reports the start and sets the timers.
    fn start(plan: Plan, opts: WatchOptions) -> Result<Watcher, WatchError> {
        let Some(w) = plan.watch.clone() else {
            return Err(WatchError::NoWatch(plan.name.clone()));
        };
        if !plan.unset_env.is_empty() {
            return Err(ExecError::UnsetEnv(plan.unset_env.clone()).into());
        }
        let ctx = Arc::new(Ctx {
            plan: Arc::new(plan),
            w,
            opts,
        });
        let w = &ctx.w;
        let bound = detection_bound(w);
        ctx.emit(WatchEvent::WatchStarted {
            plan: ctx.plan.name.clone(),
            probes: w.probes.clone(),
            interval_ms: ms(w.interval),
            timeout_ms: ms(w.timeout),
            failure_threshold: w.failure_threshold,
            quorum: w.quorum,
            hold_down_ms: ms(w.hold_down),
            mode: w.mode.as_str(),
            dry_run: ctx.opts.dry_run,
            bound_ms: ms(bound),
        });
        let detector = Detector::new(w);
        let mut rounds = tokio::time::interval(w.interval);
        rounds.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut checks = tokio::time::interval(w.check_every);
        checks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let poll = tokio::time::interval(ctx.opts.approval_poll);
        Ok(Watcher {
            ctx,
            bound,
            detector,
            rounds,
            checks,
            poll,
            checking: None,
            pending: None,
            n: 0,
        })
    }

    /// Probes, checks and looks at the approval request until the plan runs or
    /// the cancel token stops the watch.
    async fn run(&mut self) -> WatchEnd {
        let cancel = self.ctx.opts.run.cancel.clone();
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    self.ctx.emit(WatchEvent::WatchStopped { reason: "interrupted (SIGINT or SIGTERM)".into() });
                    return WatchEnd::Stopped;
                }
                _ = self.poll.tick(), if self.pending.is_some() => {
                    if let Some(end) = self.poll_approval().await {
                        return end;
                    }
                }
                _ = self.checks.tick() => self.check(),
                _ = self.rounds.tick() => {
                    if let Some(end) = self.round().await {
                        return end;
                    }
                }
            }
        }
    }

    /// Once the pending request is approved: withdraw it and run the plan.
    async fn poll_approval(&mut self) -> Option<WatchEnd> {
        let ctx = &self.ctx;
        let state_dir = &ctx.opts.run.state_dir;
        let p = self.pending.as_ref()?;
        if !approval::is_approved(state_dir, &ctx.plan.name, &p.token) {
            return None;
        }
        approval::withdraw(state_dir, &ctx.plan.name);
        self.pending = None;
        ctx.emit(WatchEvent::WatchApproved {
            message: "approved; running the plan".into(),
        });
        let result = ctx.run_plan().await?;
        Some(WatchEnd::Ran(Box::new(result)))
    }

    /// Starts `dr check` in the background, unless the previous one still runs.
    fn check(&mut self) {
        if self.checking.as_ref().is_none_or(|h| h.is_finished()) {
            let c = self.ctx.clone();
            self.checking = Some(tokio::spawn(async move {
                let findings = check::check(&c.plan).await;
                let ready = check::ready(&findings);
                #[cfg(feature = "metrics")]
                if let Some(m) = &c.opts.metrics {
                    m.set_ready(ready);
                }
                c.emit(WatchEvent::WatchCheck {
                    ready,
                    problems: findings.into_iter().filter(|f| !f.ok).collect(),
                });
            }));
        }
    }

    /// One round: probe, feed the detector, report, and act on its decision.
    async fn round(&mut self) -> Option<WatchEnd> {
        self.n += 1;
        let (round, mut down) = self.ctx.round().await;
        let obs = self.detector.observe(&round);
        down.truncate(10);
        self.ctx.emit(WatchEvent::WatchRound {
            round: self.n,
            failed: obs.failed,
            unhealthy: round.unhealthy,
            down,
            consecutive_failures: self.detector.consecutive_failures(),
            state: self.detector.state(),
            took_ms: ms(round.ended.saturating_duration_since(round.started)),
        });
        if let Some((from, to)) = obs.change {
            self.state_changed(from, to, &round);
        }
        match obs.decision {
            Decision::None => None,
            Decision::HeldDown { remaining } => {
                self.ctx.emit(WatchEvent::WatchHeldDown {
                    remaining_ms: ms(remaining),
                    message: format!(
                        "failing, but the last trigger was less than hold_down {} ago; \
                         no trigger for {} (then one, if still failing)",
                        format_duration(self.ctx.w.hold_down),
                        format_duration(remaining)
                    ),
                });
                None
            }
            Decision::Trigger(d) => self.trigger(d).await,
        }
    }

    /// The detector's state changed: report it; healthy again withdraws a
    /// pending approval request.
    fn state_changed(&mut self, from: WatchState, to: WatchState, round: &Round) {
        let ctx = &self.ctx;
        #[cfg(feature = "metrics")]
        if let Some(m) = &ctx.opts.metrics {
            m.set_state(to);
        }
        ctx.emit(WatchEvent::WatchState {
            state: to,
            previous: from,
            at: stamp(round.ended_at),
            consecutive_failures: self.detector.consecutive_failures(),
        });
        if to == WatchState::Healthy && self.pending.take().is_some() {
            approval::withdraw(&ctx.opts.run.state_dir, &ctx.plan.name);
            ctx.emit(WatchEvent::WatchApprovalWithdrawn {
                reason: "the watched side is healthy again".into(),
            });
        }
    }

    /// The detector triggered: report it; unless the plan is locked or this is
    /// a dry run, run the plan (`auto`) or ask for approval (`approve`).
    async fn trigger(&mut self, d: Detection) -> Option<WatchEnd> {
        let ctx = &self.ctx;
        #[cfg(feature = "metrics")]
        if let Some(m) = &ctx.opts.metrics {
            m.triggered();
        }
        ctx.emit(WatchEvent::WatchTriggered {
            plan: ctx.plan.name.clone(),
            first_failure_at: stamp(d.first_failure_at),
            triggered_at: stamp(d.decided_at),
            detection_ms: ms(d.detection),
            bound_ms: ms(self.bound),
            failed_rounds: d.failed_rounds,
            mode: ctx.w.mode.as_str(),
            dry_run: ctx.opts.dry_run,
        });
        if let Err(m) = ctx.lock_free() {
            ctx.refuse(m);
            return None;
        }
        if ctx.opts.dry_run {
            return None;
        }
        match ctx.w.mode {
            WatchMode::Auto => {
                let result = ctx.run_plan().await?;
                Some(WatchEnd::Ran(Box::new(result)))
            }
            WatchMode::Approve => {
                self.request_approval().await;
                None
            }
        }
    }

    /// Writes the approval request, POSTs it to the plan's webhooks and
    /// reports it; then waits for it.
    async fn request_approval(&mut self) {
        let ctx = &self.ctx;
        let state_dir = &ctx.opts.run.state_dir;
        match approval::request(state_dir, &ctx.plan.name) {
            Ok(p) => {
                let approve_with = format!(
                    "dr watch {} --approve-trigger --state-dir {}",
                    ctx.plan.source.name,
                    state_dir.display()
                );
                let notified = ctx.notify(&p, &approve_with).await;
                ctx.emit(WatchEvent::WatchApprovalNeeded {
                    plan: ctx.plan.name.clone(),
                    approve_with,
                    file: approval::pending_path(state_dir, &ctx.plan.name)
                        .display()
                        .to_string(),
                    notified,
                });
                self.pending = Some(p);
            }
            Err(e) => ctx.emit(WatchEvent::WatchWarning {
                message: format!("cannot write the approval request: {e}"),
            }),
        }
    }

    /// The watch ended: withdraw a pending approval request, stop the
    /// background check.
    fn stop(self) {
        if self.pending.is_some() {
            approval::withdraw(&self.ctx.opts.run.state_dir, &self.ctx.plan.name);
        }
        if let Some(h) = self.checking {
            h.abort();
        }
    }
}
