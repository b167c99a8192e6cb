//! Built-in steps that are not traffic or data: probe waits, approvals, waits,
//! webhooks, commands, and provider actions.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Fail, R, StepRun, deadline_after, started};
use crate::executor::Event;
use crate::executor::child;
use crate::executor::context::Ctx;
use crate::executor::gate::{self, DEFAULT_GATE_TIMEOUT};
use crate::journal::Record;
use crate::plan::Gate;
use crate::{Action, ErrorKind, ProviderError};

pub(super) async fn probe_wait(s: &mut StepRun<'_>, g: &Gate) -> R<()> {
    let ctx = s.ctx;
    let step = s.step;
    let id = s.step.id.as_str();
    let res = &mut *s.res;
    let deadline = deadline_after(step.timeout.or(g.timeout).unwrap_or(DEFAULT_GATE_TIMEOUT));
    gate::hold(ctx, id, g, false, deadline).await?;
    res.detail = Some(format!("{} healthy", g.probe));
    Ok(())
}

/// `[plan.notify]` of `approval_needed`: the step and what to approve.
async fn notify_approval(ctx: &Ctx, step: &str, message: &str) {
    crate::executor::notices::send(
        ctx,
        crate::plan::NotifyEvent::ApprovalNeeded,
        &format!(
            "dr: run {} of plan `{}` waits for an approval of step `{step}`: {message}",
            ctx.run_id, ctx.plan.name
        ),
        serde_json::json!({ "step": step }),
    )
    .await;
}

pub(super) async fn approval(s: &mut StepRun<'_>, message: &Option<String>) -> R<()> {
    let ctx = s.ctx;
    let id = s.step.id.as_str();
    let res = &mut *s.res;
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
        notify_approval(ctx, id, &message).await;
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
        notify_approval(ctx, id, &message).await;
        return Err(format!("approval required and not given: rerun with `--approve {id}` (or run on a terminal to be asked)").into());
    }
    res.after = json!({ "approved": true });
    Ok(())
}

pub(super) async fn wait(s: &mut StepRun<'_>, duration: &Duration) -> R<()> {
    let ctx = s.ctx;
    let res = &mut *s.res;
    tokio::select! {
        _ = tokio::time::sleep(*duration) => {}
        _ = ctx.opts.cancel.cancelled() => {
            return Err(Fail::Interrupted(Some("while waiting".into())));
        }
    }
    res.detail = Some(format!("waited {}", crate::format_duration(*duration)));
    Ok(())
}

/// `plan.run`: the child's steps are steps of this run, which this one
/// depends on; it ends once they all ended, and changes nothing itself.
pub(super) async fn plan_run(s: &mut StepRun<'_>, plan: &str, steps: &[String]) -> R<()> {
    s.res.detail = Some(format!(
        "child plan `{plan}`: its {} step(s) ended",
        steps.len()
    ));
    Ok(())
}

pub(super) async fn notify_step(
    s: &mut StepRun<'_>,
    url: &str,
    message: &str,
    headers: &BTreeMap<String, String>,
) -> R<()> {
    let ctx = s.ctx;
    let step = s.step;
    let id = s.step.id.as_str();
    let w = s.w;
    let res = &mut *s.res;
    // The same on every send, retries and `dr resume` included: the receiver
    // can drop a second delivery (see `crate::notify`).
    let delivery = crate::notify::notify_delivery_id(&ctx.run_id, id);
    ctx.journal(started(
        step,
        &Value::Null,
        json!({
            "notify": ctx.redact(&crate::notify::shown_url(url)),
            "delivery_id": delivery,
        }),
    ))
    .await?;
    let body = json!({
        "plan": ctx.plan.name,
        "run_id": ctx.run_id,
        "step": id,
        "text": message,
        "delivery_id": delivery,
    });
    w.retry
        .call("notify", || {
            crate::notify::notify(url, headers, &body, &delivery)
        })
        .await?;
    res.detail = Some("notified".into());
    Ok(())
}

