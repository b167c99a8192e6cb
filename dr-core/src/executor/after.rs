//! `[plan.after]`: after the last step of a run that succeeded, keep probing
//! the new side for a while. One round of every probe each `every`, from the
//! end of the last step until `for` has passed; a probe that is unhealthy,
//! errs or does not answer within `every` fails its round. The verdict is
//! `unhealthy` when any round failed, else `healthy`; `interrupted` when
//! Ctrl-C (the run's cancel token) ended the window before any round failed.
//! Nothing is undone and the run stays `succeeded`: the window only reports
//! (journal, events, report, a warning when unhealthy; the plan's `notify`
//! steps are not run again) and `dr run` exits 1 when it is unhealthy.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::context::Ctx;
use super::{Event, ExecError};
use crate::journal::{AfterFailure, Record};

/// How the `[plan.after]` window ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AfterStatus {
    /// Every probe was healthy in every round.
    Healthy,
    /// A probe was not healthy in at least one round.
    Unhealthy,
    /// Ctrl-C ended the window before any round failed.
    Interrupted,
}

impl AfterStatus {
    /// `healthy`, `unhealthy` or `interrupted`.
    pub fn as_str(self) -> &'static str {
        match self {
            AfterStatus::Healthy => "healthy",
            AfterStatus::Unhealthy => "unhealthy",
            AfterStatus::Interrupted => "interrupted",
        }
    }
}

/// How many probe failures the journal and report keep (the first ones): a
/// window of hours with a side that stays down would otherwise grow them
/// without bound.
const MAX_FAILURES: usize = 50;

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Runs the plan's `[plan.after]` window, if it has one (see the module docs).
pub(super) async fn window(ctx: &Ctx) -> Result<Option<AfterStatus>, ExecError> {
    let Some(after) = ctx.plan.after.clone() else {
        return Ok(None);
    };
    let (for_ms, every_ms) = (ms(after.window), ms(after.every));
    ctx.emit(Event::AfterStarted {
        probes: after.probes.clone(),
        for_ms,
        every_ms,
    });
    ctx.journal(Record::AfterStarted {
        probes: after.probes.clone(),
        for_ms,
        every_ms,
    })
    .await?;
    let probes: Vec<(String, Option<Arc<dyn crate::HealthProbe>>)> = after
        .probes
        .iter()
        .map(|n| {
            let p = ctx.plan.resource(n).and_then(|r| r.probe()).cloned();
            (n.clone(), p)
        })
        .collect();
    let cancel = ctx.opts.cancel.clone();
    let start = tokio::time::Instant::now();
    let end = start + after.window;
    let mut rounds: u32 = 0;
    let mut failures: Vec<AfterFailure> = Vec::new();
    let mut failed_rounds: u32 = 0;
    let mut interrupted = false;
    loop {
        let next = start + after.every * rounds;
        if next >= end {
            break;
        }
        tokio::select! {
            biased;
            _ = cancel.cancelled() => { interrupted = true; break; }
            _ = tokio::time::sleep_until(next) => {}
        }
        rounds += 1;
        let at = chrono::Utc::now();
        let round = futures::future::join_all(
            probes
                .iter()
                .map(|(n, p)| crate::probe::probe_once(n.clone(), p.clone(), after.every)),
        );
        let results = tokio::select! {
            biased;
            _ = cancel.cancelled() => { interrupted = true; break; }
            r = round => r,
        };
        let mut failed = Vec::new();
        for (probe, down, _) in results {
            if let Some((status, detail)) = down {
                failed.push(AfterFailure {
                    round: rounds,
                    at,
                    probe,
                    status: status.to_string(),
                    detail: ctx.redact(&detail),
                });
            }
        }
        if failed.is_empty() {
            continue;
        }
        failed_rounds += 1;
        if failed_rounds == 1 {
            // Said at once, not only when the window ends: the on-call engineer
            // is watching now.
            let first = &failed[0];
            ctx.emit(Event::Warning {
                step: None,
                message: format!(
                    "after the last step: the new side is unhealthy (round {rounds}, probe {}: {} {}); \
                     watching until the window ends, nothing is undone",
                    first.probe, first.status, first.detail
                ),
            });
        }
        // A long window of a side that stays down: the report keeps the first
        // failures and counts the rounds.
        let room = MAX_FAILURES.saturating_sub(failures.len());
        failures.extend(failed.into_iter().take(room));
    }
    if !interrupted {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => interrupted = true,
            _ = tokio::time::sleep_until(end) => {}
        }
    }
    let status = if !failures.is_empty() {
        AfterStatus::Unhealthy
    } else if interrupted {
        AfterStatus::Interrupted
    } else {
        AfterStatus::Healthy
    };
    if status == AfterStatus::Unhealthy {
        let mut named: Vec<&str> = failures.iter().map(|f| f.probe.as_str()).collect();
        named.sort_unstable();
        named.dedup();
        ctx.emit(Event::Warning {
            step: None,
            message: format!(
                "after the last step the new side was unhealthy in {} of {rounds} round(s) \
                 (probes: {}); nothing is undone and the plan's notify steps are not run again",
                failed_rounds,
                named.join(", ")
            ),
        });
    }
    ctx.journal(Record::AfterFinished {
        status: status.as_str().into(),
        rounds,
        failures: failures.clone(),
    })
    .await?;
    ctx.emit(Event::AfterFinished {
        status: status.as_str().into(),
        rounds,
        failures,
    });
    Ok(Some(status))
}
