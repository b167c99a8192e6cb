//! `dr watch` and `dr check`: a few lines each over `dr_core::watch` and
//! `dr_core::check`.

use std::path::Path;
use std::sync::Arc;

use dr_core::check::{self, Finding};
use dr_core::watch::{self, WatchEnd, WatchEvent, WatchMetrics, WatchOptions, approval};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::Global;
use crate::common::{check_approvals, err_palette, load, out_palette, usage_error};
use crate::out::{errln, outln};
use crate::providers::registry;
use crate::run::{self, Output};

/// `dr check PLAN`: exit 0 ready, 1 not ready, 2 invalid.
pub async fn check(g: &Global, path: &Path) -> u8 {
    let plan = match load(g, path, &registry()) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let findings = check::check_in(&plan, &g.state_dir()).await;
    let ready = check::ready(&findings);
    if g.json {
        for f in &findings {
            outln!("{}", serde_json::to_string(f).unwrap_or_default());
        }
    } else {
        let p = out_palette();
        for f in &findings {
            outln!("{}", finding_line(f, p));
        }
        let bad = findings.iter().filter(|f| !f.ok).count();
        if ready {
            outln!("{} plan `{}` is ready", p.green("✓"), plan.name);
        } else {
            outln!(
                "{} plan `{}` is not ready: {bad} problem{}",
                p.red("✗"),
                plan.name,
                if bad == 1 { "" } else { "s" }
            );
        }
    }
    u8::from(!ready)
}

fn finding_line(f: &Finding, p: crate::terminal::Palette) -> String {
    let mark = if f.ok { p.green("✓") } else { p.red("✗") };
    let what = [f.resource.as_deref(), f.step.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "  {mark} {:<16} {what}{}{}",
        f.check,
        if what.is_empty() { "" } else { ": " },
        f.message
    )
}

/// `dr watch PLAN`: see `dr_core::watch`. Exit: the triggered run's code; 0
/// when stopped while only watching (or for `--approve-trigger`); 2 when the
/// plan is invalid or has no `[plan.watch]`, or the metrics address cannot
/// be bound.
/// How `dr watch` runs (its flags).
pub(crate) struct How<'a> {
    pub dry_run: bool,
    pub metrics: Option<&'a str>,
    pub approve_trigger: bool,
    pub instance: Option<&'a str>,
}

pub async fn watch(g: &Global, path: &Path, how: How<'_>) -> u8 {
    let How {
        dry_run,
        metrics: metrics_addr,
        approve_trigger,
        instance,
    } = how;
    let plan = match load(g, path, &registry()) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if approve_trigger {
        return approve(g, &plan);
    }
    if plan.watch.is_none() {
        return usage_error(
            g,
            "no_watch",
            format!(
                "plan `{}` has no `[plan.watch]` table: nothing to watch",
                plan.name
            ),
        );
    }
    if let Err(code) = check_approvals(g, &[&plan]) {
        return code;
    }
    let output = Output::from_flags(g);
    let opts = run::options(g, &g.state_dir(), &output, None);
    let cancel = opts.cancel.clone();
    let me = instance.map_or_else(dr_core::lock::host, str::to_string);
    let opts = match &g.coord {
        Some(c) => opts.with_coordination(c.as_instance(&me)),
        None => opts,
    };
    let mut wopts = WatchOptions::new(opts).dry_run(dry_run);
    if let Some(c) = &g.coord {
        wopts.peers = Some(c.peers(&plan.name, &me));
        wopts.takeover = Some(watch::Takeover {
            registry: Arc::new(registry()),
            load: dr_core::LoadOptions::default(),
        });
    } else if instance.is_some() {
        return usage_error(
            g,
            "instance",
            "--instance names this watch among the instances sharing --coordination; \
             without --coordination there are none"
                .to_string(),
        );
    }
    let server_stop = CancellationToken::new();
    if let Some(addr) = metrics_addr {
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                return usage_error(
                    g,
                    "metrics",
                    format!("--metrics {addr}: cannot listen: {e}"),
                );
            }
        };
        let local = listener
            .local_addr()
            .map_or_else(|_| addr.to_string(), |a| a.to_string());
        let metrics = Arc::new(WatchMetrics::new(&plan.name));
        tokio::spawn(watch::metrics::serve(
            listener,
            metrics.clone(),
            server_stop.clone(),
        ));
        if g.json {
            outln!(
                "{}",
                json!({"event": "watch_metrics", "address": local, "path": "/metrics"})
            );
        } else {
            output.note(&format!("metrics: http://{local}/metrics"));
        }
        wopts = wopts.with_metrics(metrics);
    }
    let json = g.json;
    let out = output.clone();
    wopts = wopts.on_event(move |e| show(&out, e, json));
    let result = watch::watch(plan, wopts).await;
    server_stop.cancel();
    drop(cancel);
    match result {
        Ok(WatchEnd::Stopped) => 0,
        Ok(WatchEnd::Ran(r)) => run::exit_code_for(&r, g.json),
        Ok(_) => 0,
        Err(e) => usage_error(g, "watch", e.to_string()),
    }
}

