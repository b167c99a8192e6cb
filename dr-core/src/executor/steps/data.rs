//! Data steps: replication check, stop and reverse; promote (with its RPO
//! gate), fence and flush. Each captures state, journals, acts and reads back.

use std::time::Duration;

use serde_json::{Value, json};

use super::{R, StepRun, Wrap, captured, started};
use crate::executor::Event;
use crate::executor::context::Ctx;
use crate::{DataStore, ReplicationState, Replicator, Role};

pub(super) async fn check(
    s: &mut StepRun<'_>,
    replicator: &str,
    max_lag: &Option<Duration>,
) -> R<()> {
    let ctx = s.ctx;
    let id = s.step.id.as_str();
    let w = s.w;
    let res = &mut *s.res;
    let rep = w.replicator(ctx, replicator)?;
    let st = rep.status().await?;
    let lag = st.lag;
    res.after = serde_json::to_value(&st).unwrap_or_default();
    rpo_gate(ctx, id, replicator, lag, *max_lag)?;
    res.detail = Some(format!("{replicator}: {}, lag {}", st.state, lag_text(lag)));
    Ok(())
}

pub(super) async fn stop(s: &mut StepRun<'_>, replicator: &str) -> R<()> {
    let ctx = s.ctx;
    let step = s.step;
    let id = s.step.id.as_str();
    let w = s.w;
    let res = &mut *s.res;
    let rep = w.replicator(ctx, replicator)?;
    let st = rep.status().await?;
    let before = captured(
        s.resumed,
        &s.in_flight,
        serde_json::to_value(&st).unwrap_or_default(),
    );
    res.before = before.clone();
    res.lag_ms = before.get("lag_ms").and_then(Value::as_u64);
    ctx.journal(started(step, &before, json!({ "state": "stopped" })))
        .await?;
    if st.state == ReplicationState::Replicating {
        rep.stop().await?;
    }
    // A promote's RPO gate later in the run uses this figure once the
    // stopped link reports no lag any more.
    ctx.record_stop_lag(replicator, id, res.lag_ms);
    let after = rep.status().await?;
    if after.state == ReplicationState::Replicating {
        return Err(
            format!("verification failed: `{replicator}` still replicating after stop").into(),
        );
    }
    res.after = serde_json::to_value(&after).unwrap_or_default();
    res.detail = Some(format!(
        "{replicator}: {} -> {} (lag at stop {})",
        st.state,
        after.state,
        lag_text(res.lag_ms.map(Duration::from_millis))
    ));
    Ok(())
}

pub(super) async fn reverse(s: &mut StepRun<'_>, replicator: &str) -> R<()> {
    let ctx = s.ctx;
    let step = s.step;
    let w = s.w;
    let res = &mut *s.res;
    let rep = w.replicator(ctx, replicator)?;
    let st = rep.status().await?;
    // What the reverse would throw away on the old primary, judged before
    // anything changes (measured again on resume: 0 once reversed).
    let divergence = if rep.capabilities().discards {
        let d = rep.divergence().await?;
        res.after = json!({ "divergence_bytes": d });
        divergence_gate(ctx, &step.id, replicator, d)?;
        Some(d)
    } else {
        None
    };
    res.before = captured(
        s.resumed,
        &s.in_flight,
        serde_json::to_value(&st).unwrap_or_default(),
    );
    ctx.journal(started(step, &res.before, json!({ "reversed": true })))
        .await?;
    rep.reverse().await?;
    let after = rep.status().await?;
    res.after = serde_json::to_value(&after).unwrap_or_default();
    let mut detail = format!("{replicator}: reversed, now {}", after.state);
    if let Some(d) = divergence {
        if let Some(obj) = res.after.as_object_mut() {
            obj.insert("divergence_bytes".into(), json!(d));
        }
        detail.push_str(&match d {
            Some(0) => "; the old primary had nothing the new one lacked".to_string(),
            Some(n) => format!("; {n} byte(s) only the old primary had were discarded"),
            None => "; what only the old primary had (unknown) was discarded".to_string(),
        });
    }
    res.detail = Some(detail);
    Ok(())
}

