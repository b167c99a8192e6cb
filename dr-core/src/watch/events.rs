//! The events of a watch (`--json` prints one object per line).

use std::sync::Arc;

use serde::Serialize;

use super::WatchState;
use crate::check::Finding;

/// One thing a watch did or saw. Serialized with an `event` tag, one JSON
/// object per line, like the run's events (`{"event":"watch_state",..}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum WatchEvent {
    /// The watch began.
    WatchStarted {
        /// The plan's name.
        plan: String,
        /// The probes watched.
        probes: Vec<String>,
        /// Round interval.
        interval_ms: u64,
        /// Per-probe timeout.
        timeout_ms: u64,
        /// Failed rounds in a row that trigger.
        failure_threshold: u32,
        /// Unhealthy probes that fail a round.
        quorum: u32,
        /// Hold-down between triggers.
        hold_down_ms: u64,
        /// `auto` or `approve`.
        mode: &'static str,
        /// Decide and report only.
        dry_run: bool,
        /// The detection bound, `interval × failure_threshold + timeout`.
        bound_ms: u64,
    },
    /// One round of probes.
    WatchRound {
        /// Round number (1-based).
        round: u64,
        /// Whether at least `quorum` probes were unhealthy.
        failed: bool,
        /// How many probes were unhealthy, failed or timed out.
        unhealthy: usize,
        /// How many probes could not be attempted on this machine (out of
        /// file descriptors, ...): not counted as down.
        #[serde(skip_serializing_if = "is_zero")]
        unknown: usize,
        /// The round decided nothing: with the probes not attempted it might
        /// have failed, without them it would not have (see `watch_round_skipped`).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        skipped: bool,
        /// The first of them (at most 10), with what they said.
        down: Vec<ProbeDown>,
        /// Failed rounds in a row.
        consecutive_failures: u32,
        /// The state after the round.
        state: WatchState,
        /// How long the round took, first probe sent to last answer.
        took_ms: u64,
    },
    /// The state changed.
    WatchState {
        /// The new state.
        state: WatchState,
        /// The state before.
        previous: WatchState,
        /// When (end of the round that changed it).
        at: String,
        /// Failed rounds in a row.
        consecutive_failures: u32,
    },
    /// The watch decided to trigger the plan.
    WatchTriggered {
        /// The plan's name.
        plan: String,
        /// When the first failed probe of the failing streak was sent.
        first_failure_at: String,
        /// When the watch decided.
        triggered_at: String,
        /// `triggered_at - first_failure_at`, in milliseconds.
        detection_ms: u64,
        /// The contract's bound, `interval × failure_threshold + timeout`.
        bound_ms: u64,
        /// Failed rounds in the streak.
        failed_rounds: u32,
        /// `auto` or `approve`.
        mode: &'static str,
        /// With `--dry-run`: reported only, nothing runs, the watch goes on.
        dry_run: bool,
    },
    /// The side is failing, but the last trigger was less than `hold_down` ago.
    WatchHeldDown {
        /// Time left of the hold-down.
        remaining_ms: u64,
        /// What happens.
        message: String,
    },
    /// A round decided nothing: probes could not be attempted on this
    /// machine, so whether the side is down is unknown. The streak neither
    /// grows nor ends.
    WatchRoundSkipped {
        /// Round number (1-based).
        round: u64,
        /// The probes not attempted, with the local error.
        unknown: Vec<ProbeDown>,
        /// What happened.
        message: String,
    },
    /// A trigger ran nothing: the plan's lock is held (`locked`), left by a
    /// run that died (`stale_lock`), unreadable (`unreadable_lock`), or could
    /// not be looked at (`error`). No hold-down starts: the next failing round
    /// triggers again.
    WatchTriggerRefused {
        /// `locked`, `stale_lock`, `unreadable_lock`, `error`, or (under a
        /// shared coordination) `not_leader`.
        reason: &'static str,
        /// Who holds the lock, and what happens next.
        message: String,
    },
    /// `mode = "approve"`: the trigger waits for a person.
    WatchApprovalNeeded {
        /// The plan's name.
        plan: String,
        /// The command that approves it.
        approve_with: String,
        /// The request file (see [`approval`](super::approval)).
        file: String,
        /// Webhooks notified.
        notified: usize,
    },
    /// The trigger was approved; the plan runs.
    WatchApproved {
        /// Who approved, when known (the approval file's owner is not checked).
        message: String,
    },
    /// The approval request was withdrawn.
    WatchApprovalWithdrawn {
        /// Why (the side recovered).
        reason: String,
    },
    /// A readiness check (`dr check`) finished.
    WatchCheck {
        /// Whether every finding was ok.
        ready: bool,
        /// The findings that were not ok.
        problems: Vec<Finding>,
    },
    /// Something that needs attention and does not stop the watch (a webhook
    /// that failed).
    WatchWarning {
        /// The warning.
        message: String,
    },
    /// The watch stopped without running the plan (Ctrl-C, SIGTERM).
    WatchStopped {
        /// Why.
        reason: String,
    },
    /// Under a shared coordination: this instance became the leader, or
    /// stopped being it (also its first answer: `leader: false`).
    WatchLeader {
        /// This instance.
        instance: String,
        /// Whether it leads now.
        leader: bool,
    },
    /// Under a shared coordination: the leader found the side failing but too
    /// few live instances saw it fail in the same window: no trigger.
    WatchWitnesses {
        /// The instances that saw it fail.
        seen: Vec<String>,
        /// `[plan.watch] witnesses`.
        needed: u32,
        /// What happens next.
        message: String,
    },
    /// The leader took over a run no live process carried (its leader died or
    /// lost its lease) and resumes it.
    RunTakenOver {
        /// The run.
        run_id: String,
        /// Who carried it.
        from: String,
        /// This instance.
        to: String,
        /// From the run's last journal entry to the takeover.
        after_ms: u64,
    },
}

/// A probe that was not up in a round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeDown {
    /// The probe resource.
    pub probe: String,
    /// `unhealthy`, `error`, `timeout`, or `unknown` (not attempted on this machine).
    pub status: &'static str,
    /// What it said (redacted).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// Receives a watch's events.
pub type WatchSink = Arc<dyn Fn(&WatchEvent) + Send + Sync>;

fn is_zero(n: &usize) -> bool {
    *n == 0
}