pub(super) async fn exec_step(
    s: &mut StepRun<'_>,
    command: &[String],
    cwd: &Option<String>,
    env: &BTreeMap<String, String>,
) -> R<()> {
    let ctx = s.ctx;
    let step = s.step;
    let id = s.step.id.as_str();
    let res = &mut *s.res;
    ctx.journal(started(
        step,
        &Value::Null,
        json!({ "command": ctx.redact(&command.join(" ")) }),
    ))
    .await?;
    let out = exec(ctx, id, command, cwd.as_deref(), env).await?;
    res.after = json!({ "exit": 0, "stdout_tail": ctx.redact(&out) });
    res.detail = Some(format!("`{}` exited 0", ctx.redact(&command.join(" "))));
    Ok(())
}

pub(super) async fn provider(s: &mut StepRun<'_>, name: &str, action: &Arc<dyn Action>) -> R<()> {
    let ctx = s.ctx;
    let step = s.step;
    let w = s.w;
    let res = &mut *s.res;
    if w.retry.call("verify", || action.verify()).await? {
        res.detail = Some(format!("{name}: already in place"));
        return Ok(());
    }
    ctx.journal(started(
        step,
        &Value::Null,
        json!({ "run": action.describe() }),
    ))
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
                Err(e) if e.is_retryable() && !action.idempotent() && !action.verifies() => {
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
    Ok(())
}

pub(super) async fn exec(
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
    child::isolate(&mut cmd);
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot run `{}`: {e}", argv[0]))?;
    let mut group = child::GroupGuard::new(child.id());
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

/// `dr check`'s preflight of an `exec` step: its program (the first element of
/// `command`; `sh` for a command string) can be run. A path (with a `/`) must
/// name an executable file, relative to the step's `cwd` when it has one; a
/// bare name must be an executable file in a directory of `PATH`: the `PATH`
/// the step's `env` gives, else the process's. Reads the file system only.
pub(crate) fn exec_preflight(
    argv: &[String],
    cwd: Option<&str>,
    env: &BTreeMap<String, String>,
) -> crate::Preflight {
    use crate::Preflight;
    let Some(program) = argv.first() else {
        return Preflight::not_ok("the command is empty");
    };
    if program.contains('/') {
        let path = match cwd {
            Some(dir) => std::path::Path::new(dir).join(program),
            None => std::path::PathBuf::from(program),
        };
        let shown = path.display();
        return match std::fs::metadata(&path) {
            Ok(m) if executable(&m) => Preflight::ok(format!("program `{shown}` is executable")),
            Ok(m) if m.is_dir() => Preflight::not_ok(format!("program `{shown}` is a directory")),
            Ok(_) => Preflight::not_ok(format!("program `{shown}` is not executable")),
            Err(e) => Preflight::not_ok(format!("program `{shown}` cannot be run: {e}")),
        };
    }
    let (path, whose) = match env.get("PATH") {
        Some(p) => (Some(std::ffi::OsString::from(p)), "the step's env"),
        None => (std::env::var_os("PATH"), "dr's environment"),
    };
    let found = path.as_ref().and_then(|p| {
        std::env::split_paths(p)
            .map(|dir| {
                // An empty entry is the working directory (POSIX); a relative
                // one is looked up from the step's `cwd`, as the child does.
                let dir = if dir.as_os_str().is_empty() {
                    ".".into()
                } else {
                    dir
                };
                match cwd {
                    Some(c) if dir.is_relative() => std::path::Path::new(c).join(dir),
                    _ => dir,
                }
            })
            .map(|dir| dir.join(program))
            .find(|f| std::fs::metadata(f).is_ok_and(|m| executable(&m)))
    });
    match found {
        Some(f) => Preflight::ok(format!("program `{program}` is on PATH: {}", f.display())),
        None => Preflight::not_ok(format!(
            "program `{program}` is not on PATH (from {whose}): no executable `{program}` in any of its directories"
        )),
    }
}

/// A regular file someone may execute.
fn executable(m: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        m.is_file() && m.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        m.is_file()
    }
}