/// `dr watch PLAN --approve-trigger`: approves the trigger the `dr watch` of
/// this plan file waits with, only if it loaded the same text (digest).
fn approve(g: &Global, plan: &dr_core::Plan) -> u8 {
    let which = approval::PlanRef::of(plan);
    let name = &which.name;
    match approval::approve(&g.state_dir(), &which) {
        Ok(p) => {
            if g.json {
                outln!(
                    "{}",
                    json!({"event": "watch_trigger_approved", "plan": name, "plan_path": p.plan_path, "requested_at": p.requested_at})
                );
            } else {
                outln!(
                    "approved: the `dr watch` of plan `{}` (pid {}) runs it now",
                    name,
                    p.pid
                );
            }
            0
        }
        Err(e) => {
            let kind = match &e {
                approval::ApproveError::NotPending { .. } => "no_pending_trigger",
                approval::ApproveError::Changed { .. } => "plan_changed",
                _ => "approval_not_written",
            };
            let msg = format!("{e} (state dir {})", g.state_dir().display());
            if g.json {
                outln!(
                    "{}",
                    json!({"event": "error", "kind": kind, "message": msg})
                );
            } else {
                errln!("{}: {}", err_palette().red("error"), msg);
            }
            1
        }
    }
}

/// One watch event: a JSON line with `--json`, else a text line (rounds are
/// shown only when they fail).
fn show(out: &Output, e: &WatchEvent, json: bool) {
    if json {
        outln!("{}", serde_json::to_string(e).unwrap_or_default());
        return;
    }
    let p = out_palette();
    let line = match e {
        WatchEvent::WatchStarted {
            plan,
            probes,
            interval_ms,
            failure_threshold,
            quorum,
            mode,
            dry_run,
            bound_ms,
            ..
        } => format!(
            "watching plan `{plan}`: {} every {interval_ms}ms, {failure_threshold} failed rounds ({quorum} of {} probes down) trigger{}, mode {mode}; detection within {bound_ms}ms",
            probes.join(", "),
            probes.len(),
            if *dry_run {
                " (dry run: nothing runs)"
            } else {
                ""
            }
        ),
        WatchEvent::WatchRound {
            failed: true,
            round,
            down,
            unhealthy,
            consecutive_failures,
            ..
        } => format!(
            "  round {round}: {unhealthy} down ({}), {consecutive_failures} failed in a row",
            down.iter()
                .map(|d| format!("{} {}", d.probe, d.status))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        WatchEvent::WatchRound { .. } => return,
        WatchEvent::WatchState {
            state, previous, ..
        } => {
            let s = state.as_str();
            let colored = match state {
                watch::WatchState::Healthy => p.green(s),
                watch::WatchState::Suspect => p.yellow(s),
                watch::WatchState::Failing => p.red(s),
            };
            format!("state: {previous} -> {colored}")
        }
        WatchEvent::WatchTriggered {
            detection_ms,
            bound_ms,
            first_failure_at,
            dry_run,
            ..
        } => format!(
            "{} failure detected in {detection_ms}ms (bound {bound_ms}ms, first failure at {first_failure_at}){}",
            p.red("TRIGGER"),
            if *dry_run {
                "; dry run: nothing runs, still watching"
            } else {
                ""
            }
        ),
        WatchEvent::WatchHeldDown { message, .. } => format!("held down: {message}"),
        WatchEvent::WatchTriggerRefused { message, .. } => {
            format!("{}: {message}", p.yellow("trigger refused"))
        }
        WatchEvent::WatchApprovalNeeded {
            approve_with,
            notified,
            ..
        } => {
            format!("waiting for an approval ({notified} webhooks notified): run `{approve_with}`")
        }
        WatchEvent::WatchApproved { message } => message.clone(),
        WatchEvent::WatchApprovalWithdrawn { reason } => {
            format!("approval request withdrawn: {reason}")
        }
        WatchEvent::WatchCheck { ready: true, .. } => "readiness check: ready".to_string(),
        WatchEvent::WatchCheck { problems, .. } => format!(
            "{}: {}",
            p.yellow("readiness check: not ready"),
            problems
                .iter()
                .map(|f| f.message.clone())
                .collect::<Vec<_>>()
                .join("; ")
        ),
        WatchEvent::WatchWarning { message } => format!("{}: {message}", p.yellow("warning")),
        WatchEvent::WatchStopped { reason } => format!("watch stopped: {reason}"),
        _ => return,
    };
    out.note(&line);
}
