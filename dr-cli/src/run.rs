//! Carrying out a run (`dr run`, `dr resume`, `dr demo`): options from the
//! flags, events to the chosen output, Ctrl-C to the cancel token, outcome to an
//! exit code.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dr_core::executor::{Event, EventSink, ExecError, RunOptions, RunOutcome, RunStatus};
use tokio_util::sync::CancellationToken;

use crate::Global;
use crate::out::{err, errln};
use crate::progress::ProgressView;
use crate::render::event_line;
use crate::terminal::{self, Palette, TerminalApprover};

/// Where events go.
#[derive(Debug, Clone)]
pub enum Output {
    /// One JSON object per line on stdout.
    Json,
    /// One text line per event on stdout.
    Plain(Palette),
    /// Live progress bars on a terminal.
    Live(Arc<ProgressView>),
}

impl Output {
    /// `--json`, else live progress on a terminal, else plain lines.
    pub fn from_flags(global: &Global) -> Output {
        let palette = Palette::new(terminal::colors_on_stdout());
        if global.json {
            Output::Json
        } else if std::io::stdout().is_terminal() {
            Output::Live(Arc::new(ProgressView::new(palette)))
        } else {
            Output::Plain(palette)
        }
    }

    /// Shows one event.
    ///
    /// A closed stdout (`dr run plan | head -1`) does not stop the run: the
    /// journal, not the screen, is the record.
    pub fn show(&self, e: &Event) {
        match self {
            Output::Json => match serde_json::to_string(e) {
                Ok(line) => out(&line),
                Err(err) => errln!("error: cannot serialize an event: {err}"),
            },
            Output::Plain(p) => out(&event_line(e, *p)),
            Output::Live(view) => view.handle(e),
        }
    }

    /// A line of narration between events (not in `--json` mode).
    pub fn note(&self, line: &str) {
        match self {
            Output::Json => {}
            Output::Plain(_) => out(line),
            Output::Live(view) => view.println(line),
        }
    }
}

fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}

/// Run options from the common flags: approvals, `--accept-data-loss`, an
/// interactive approver only when a person can answer (stdin and stderr are
/// terminals), events to `output` (after `also`), Ctrl-C cancelling the run.
pub fn options(
    global: &Global,
    state_dir: &std::path::Path,
    output: &Output,
    also: Option<EventSink>,
) -> RunOptions {
    let mut opts = RunOptions::new(state_dir)
        .accept_data_loss(global.accept_data_loss)
        .ungraceful(global.ungraceful);
    if let Some(c) = &global.coord {
        opts = opts.with_coordination(c.shared.clone());
    }
    for step in &global.approve {
        opts = opts.approve(step.clone());
    }
    if terminal::interactive() {
        let multi = match output {
            Output::Live(view) => Some(view.multi()),
            _ => None,
        };
        opts = opts.with_approver(TerminalApprover::new(multi));
    }
    let cancel = CancellationToken::new();
    let abort = CancellationToken::new();
    let running = Arc::new(AtomicBool::new(false));
    watch_signals(cancel.clone(), abort.clone(), running.clone());
    let out = output.clone();
    opts.with_cancel(cancel)
        .with_abort(abort)
        .on_event(move |e| {
            running.store(true, Ordering::Relaxed);
            out.show(e);
            if let Some(f) = &also {
                f(e);
            }
        })
}

/// An interrupt is not a failure. The first Ctrl-C (or SIGTERM) interrupts the
/// run at its next safe point: no new step or phase starts, nothing is rolled
/// back, the journal says `interrupted` and `dr resume` continues. A second one
/// stops harder (provider calls abandoned, commands killed), still journaled.
/// A third exits at once (exit 130); `dr resume` still works from the journal.
///
/// Before any run event (`dr watch` only watching), the first signal stops
/// the command: nothing is running, so there is nothing to interrupt.
fn watch_signals(cancel: CancellationToken, abort: CancellationToken, running: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let mut term = terminate_signal();
        let mut count = 0;
        loop {
            tokio::select! {
                r = tokio::signal::ctrl_c() => if r.is_err() { return },
                _ = recv(&mut term) => {}
            }
            count += 1;
            if count == 1 && !running.load(Ordering::Relaxed) {
                errln!("\nstopping (no run in progress)");
                cancel.cancel();
                continue;
            }
            match count {
                1 => {
                    errln!(
                        "\ninterrupting: no new step or phase starts, nothing is rolled back \
                         (again to stop harder; `dr resume` continues the run)"
                    );
                    cancel.cancel();
                }
                2 => {
                    errln!(
                        "\nstopping hard: calls in progress are abandoned, commands killed \
                         (again to exit at once)"
                    );
                    abort.cancel();
                }
                _ => std::process::exit(130),
            }
        }
    });
}

#[cfg(unix)]
fn terminate_signal() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok()
}

#[cfg(not(unix))]
fn terminate_signal() -> Option<()> {
    None
}

#[cfg(unix)]
async fn recv(sig: &mut Option<tokio::signal::unix::Signal>) {
    match sig {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn recv(_: &mut Option<()>) {
    std::future::pending().await
}

/// [`exit_code_for`] without `--json`.
pub fn exit_code(result: &Result<RunOutcome, ExecError>) -> u8 {
    exit_code_for(result, false)
}

/// 0 succeeded; 1 failed, rolled back, halted or interrupted; 2 invalid input
/// or no consent. Errors go to stderr; with `json`, to stdout as one object:
/// `{"valid":false,"diagnostics":[..]}` for an invalid plan, else
/// `{"event":"error","kind":"locked"|"io"|"resume"|"crashed"|"lock_lost"|"coordination"|"audit_key"|"other","message":..}`
/// (`audit_key`: a keyed audit log and no key or another one; nothing ran, exit 2).
pub fn exit_code_for(result: &Result<RunOutcome, ExecError>, json: bool) -> u8 {
    if json && let Err(e) = result {
        let line = match e {
            ExecError::Plan(diags) => serde_json::json!({"valid": false, "diagnostics": diags}),
            e => {
                let kind = match e {
                    ExecError::Locked(_) => "locked",
                    ExecError::Io(_) => "io",
                    ExecError::Resume(_) => "resume",
                    ExecError::Crashed => "crashed",
                    ExecError::LockLost { .. } => "lock_lost",
                    ExecError::Coordination { .. } => "coordination",
                    ExecError::AuditKey(_) => "audit_key",
                    _ => "other",
                };
                serde_json::json!({"event": "error", "kind": kind, "message": e.to_string()})
            }
        };
        out(&line.to_string());
        return match e {
            ExecError::Plan(_) | ExecError::Resume(_) | ExecError::AuditKey(_) => 2,
            _ => 1,
        };
    }
    let p = Palette::new(terminal::colors_on_stderr());
    match result {
        Ok(outcome) => match (outcome.status, outcome.after) {
            (RunStatus::Succeeded, Some(dr_core::executor::AfterStatus::Unhealthy)) => 1,
            (RunStatus::Succeeded, _) => 0,
            _ => 1,
        },
        Err(ExecError::Plan(diags)) => {
            err!("{}", crate::diag::render(diags, None, p));
            2
        }
        Err(e @ (ExecError::Resume(_) | ExecError::UnsetEnv(_) | ExecError::AuditKey(_))) => {
            errln!("{}: {e}", p.red("error"));
            2
        }
        Err(e) => {
            errln!("{}: {e}", p.red("error"));
            1
        }
    }
}