/// Refuses a reverse that would discard writes the old primary accepted
/// after the new primary's last replicated byte (`divergence` bytes, `None`:
/// unknown), unless data loss is accepted (then warns).
fn divergence_gate(ctx: &Ctx, step: &str, replicator: &str, divergence: Option<u64>) -> R<()> {
    let problem = match divergence {
        Some(0) => return Ok(()),
        Some(n) => format!(
            "the old primary accepted {n} byte(s) after the last one the new primary received \
             (`{replicator}`); reversing makes it a copy of the new primary and discards them"
        ),
        None => format!(
            "`{replicator}` cannot tell what the old primary accepted after the last byte the \
             new primary received; reversing makes it a copy of the new primary and may \
             discard writes"
        ),
    };
    data_loss_consent(ctx, step, "divergence", problem)
}

pub(super) async fn promote(
    s: &mut StepRun<'_>,
    store: &str,
    max_lag: &Option<Duration>,
    lag_from: &Option<String>,
) -> R<()> {
    let ctx = s.ctx;
    let step = s.step;
    let id = s.step.id.as_str();
    let w = s.w;
    let resumed = s.resumed;
    let in_flight = &mut s.in_flight;
    let res = &mut *s.res;
    let db = w.store(ctx, store)?;
    let role = db.role().await?;
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
    let how = ctx.promotion();
    ctx.journal(started(
        step,
        &before,
        json!({ "role": "primary", "mode": how.mode }),
    ))
    .await?;
    if role != Role::Primary {
        db.promote_with(how).await?;
    }
    let (after, writable) = (db.role().await?, db.writable().await?);
    if after != Role::Primary || !writable {
        return Err(format!(
            "verification failed: `{store}` is {after} (writable: {writable}) after promote"
        )
        .into());
    }
    res.after = json!({ "role": after, "writable": writable, "mode": how.mode });
    res.detail = Some(if role != Role::Primary && db.capabilities().modes {
        format!("{store}: {role} -> primary ({} promote)", how.mode)
    } else {
        format!("{store}: {role} -> primary")
    });
    Ok(())
}

pub(super) async fn fence(s: &mut StepRun<'_>, store: &str) -> R<()> {
    let ctx = s.ctx;
    let step = s.step;
    let w = s.w;
    let res = &mut *s.res;
    let db = w.store(ctx, store)?;
    let writable = db.writable().await?;
    res.before = captured(s.resumed, &s.in_flight, json!({ "writable": writable }));
    ctx.journal(started(step, &res.before, json!({ "writable": false })))
        .await?;
    if writable {
        db.fence().await?;
    }
    if db.writable().await? {
        return Err(
            format!("verification failed: `{store}` still accepts writes after fence").into(),
        );
    }
    res.after = json!({ "writable": false });
    res.detail = Some(format!("{store}: fenced (refuses writes)"));
    Ok(())
}

pub(super) async fn flush(s: &mut StepRun<'_>, store: &str) -> R<()> {
    let ctx = s.ctx;
    let step = s.step;
    let w = s.w;
    let res = &mut *s.res;
    let db = w.store(ctx, store)?;
    ctx.journal(started(step, &Value::Null, json!({ "flushed": true })))
        .await?;
    db.flush().await?;
    res.after = json!({ "flushed": true });
    res.detail = Some(format!("{store}: flushed"));
    Ok(())
}

pub(super) fn lag_text(lag: Option<Duration>) -> String {
    lag.map(crate::format_duration)
        .unwrap_or_else(|| "unknown".into())
}

/// The lag a promote's RPO gate judges, and where it came from: what the
/// replicator reports now; else what this run measured when it stopped that
/// link (journaled, so it survives a resume); else unknown.
pub(super) async fn promote_lag(
    ctx: &Ctx,
    w: &Wrap,
    replicator: &str,
) -> R<Option<(Duration, String)>> {
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
pub(super) fn rpo_gate(
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
    data_loss_consent(ctx, step, "RPO gate", problem)
}

/// `problem` loses data: a warning (journaled as an event) when the run
/// accepts data loss, else the step's error, named `gate`.
fn data_loss_consent(ctx: &Ctx, step: &str, gate: &str, problem: String) -> R<()> {
    if ctx.opts.accept_data_loss {
        ctx.emit(Event::Warning {
            step: Some(step.into()),
            message: format!("{problem}; continuing because --accept-data-loss was given"),
        });
        Ok(())
    } else {
        Err(
            format!("{gate}: {problem}; refusing (use --accept-data-loss to accept the data loss)")
                .into(),
        )
    }
}
