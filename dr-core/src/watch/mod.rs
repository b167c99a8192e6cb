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
//! A probe that could not be attempted on this machine (out of file
//! descriptors, see [`crate::local_resource_error`]) says nothing about the
//! target: it is `unknown`, not down. A round that would fail only by counting
//! such probes is skipped ([`WatchEvent::WatchRoundSkipped`]): the streak
//! neither grows nor ends.
//!
//! On a trigger:
//! - a trigger less than `hold_down` after the previous one is held down (a
//!   [`WatchEvent::WatchHeldDown`]; if the side is still failing when the
//!   hold-down ends, the watch triggers then). The previous trigger is this
//!   watch's or that of any other watch of the plan: before it runs the plan,
//!   a watch claims the trigger in a record shared through the state dir
//!   ([`hold`]);
//! - while the plan's lock is held, stale or unreadable, the trigger is
//!   refused ([`WatchEvent::WatchTriggerRefused`], a metric, the plan's
//!   webhooks once per failing streak), nothing runs and no hold-down starts:
//!   the next failing round triggers again (after the operator removed a
//!   stale lock, say). When a live run held the lock and has ended while the
//!   side was still failing, that run handled the outage: the hold-down
//!   counts from then;
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
//! Every `check_every`, the watch runs [`crate::check::check_in`] in the
//! background and reports [`WatchEvent::WatchCheck`]; [`metrics`] exports all
//! of it for Prometheus.

pub mod approval;
mod events;
pub mod hold;
mod machine;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
pub mod peers;

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
use crate::format_duration;
use crate::lock::LockError;
use crate::plan::{Plan, StepAction, Watch, WatchMode};
use crate::probe::probe_once;
use hold::{Claim, TriggerLog, TriggerRecord};
use peers::{Peers, Sighting};

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
    /// Where the watches of the plan share its last trigger (default: the
    /// state dir, [`hold::StateDirTriggers`]; with `peers`, theirs).
    pub triggers: Option<Arc<dyn TriggerLog>>,
    /// The other instances of this watch (a shared coordination, with
    /// `--instance`): see [`peers`]. `None`: this watch is alone.
    pub peers: Option<Arc<dyn Peers>>,
    /// What a leader needs to take over a run no live process carries (the
    /// providers, and where `${env:..}` comes from). Without it a leader only
    /// reports such a run.
    pub takeover: Option<Takeover>,
}

/// What a leading watch needs to resume another instance's run.
#[derive(Clone)]
pub struct Takeover {
    /// The providers.
    pub registry: Arc<crate::Registry>,
    /// Plan load options.
    pub load: crate::LoadOptions,
}

impl std::fmt::Debug for Takeover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Takeover").finish_non_exhaustive()
    }
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
            triggers: None,
            peers: None,
            takeover: None,
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
    /// The plan's name, file and digest (approval requests).
    plan_ref: approval::PlanRef,
    w: Watch,
    opts: WatchOptions,
    triggers: Arc<dyn TriggerLog>,
}

/// Why a trigger ran nothing.
struct Refusal {
    /// `locked`, `stale_lock`, `unreadable_lock`, `error`.
    reason: &'static str,
    message: String,
    /// The live run holding the lock, which may be handling the outage.
    live_holder: Option<String>,
}

impl Refusal {
    fn of(e: &LockError) -> Refusal {
        let (reason, live_holder) = match e {
            LockError::Held { holder, .. } => ("locked", Some(holder.run_id.clone())),
            LockError::Stale { .. } => ("stale_lock", None),
            LockError::Unreadable { .. } => ("unreadable_lock", None),
            _ => ("error", None),
        };
        let next = if live_holder.is_some() {
            "nothing runs; no hold-down starts: the next failing round tries again, and if \
             that run ends while the side is still failing, the hold-down counts from its end"
        } else {
            "NOTHING RUNS and nobody is handling the outage; no hold-down starts: the next \
             failing round triggers again once the lock is cleared"
        };
        Refusal {
            reason,
            message: format!("{e}; {next}"),
            live_holder,
        }
    }
}

impl Ctx {
    fn emit(&self, e: WatchEvent) {
        if let Some(sink) = &self.opts.events {
            sink(&e);
        }
    }

