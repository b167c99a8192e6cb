//! `traffic.set` and `traffic.shift`: capture the split, journal, apply phase by
//! phase with safety rules and gates, verify by reading back.

use serde_json::json;

use super::Fail;
use super::{R, StepRun, Wrap, captured, deadline_after, started};
use crate::executor::Event;
use crate::executor::context::Ctx;
use crate::executor::gate::{self, DEFAULT_GATE_TIMEOUT};
use crate::journal::Record;
use crate::plan::Gate;
use crate::retry::Retrying;
use crate::{TrafficRouter, TrafficSplit};
use serde_json::Value;

pub(super) async fn set(
    s: &mut StepRun<'_>,
    router: &str,
    split: &TrafficSplit,
    scope: &Option<String>,
) -> R<()> {
    let ctx = s.ctx;
    let step = s.step;
    let w = s.w;
    let res = &mut *s.res;
    let scope = scope.as_deref();
    let r = w.router(ctx, router)?;
    let now = r.current(scope).await?;
    let before = captured(s.resumed, &s.in_flight, split_json(&now, scope));
    res.before = before.clone();
    let resource = ctx.plan.resource(router).expect("validated");
    gate::check_safety(ctx, resource, split, "before").await?;
    ctx.journal(started(step, &before, json!({ "split": split })))
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
    Ok(())
}

pub(super) async fn shift(
    s: &mut StepRun<'_>,
    router: &str,
    to: &str,
    phases: &[u32],
    g: &Option<Gate>,
    scope: &Option<String>,
) -> R<()> {
    let ctx = s.ctx;
    let step = s.step;
    let id = s.step.id.as_str();
    let w = s.w;
    let resumed = s.resumed;
    let in_flight = &mut s.in_flight;
    let res = &mut *s.res;
    let scope = scope.as_deref();
    let r = w.router(ctx, router)?;
    let now = r.current(scope).await?;
    let before = captured(resumed, in_flight, split_json(&now, scope));
    res.before = before.clone();
    let start = before_split(&before).unwrap_or_else(|| now.clone());
    ctx.journal(started(
        step,
        &before,
        json!({ "to": to, "phases": phases }),
    ))
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
    Ok(())
}

/// Puts back the split a failed shift captured; says what it did.
pub(super) async fn restore_shift(
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

pub(super) fn split_json(split: &TrafficSplit, scope: Option<&str>) -> Value {
    json!({ "split": split, "scope": scope })
}

pub(super) async fn verify_split(
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

pub(super) fn before_split(before: &Value) -> Option<TrafficSplit> {
    serde_json::from_value(before.get("split")?.clone()).ok()
}

pub(super) fn scope_label(scope: Option<&str>) -> String {
    scope.map(|s| format!(" [{s}]")).unwrap_or_default()
}
