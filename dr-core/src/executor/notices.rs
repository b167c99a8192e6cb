//! `[plan.notify]` in a run: the run's events to the plan's targets. A
//! notification that fails never fails the run: it is an event
//! (`notify_failed`) and a journal record, which the report shows.

use serde_json::Value;

use super::Event;
use super::context::Ctx;
use crate::journal::Record;
use crate::plan::NotifyEvent;

/// Sends `event` (with `text` and the fields of `extra`) to every target
/// that listens for it; says and journals each one that could not be told.
pub(super) async fn send(ctx: &Ctx, event: NotifyEvent, text: &str, extra: Value) {
    let failed = crate::notify::send_plan_event(
        &ctx.plan,
        Some(&ctx.run_id),
        &ctx.run_id,
        ctx.opened_at,
        event,
        text,
        extra,
    )
    .await;
    for f in failed {
        ctx.emit(Event::NotifyFailed {
            notified: event.as_str().into(),
            target: f.target.clone(),
            error: f.error.clone(),
        });
        // Best effort: a journal that cannot take it stops the run elsewhere.
        let _ = ctx
            .journal(Record::NotifyFailed {
                event: event.as_str().into(),
                target: f.target,
                error: f.error,
            })
            .await;
    }
}

/// `run_started` in the background, so a slow target does not delay the
/// first step; the run's end waits for it ([`Ctx::settle_notices`]).
pub(super) fn run_started(ctx: &std::sync::Arc<Ctx>, resumed: bool) {
    let wanted = ctx
        .plan
        .notify
        .as_ref()
        .is_some_and(|n| n.on.contains(&NotifyEvent::RunStarted));
    if !wanted {
        return;
    }
    let c = ctx.clone();
    let task = tokio::spawn(async move {
        let text = format!(
            "dr: run {} of plan `{}` {} ({} mode)",
            c.run_id,
            c.plan.name,
            if resumed { "resumed" } else { "started" },
            c.mode
        );
        send(
            &c,
            NotifyEvent::RunStarted,
            &text,
            serde_json::json!({ "resumed": resumed, "mode": c.mode }),
        )
        .await;
    });
    ctx.notices
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(task);
}