    /// `Err` when another run holds (or left) the plan's lock.
    async fn lock_free(&self) -> Result<(), LockError> {
        self.opts.run.coordination().check_lock(&self.plan).await
    }

    /// One round: every probe at once (at most `max_concurrent_probes` in
    /// flight), each bounded by `timeout`.
    async fn round(&self) -> (Round, Vec<ProbeDown>, Vec<ProbeDown>) {
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
        let mut unknown = Vec::new();
        for (name, d, latency) in results {
            #[cfg(not(feature = "metrics"))]
            let _ = latency;
            #[cfg(feature = "metrics")]
            if let Some(m) = &self.opts.metrics
                && d.as_ref().is_none_or(|(status, _)| *status != "unknown")
            {
                m.probe(&name, d.is_none(), latency);
            }
            if let Some((status, detail)) = d {
                let p = ProbeDown {
                    status,
                    detail: self.plan.redactor().redact(&detail),
                    probe: name,
                };
                if status == "unknown" {
                    unknown.push(p);
                } else {
                    down.push(p);
                }
            }
        }
        // Probes that swallowed a local error into `unhealthy`: when this
        // machine cannot open a socket now, none of the round's failures says
        // anything about the target.
        if down.len() >= self.w.quorum as usize
            && let Err(e) = local_headroom()
        {
            for mut p in down.drain(..) {
                p.status = "unknown";
                p.detail = format!("{} (this machine cannot open a socket: {e})", p.detail);
                unknown.push(p);
            }
        }
        down.sort_by(|a, b| a.probe.cmp(&b.probe));
        unknown.sort_by(|a, b| a.probe.cmp(&b.probe));
        let round = Round {
            started,
            started_at,
            ended: Instant::now(),
            ended_at: Utc::now(),
            unhealthy: down.len(),
        };
        (round, down, unknown)
    }

    /// POSTs the approval request to every `notify` step's webhook; how many answered.
    async fn notify(&self, pending: &approval::PendingApproval, approve_with: &str) -> usize {
        self.notify_all(
            "watch_approval_needed",
            pending.requested_at,
            format!(
                "dr watch: plan `{}` is failing over; approve with `{approve_with}`",
                self.plan.name
            ),
        )
        .await
    }

