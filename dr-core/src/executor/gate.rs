//! Health gates and safety rules.

use std::time::Duration;

use tokio::time::Instant;

use super::Event;
use super::context::Ctx;
use crate::plan::{Gate, Resource};
use crate::{Health, HealthStatus, TrafficSplit};

/// How long a gate waits when neither it nor its step says.
pub(crate) const DEFAULT_GATE_TIMEOUT: Duration = Duration::from_secs(600);

/// Probes once, bounded by a timeout; an error counts as "not healthy".
pub(crate) async fn probe_once(ctx: &Ctx, probe: &str) -> Health {
    let Some(p) = ctx.plan.resource(probe).and_then(Resource::probe) else {
        return Health::unhealthy(format!("probe `{probe}` is not available"));
    };
    match tokio::time::timeout(Duration::from_secs(60), p.probe()).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => Health::unhealthy(ctx.redact(&format!("probe failed: {e}"))),
        Err(_) => Health::unhealthy("probe did not answer within 60s"),
    }
}

/// Why a gate stopped holding without passing.
pub(crate) enum GateStop {
    /// It failed (unhealthy with fail-fast, or timed out).
    Failed(String),
    /// The run was interrupted.
    Interrupted,
}

impl From<String> for GateStop {
    fn from(s: String) -> Self {
        GateStop::Failed(s)
    }
}

/// Holds the gate until it is satisfied, polling through
/// [`poll::until`](crate::poll::until) (the one polling helper: deadline, last
/// look at the deadline, interrupt). With `fail_fast` (between traffic phases)
/// an `unhealthy` result fails the gate at once; otherwise it only resets the
/// count and the gate keeps polling until its deadline.
pub(crate) async fn hold(
    ctx: &Ctx,
    step: &str,
    gate: &Gate,
    fail_fast: bool,
    deadline: Instant,
) -> Result<(), GateStop> {
    use crate::poll::{Poll, PollError, until};
    use crate::{ErrorKind, ProviderError};

    let needed = gate.times.unwrap_or(1).max(1);
    // What the looks have seen so far (the closure's futures share it).
    struct Seen {
        consecutive: u32,
        healthy_since: Option<Instant>,
        last: Option<Health>,
    }
    let seen = std::sync::Mutex::new(Seen {
        consecutive: 0,
        healthy_since: None,
        last: None,
    });
    let look = || async {
        let h = probe_once(ctx, &gate.probe).await;
        let now = Instant::now();
        let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
        if h.status == HealthStatus::Healthy {
            s.consecutive += 1;
            s.healthy_since.get_or_insert(now);
        } else {
            s.consecutive = 0;
            s.healthy_since = None;
            if fail_fast && h.status == HealthStatus::Unhealthy {
                return Err(ProviderError::new(
                    ErrorKind::Fatal,
                    format!(
                        "gate: probe `{}` reported unhealthy{}",
                        gate.probe,
                        detail(&h)
                    ),
                ));
            }
        }
        let held_for = s.healthy_since.map(|t| now - t).unwrap_or_default();
        if s.consecutive >= needed && held_for >= gate.healthy_for.unwrap_or_default() {
            return Ok(Poll::Ready(()));
        }
        if now < deadline {
            ctx.emit(Event::GateWaiting {
                step: step.into(),
                probe: gate.probe.clone(),
                status: h.status.to_string(),
                consecutive: s.consecutive,
                needed,
                remaining_ms: (deadline - now).as_millis() as u64,
            });
        }
        s.last = Some(h);
        Ok(Poll::Pending)
    };
    let what = format!("gate on probe `{}`", gate.probe);
    match until(&what, deadline, gate.every, &ctx.opts.cancel, look).await {
        Ok(()) => {
            ctx.emit(Event::GatePassed {
                step: step.into(),
                probe: gate.probe.clone(),
            });
            Ok(())
        }
        Err(PollError::Cancelled { .. }) => Err(GateStop::Interrupted),
        Err(PollError::Failed(e)) => Err(GateStop::Failed(e.message().to_string())),
        Err(PollError::TimedOut(_)) => {
            let s = seen.lock().unwrap_or_else(|p| p.into_inner());
            let (status, why) = match &s.last {
                Some(h) => (h.status.to_string(), detail(h)),
                None => ("not answering".to_string(), String::new()),
            };
            Err(GateStop::Failed(format!(
                "gate timed out: probe `{}` was {status} ({}/{needed} consecutive healthy results){why}",
                gate.probe, s.consecutive
            )))
        }
    }
}

fn detail(h: &Health) -> String {
    if h.detail.is_empty() {
        String::new()
    } else {
        format!(": {}", h.detail)
    }
}

/// Checks the plan's safety rules for `split` on `router` (before or after a
/// traffic change). Targets without a linked probe are not judged.
pub(crate) async fn check_safety(
    ctx: &Ctx,
    router: &Resource,
    split: &TrafficSplit,
    when: &str,
) -> Result<(), String> {
    let rules = &ctx.plan.safety;
    if !rules.never_route_to_unhealthy && rules.min_healthy_targets == 0 {
        return Ok(());
    }
    let mut healthy = 0u32;
    for (target, weight) in split.iter() {
        let Some(probe) = router.health.get(target) else {
            healthy += 1;
            continue;
        };
        let h = probe_once(ctx, probe).await;
        if h.is_healthy() {
            healthy += 1;
        } else if rules.never_route_to_unhealthy {
            return Err(format!(
                "safety ({when} the change): refusing to route {weight}% to `{target}`: probe `{probe}` is {}{}",
                h.status,
                detail(&h)
            ));
        }
    }
    if healthy < rules.min_healthy_targets {
        return Err(format!(
            "safety ({when} the change): {healthy} healthy target(s) would carry traffic, min_healthy_targets is {}",
            rules.min_healthy_targets
        ));
    }
    Ok(())
}