    /// POSTs `{plan, event, requested_at, text, delivery_id}` to every
    /// `notify` step's webhook of the plan; how many answered. The delivery id
    /// (also in `Idempotency-Key`) is derived from the plan, the event and its
    /// time, so a watch restarted on a pending request sends the same one.
    async fn notify_all(&self, event: &str, at: DateTime<Utc>, text: String) -> usize {
        let mut sent = 0;
        let mut seen = std::collections::HashSet::new();
        for step in &self.plan.steps {
            let StepAction::Notify { url, headers, .. } = &step.action else {
                continue;
            };
            if !seen.insert(url.clone()) {
                continue;
            }
            let delivery = crate::notify::notify_delivery_id(
                &format!("watch {} {}", self.plan.name, stamp(at)),
                &format!("{event} {}", step.id),
            );
            let body = serde_json::json!({
                "plan": self.plan.name,
                "event": event,
                "requested_at": stamp(at),
                "text": text,
                "delivery_id": delivery,
            });
            match crate::notify::notify(url, headers, &body, &delivery).await {
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

/// `Err` when this machine cannot open a socket now for a local reason (out
/// of file descriptors, ...).
fn local_headroom() -> Result<(), std::io::Error> {
    match std::net::UdpSocket::bind(("127.0.0.1", 0)) {
        Err(e) if crate::is_local_resource_error(&e) => Err(e),
        _ => Ok(()),
    }
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
    /// The live run that held the lock when a trigger of this failing streak
    /// was refused: once it has ended, it handled the outage.
    deferred_to: Option<String>,
    /// Refusal reasons already sent to the webhooks in this failing streak.
    refusals_notified: std::collections::HashSet<&'static str>,
    /// Rounds so far.
    n: u64,
    /// Under a shared coordination: whether this instance led at its last
    /// round (`None` before the first).
    leader: Option<bool>,
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
        let triggers = opts
            .triggers
            .clone()
            .or_else(|| opts.peers.as_ref().map(|p| p.triggers()))
            .unwrap_or_else(|| {
                Arc::new(hold::StateDirTriggers::new(&opts.run.state_dir)) as Arc<dyn TriggerLog>
            });
        let ctx = Arc::new(Ctx {
            plan_ref: approval::PlanRef::of(&plan),
            plan: Arc::new(plan),
            w,
            opts,
            triggers,
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
            deferred_to: None,
            refusals_notified: Default::default(),
            n: 0,
            leader: None,
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
        let ctx = self.ctx.clone();
        let state_dir = &ctx.opts.run.state_dir;
        let p = self.pending.as_ref()?;
        if !approval::is_approved(state_dir, &ctx.plan_ref, p) {
            return None;
        }
        approval::withdraw(state_dir, &ctx.plan_ref);
        self.pending = None;
        ctx.emit(WatchEvent::WatchApproved {
            message: "approved; running the plan".into(),
        });
        let result = self.run_plan().await?;
        Some(WatchEnd::Ran(Box::new(result)))
    }

    /// Starts `dr check` in the background, unless the previous one still runs.
    fn check(&mut self) {
        if self.checking.as_ref().is_none_or(|h| h.is_finished()) {
            let c = self.ctx.clone();
            self.checking = Some(tokio::spawn(async move {
                let findings = check::check_in(&c.plan, &c.opts.run.state_dir).await;
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
        let (round, mut down, mut unknown) = self.ctx.round().await;
        let quorum = self.ctx.w.quorum as usize;
        if !unknown.is_empty()
            && round.unhealthy < quorum
            && round.unhealthy + unknown.len() >= quorum
        {
            return self.skip(&round, down, unknown);
        }
        let obs = self.detector.observe(&round);
        if !obs.failed {
            self.deferred_to = None;
            self.refusals_notified.clear();
        }
        down.truncate(10);
        unknown.truncate(10);
        self.ctx.emit(WatchEvent::WatchRound {
            round: self.n,
            failed: obs.failed,
            unhealthy: round.unhealthy,
            unknown: unknown.len(),
            skipped: false,
            down,
            consecutive_failures: self.detector.consecutive_failures(),
            state: self.detector.state(),
            took_ms: ms(round.ended.saturating_duration_since(round.started)),
        });
        if let Some((from, to)) = obs.change {
            self.state_changed(from, to, &round);
        }
        if let Some(end) = self.share(obs.failed, &round).await {
            return Some(end);
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

    /// Under a shared coordination: publishes this round, campaigns for the
    /// leadership, and, leading, takes over a run no live process carries.
    async fn share(&mut self, failed: bool, round: &Round) -> Option<WatchEnd> {
        let ctx = self.ctx.clone();
        let peers = ctx.opts.peers.as_ref()?;
        let sighting = Sighting {
            instance: peers.instance().to_string(),
            host: crate::lock::host(),
            failed,
            state: self.detector.state(),
            at: round.ended_at,
        };
        if let Err(e) = peers.publish(&sighting).await {
            ctx.emit(WatchEvent::WatchWarning {
                message: format!("cannot publish this round to the other instances: {e}"),
            });
        }
        let leader = match peers.lead().await {
            Ok(l) => l,
            Err(e) => {
                ctx.emit(WatchEvent::WatchWarning {
                    message: format!(
                        "cannot tell who leads ({e}): this instance does not trigger until it can"
                    ),
                });
                false
            }
        };
        if self.leader != Some(leader) {
            self.leader = Some(leader);
            ctx.emit(WatchEvent::WatchLeader {
                instance: peers.instance().to_string(),
                leader,
            });
        }
        if !leader || ctx.opts.dry_run {
            return None;
        }
        let orphans = match peers.orphans().await {
            Ok(o) => o,
            Err(e) => {
                ctx.emit(WatchEvent::WatchWarning {
                    message: format!("cannot look for runs left without a leader: {e}"),
                });
                return None;
            }
        };
        let orphan = orphans.into_iter().next()?;
        let Some(takeover) = ctx.opts.takeover.clone() else {
            ctx.emit(WatchEvent::WatchWarning {
                message: format!(
                    "run {} of plan `{}` is left without a process (last carried by {}); \
                     this watch cannot resume it: `dr resume {}`",
                    orphan.run_id, ctx.plan.name, orphan.from, orphan.run_id
                ),
            });
            return None;
        };
        let after = (Utc::now() - orphan.last_entry_at)
            .to_std()
            .unwrap_or_default();
        ctx.emit(WatchEvent::RunTakenOver {
            run_id: orphan.run_id.clone(),
            from: orphan.from.clone(),
            to: peers.instance().to_string(),
            after_ms: ms(after),
        });
        let result = Executor::resume_with(
            &takeover.registry,
            &orphan.run_id,
            ctx.opts.run.clone(),
            &takeover.load,
        )
        .await;
        if let Err(ExecError::Locked(e)) = &result {
            // Another instance (or an operator) got there first.
            ctx.emit(WatchEvent::WatchWarning {
                message: format!("run {} was not taken over: {e}", orphan.run_id),
            });
            return None;
        }
        Some(WatchEnd::Ran(Box::new(result)))
    }

    /// Under a shared coordination, whether this trigger may go on: only the
    /// leader triggers, and only with enough witnesses.
    async fn may_trigger(&mut self) -> bool {
        let ctx = self.ctx.clone();
        let Some(peers) = ctx.opts.peers.as_ref() else {
            return true;
        };
        if self.leader != Some(true) {
            self.detector.trigger_refused();
            ctx.emit(WatchEvent::WatchTriggerRefused {
                reason: "not_leader",
                message: format!(
                    "instance `{}` sees the side failing but does not lead: the leader decides",
                    peers.instance()
                ),
            });
            return false;
        }
        let needed = ctx.w.witnesses;
        let window = ctx.w.interval * 2 + ctx.w.timeout;
        let seen = match peers.sightings().await {
            Ok(all) => peers::witnesses(&all, Utc::now(), window),
            Err(e) => {
                ctx.emit(WatchEvent::WatchWarning {
                    message: format!("cannot read what the other instances see: {e}"),
                });
                Vec::new()
            }
        };
        if (seen.len() as u64) < u64::from(needed) {
            self.detector.trigger_refused();
            ctx.emit(WatchEvent::WatchWitnesses {
                message: format!(
                    "{} of the {needed} witnesses needed saw the side failing within {}: no \
                     trigger (a watcher's own network may be what failed); the next failing \
                     round asks again",
                    seen.len(),
                    format_duration(window)
                ),
                seen,
                needed,
            });
            return false;
        }
        true
    }

    /// A round that decided nothing: some probes could not be attempted here.
    fn skip(
        &mut self,
        round: &Round,
        mut down: Vec<ProbeDown>,
        mut unknown: Vec<ProbeDown>,
    ) -> Option<WatchEnd> {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.ctx.opts.metrics {
            m.skipped();
        }
        let n_unknown = unknown.len();
        down.truncate(10);
        unknown.truncate(10);
        self.ctx.emit(WatchEvent::WatchRound {
            round: self.n,
            failed: false,
            unhealthy: round.unhealthy,
            unknown: n_unknown,
            skipped: true,
            down,
            consecutive_failures: self.detector.consecutive_failures(),
            state: self.detector.state(),
            took_ms: ms(round.ended.saturating_duration_since(round.started)),
        });
        self.ctx.emit(WatchEvent::WatchRoundSkipped {
            round: self.n,
            message: format!(
                "round {} skipped: {n_unknown} probe(s) could not be attempted on this machine \
                 ({}); that says nothing about the target, so the round neither fails nor \
                 passes. Free local resources (file descriptors) or the watch stays blind",
                self.n,
                unknown
                    .first()
                    .map(|p| format!("{}: {}", p.probe, p.detail))
                    .unwrap_or_default()
            ),
            unknown,
        });
        None
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
            approval::withdraw(&ctx.opts.run.state_dir, &ctx.plan_ref);
            ctx.emit(WatchEvent::WatchApprovalWithdrawn {
                reason: "the watched side is healthy again".into(),
            });
        }
    }

    /// The detector triggered: unless another watch of the plan triggered
    /// less than `hold_down` ago, report it; unless the plan is locked or this
    /// is a dry run, run the plan (`auto`) or ask for approval (`approve`).
    async fn trigger(&mut self, d: Detection) -> Option<WatchEnd> {
        let ctx = self.ctx.clone();
        if !self.may_trigger().await {
            return None;
        }
        match ctx.triggers.last(&ctx.plan.name) {
            Ok(Some(rec)) => {
                if let Some(remaining) = rec.remaining(ctx.w.hold_down, Utc::now()) {
                    self.held_elsewhere(&rec, remaining);
                    return None;
                }
            }
            Ok(None) => {}
            Err(e) => ctx.emit(WatchEvent::WatchWarning {
                message: format!("cannot read the plan's last trigger (shared hold-down): {e}"),
            }),
        }
        if let Some(run_id) = &self.deferred_to
            && ctx.lock_free().await.is_ok()
        {
            // The live run that held the lock during this outage has ended:
            // it handled it.
            self.detector.triggered_elsewhere(Instant::now());
            ctx.emit(WatchEvent::WatchHeldDown {
                remaining_ms: ms(ctx.w.hold_down),
                message: format!(
                    "failing, but run {run_id}, which held the plan's lock during this outage, \
                     has ended: it handled it; no trigger for hold_down {} (then one, if still failing)",
                    format_duration(ctx.w.hold_down)
                ),
            });
            self.deferred_to = None;
            return None;
        }
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
        if !ctx.opts.dry_run {
            let text = format!(
                "dr watch: plan `{}` triggered after {} failed round(s) (first failure at {})",
                ctx.plan.name,
                d.failed_rounds,
                stamp(d.first_failure_at)
            );
            let undelivered = crate::notify::send_plan_event(
                &ctx.plan,
                None,
                &format!("watch {} {}", ctx.plan.name, stamp(d.decided_at)),
                0,
                crate::plan::NotifyEvent::WatchTriggered,
                &text,
                serde_json::json!({
                    "first_failure_at": stamp(d.first_failure_at),
                    "failed_rounds": d.failed_rounds,
                    "mode": ctx.w.mode.as_str(),
                }),
            )
            .await;
            for u in undelivered {
                ctx.emit(WatchEvent::WatchWarning {
                    message: format!(
                        "could not notify {} of `watch_triggered`: {}",
                        u.target, u.error
                    ),
                });
            }
        }
        if let Err(e) = ctx.lock_free().await {
            self.refused(&e).await;
            return None;
        }
        if ctx.opts.dry_run {
            return None;
        }
        match ctx.w.mode {
            WatchMode::Auto => {
                let result = self.run_plan().await?;
                Some(WatchEnd::Ran(Box::new(result)))
            }
            WatchMode::Approve => {
                self.request_approval().await;
                None
            }
        }
    }

    /// Another watch of the plan triggered it `remaining` short of
    /// `hold_down` ago: held down from then.
    fn held_elsewhere(&mut self, rec: &TriggerRecord, remaining: Duration) {
        let ago = self.ctx.w.hold_down.saturating_sub(remaining);
        let now = Instant::now();
        self.detector
            .triggered_elsewhere(now.checked_sub(ago).unwrap_or(now));
        let me = rec.pid == std::process::id() && rec.host == crate::lock::host();
        self.ctx.emit(WatchEvent::WatchHeldDown {
            remaining_ms: ms(remaining),
            message: format!(
                "failing, but {} triggered plan `{}` at {}, less than hold_down {} ago; \
                 no trigger for {} (then one, if still failing)",
                if me {
                    "this watch".to_string()
                } else {
                    format!("the watch pid {} on {}", rec.pid, rec.host)
                },
                rec.plan,
                stamp(rec.triggered_at),
                format_duration(self.ctx.w.hold_down),
                format_duration(remaining)
            ),
        });
    }

    /// A trigger ran nothing: no hold-down; said as an event, a metric and,
    /// once per failing streak and reason, to the plan's webhooks.
    async fn refused(&mut self, e: &LockError) {
        let ctx = self.ctx.clone();
        let r = Refusal::of(e);
        self.detector.trigger_refused();
        if let Some(run_id) = r.live_holder {
            self.deferred_to = Some(run_id);
        }
        #[cfg(feature = "metrics")]
        if let Some(m) = &ctx.opts.metrics {
            m.refused(r.reason);
        }
        let message = ctx.plan.redactor().redact(&r.message);
        ctx.emit(WatchEvent::WatchTriggerRefused {
            reason: r.reason,
            message: message.clone(),
        });
        if self.refusals_notified.insert(r.reason) {
            ctx.notify_all(
                "watch_trigger_refused",
                Utc::now(),
                format!(
                    "dr watch: plan `{}` is failing, but its trigger was refused: {message}",
                    ctx.plan.name
                ),
            )
            .await;
        }
    }

    /// Runs the plan as `dr run` does, once the trigger is claimed in the
    /// shared record; `None` when it was held down or refused.
    async fn run_plan(&mut self) -> Option<Result<RunOutcome, ExecError>> {
        let ctx = self.ctx.clone();
        if let Err(e) = ctx.lock_free().await {
            self.refused(&e).await;
            return None;
        }
        match ctx
            .triggers
            .claim(&TriggerRecord::now(&ctx.plan.name), ctx.w.hold_down)
        {
            Ok(Claim::Won) => {}
            Ok(Claim::Held(rec)) => {
                let remaining = rec
                    .remaining(ctx.w.hold_down, Utc::now())
                    .unwrap_or(Duration::ZERO);
                self.held_elsewhere(&rec, remaining);
                return None;
            }
            Err(e) => ctx.emit(WatchEvent::WatchWarning {
                message: format!(
                    "cannot record this trigger for the other watches of the plan \
                     (shared hold-down): {e}; running the plan anyway"
                ),
            }),
        }
        let result = Executor::new((*ctx.plan).clone(), ctx.opts.run.clone())
            .run()
            .await;
        if let Err(ExecError::Locked(e)) = &result {
            self.refused(e).await;
            return None;
        }
        Some(result)
    }

    /// Writes the approval request, POSTs it to the plan's webhooks and
    /// reports it; then waits for it.
    async fn request_approval(&mut self) {
        let ctx = &self.ctx;
        let state_dir = &ctx.opts.run.state_dir;
        match approval::request(state_dir, &ctx.plan_ref) {
            Ok(p) => {
                let approve_with = format!(
                    "dr watch {} --approve-trigger --state-dir {}",
                    ctx.plan_ref.path,
                    state_dir.display()
                );
                let notified = ctx.notify(&p, &approve_with).await;
                ctx.emit(WatchEvent::WatchApprovalNeeded {
                    plan: ctx.plan.name.clone(),
                    approve_with,
                    file: approval::pending_path(state_dir, &ctx.plan_ref)
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
            approval::withdraw(&self.ctx.opts.run.state_dir, &self.ctx.plan_ref);
        }
        if let Some(h) = self.checking {
            h.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::executor::RunStatus;
    use crate::{LoadOptions, Registry};

    /// A plan whose watched side is down (a `sim.probe`), triggering after
    /// one failed round, with an hour of hold-down.
    fn down_plan(dir: &std::path::Path) -> Plan {
        let text = r#"
[plan]
name = "eu/api"

[plan.watch]
probes = ["east"]
interval = "10ms"
failure_threshold = 1
hold_down = "1h"

[resources.east]
provider = "sim.probe"
healthy = false

[[steps]]
id = "w"
action = "wait"
duration = "1ms"
"#;
        let path = dir.join("p.toml");
        std::fs::write(&path, text).unwrap();
        Plan::parse(
            &path.display().to_string(),
            text,
            &Registry::with_builtins(),
            &LoadOptions::default(),
        )
        .unwrap()
    }

    /// Watches `plan` with the state dir `sd`; `on` sees each event with the
    /// number of rounds so far and says whether to stop the watch.
    async fn watch_until(
        plan: Plan,
        sd: &std::path::Path,
        on: impl Fn(&WatchEvent, u64) -> bool + Send + Sync + 'static,
    ) -> (WatchEnd, Vec<WatchEvent>) {
        let cancel = CancellationToken::new();
        let events = Arc::new(Mutex::new(Vec::new()));
        let (seen, stop) = (events.clone(), cancel.clone());
        let rounds = std::sync::atomic::AtomicU64::new(0);
        let opts = WatchOptions::new(RunOptions::new(sd).with_cancel(cancel)).on_event(move |e| {
            if matches!(e, WatchEvent::WatchRound { .. }) {
                rounds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            seen.lock().unwrap().push(e.clone());
            if on(e, rounds.load(std::sync::atomic::Ordering::Relaxed)) {
                stop.cancel();
            }
        });
        let end = watch(plan, opts).await.unwrap();
        let events = events.lock().unwrap().clone();
        (end, events)
    }

    fn count(events: &[WatchEvent], f: impl Fn(&WatchEvent) -> bool) -> usize {
        events.iter().filter(|e| f(e)).count()
    }

    #[tokio::test]
    async fn a_second_watch_of_the_plan_is_held_down_by_the_first_ones_trigger() {
        let dir = tempfile::tempdir().unwrap();
        let sd = dir.path().join("sd");
        // The first watch triggers and runs the plan; its run ends.
        let (end, _) = watch_until(down_plan(dir.path()), &sd, |_, n| n > 50).await;
        let WatchEnd::Ran(r) = end else {
            panic!("the first watch did not run the plan: {end:?}")
        };
        assert_eq!(r.as_ref().as_ref().unwrap().status, RunStatus::Succeeded);
        // A second watch (restarted, or the other of a pair) of the same
        // plan and state dir, same outage: the lock is free, but the
        // hold-down is shared.
        let (end, events) = watch_until(down_plan(dir.path()), &sd, |e, n| {
            matches!(
                e,
                WatchEvent::WatchHeldDown { .. } | WatchEvent::WatchTriggered { .. }
            ) || n > 50
        })
        .await;
        assert!(matches!(end, WatchEnd::Stopped), "ran again: {end:?}");
        assert_eq!(
            count(&events, |e| matches!(e, WatchEvent::WatchTriggered { .. })),
            0,
            "{events:#?}"
        );
        let held = events
            .iter()
            .find_map(|e| match e {
                WatchEvent::WatchHeldDown { message, .. } => Some(message.clone()),
                _ => None,
            })
            .expect("held down");
        assert!(held.contains("triggered plan `eu/api`"), "{held}");
    }

    #[tokio::test]
    async fn a_stale_lock_refuses_the_trigger_without_a_hold_down_and_the_next_round_triggers() {
        let dir = tempfile::tempdir().unwrap();
        let sd = dir.path().join("sd");
        let plan = down_plan(dir.path());
        // A lock left by a run whose process is gone.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let lock = crate::lock::lock_dir(&sd, &plan)
            .join(format!("{}.lock", crate::state::file_stem("eu/api")));
        std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
        let holder = crate::lock::LockHolder {
            run_id: "20260101T000000Z-dead".into(),
            pid: dead,
            host: crate::lock::host(),
            started_at: Utc::now(),
            token: "t".into(),
        };
        std::fs::write(&lock, serde_json::to_vec(&holder).unwrap()).unwrap();
        let removed = lock.clone();
        // The operator removes the lock as told, when told.
        let (end, events) = watch_until(plan, &sd, move |e, n| {
            if matches!(e, WatchEvent::WatchTriggerRefused { .. }) {
                let _ = std::fs::remove_file(&removed);
            }
            n > 50
        })
        .await;
        let refused: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                WatchEvent::WatchTriggerRefused { reason, message } => Some((*reason, message)),
                _ => None,
            })
            .collect();
        assert_eq!(refused.len(), 1, "{events:#?}");
        assert_eq!(refused[0].0, "stale_lock");
        assert!(refused[0].1.contains("no hold-down"), "{}", refused[0].1);
        let WatchEnd::Ran(r) = end else {
            panic!("the lock was cleared, the side still down, and nothing ran: {events:#?}")
        };
        assert_eq!(r.as_ref().as_ref().unwrap().status, RunStatus::Succeeded);
        assert_eq!(
            count(&events, |e| matches!(e, WatchEvent::WatchHeldDown { .. })),
            0
        );
    }

    #[test]
    fn a_probe_error_from_a_local_resource_is_recognized_through_its_sources() {
        // EMFILE, "too many open files" (24 on Linux and the BSDs).
        let emfile = std::io::Error::from_raw_os_error(24);
        let e =
            crate::ProviderError::new(crate::ErrorKind::Transient, "connect").with_source(emfile);
        assert!(crate::local_resource_error(&e).is_some());
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let e =
            crate::ProviderError::new(crate::ErrorKind::Transient, "connect").with_source(refused);
        assert!(crate::local_resource_error(&e).is_none());
    }
}
