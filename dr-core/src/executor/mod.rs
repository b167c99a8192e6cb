//! Running a plan: DAG scheduling, retries, gates, rollback, journal and resume.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use dr_core::{Plan, Registry};
//! use dr_core::executor::{Executor, RunOptions};
//!
//! let registry = Registry::with_builtins();
//! let plan = Plan::load("failover.toml", &registry)?;
//! let outcome = Executor::new(plan, RunOptions::new(".dr")).run().await?;
//! println!("{} {}", outcome.run_id, outcome.status);
//! # Ok(()) }
//! ```

mod after;
mod child;
mod context;
mod events;
mod gate;
mod integrity;
mod notices;
mod preview;
mod progress;
mod run;
mod steps;

pub(crate) use steps::exec_preflight;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub use after::AfterStatus;
pub use events::{Event, EventSink};
pub use preview::StepPreview;

use crate::report::Report;
use crate::retry::RetryPolicy;
use crate::{Plan, Registry};

/// Asks a person to approve an `approval` step (the CLI prompts on a terminal).
#[async_trait]
pub trait Approver: Send + Sync {
    /// Whether the person approved `step`.
    async fn approve(&self, step: &str, message: &str) -> bool;
}

/// How a run is carried out.
#[derive(Clone)]
#[non_exhaustive]
pub struct RunOptions {
    /// Holds `runs/<run-id>/journal.jsonl`, `audit.jsonl`, `locks/`.
    pub state_dir: PathBuf,
    /// Step ids approved up front (`--approve ID`).
    pub approvals: BTreeSet<String>,
    /// Asks interactively for approvals not given up front; without one, an
    /// unapproved `approval` step fails.
    pub approver: Option<Arc<dyn Approver>>,
    /// Let RPO gates pass (with a logged warning) when the lag is too large.
    pub accept_data_loss: bool,
    /// Who runs the plan (report, journal, audit log): `$DR_OPERATOR`, else the
    /// OS user (`$USER`, `$USERNAME`), else `unknown`.
    pub operator: String,
    /// Receives every event.
    pub events: Option<EventSink>,
    /// Interrupts the run (the first Ctrl-C or SIGTERM): no new step or traffic
    /// phase starts, waits, gates and approvals stop, a provider call or command
    /// in progress finishes; the run ends `interrupted` with traffic where it is,
    /// nothing rolled back, and `dr resume` continues it.
    pub cancel: CancellationToken,
    /// Stops harder (a second Ctrl-C): provider calls in progress are abandoned
    /// and commands killed; still journaled as `interrupted`, and the steps that
    /// were in flight are checked (or need `--rerun`) on resume.
    pub abort: CancellationToken,
    /// Key of the audit log's HMAC chain (`DR_AUDIT_KEY` by default): every
    /// entry also carries an HMAC of its hash, so a log rewritten as a whole is
    /// detected by `dr audit verify` with the same key. Never printed.
    pub audit_key: Option<Vec<u8>>,
    /// Steps the operator allows `dr resume` to run again although they were in
    /// flight and may have taken effect (`--rerun STEP_ID`).
    pub rerun: BTreeSet<String>,
    /// Steps in flight when the run stopped that the operator attests took
    /// effect (`dr resume --done STEP_ID`): they end `succeeded` without
    /// running again, attested with [`RunOptions::operator`] and the time in
    /// the journal, the audit log and the report. Only steps in flight.
    pub done: BTreeSet<String>,
    /// Steps the operator skips (`dr resume --skip STEP_ID`): a step that
    /// failed, was in flight or had not run ends `skipped` without running, its
    /// dependents run; journaled with [`RunOptions::operator`] and the time,
    /// audited, in the report (`skipped_by_operator`). Never a step that
    /// succeeded. A `failed` run (a step failed with `on_failure = "abort"`)
    /// can be resumed with `--skip`.
    pub skip: BTreeSet<String>,
    /// Ungraceful (`dr run --ungraceful`, `dr resume RUN_ID --ungraceful`):
    /// a new run is ungraceful whatever `[plan] mode` says; a resumed graceful
    /// run is switched to ungraceful from here on, the switch (who, when)
    /// journaled, audited and in the report (`mode_changes`).
    pub ungraceful: bool,
    /// Overrides the plan's `max_parallel`.
    pub max_parallel: Option<usize>,
    /// Retry policy for provider calls.
    pub retry: RetryPolicy,
    /// Where the plan lock, the journal's shared copy and the audit log live
    /// (`--coordination`); `None`: the state dir ([`crate::coord::StateDir`]).
    pub coordination: Option<Arc<dyn crate::coord::Coordination>>,
    /// Test hook (feature `testing`): the process "dies" (the run stops at
    /// once, nothing more is written) when the journal is about to get entry
    /// number N+1.
    #[cfg(feature = "testing")]
    pub crash_after_journal_entries: Option<usize>,
}

impl RunOptions {
    /// The coordination runs use: [`RunOptions::coordination`], else the state dir.
    pub fn coordination(&self) -> Arc<dyn crate::coord::Coordination> {
        self.coordination.clone().unwrap_or_else(|| {
            Arc::new(crate::coord::StateDir::new(&self.state_dir))
                as Arc<dyn crate::coord::Coordination>
        })
    }

    /// Sets [`RunOptions::coordination`].
    pub fn with_coordination(mut self, c: Arc<dyn crate::coord::Coordination>) -> Self {
        self.coordination = Some(c);
        self
    }

    /// The crash test hook's setting (always `None` without feature `testing`).
    pub(crate) fn crash_hook(&self) -> Option<usize> {
        #[cfg(feature = "testing")]
        return self.crash_after_journal_entries;
        #[cfg(not(feature = "testing"))]
        None
    }

    /// Defaults, with `state_dir`.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        RunOptions {
            state_dir: state_dir.into(),
            approvals: BTreeSet::new(),
            approver: None,
            accept_data_loss: false,
            operator: default_operator(),
            events: None,
            cancel: CancellationToken::new(),
            abort: CancellationToken::new(),
            audit_key: crate::audit::audit_key_from_env(),
            rerun: BTreeSet::new(),
            done: BTreeSet::new(),
            skip: BTreeSet::new(),
            ungraceful: false,
            max_parallel: None,
            retry: RetryPolicy::default(),
            coordination: None,
            #[cfg(feature = "testing")]
            crash_after_journal_entries: None,
        }
    }

    /// Approves `step` up front.
    pub fn approve(mut self, step: impl Into<String>) -> Self {
        self.approvals.insert(step.into());
        self
    }

    /// Sets the event sink.
    pub fn on_event(mut self, sink: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.events = Some(Arc::new(sink));
        self
    }

    /// Sets `accept_data_loss`.
    pub fn accept_data_loss(mut self, yes: bool) -> Self {
        self.accept_data_loss = yes;
        self
    }

    /// Sets the interactive approver.
    pub fn with_approver(mut self, approver: Arc<dyn Approver>) -> Self {
        self.approver = Some(approver);
        self
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the operator name recorded in the audit log.
    pub fn with_operator(mut self, operator: impl Into<String>) -> Self {
        self.operator = operator.into();
        self
    }

    /// Overrides `max_parallel`.
    pub fn with_max_parallel(mut self, n: usize) -> Self {
        self.max_parallel = Some(n.max(1));
        self
    }

    /// Sets the interrupt token (see [`RunOptions::cancel`]).
    pub fn with_cancel(mut self, cancel: CancellationToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// Sets the hard-stop token (see [`RunOptions::abort`]).
    pub fn with_abort(mut self, abort: CancellationToken) -> Self {
        self.abort = abort;
        self
    }

    /// Sets (or clears) the audit log's HMAC key.
    pub fn with_audit_key(mut self, key: Option<Vec<u8>>) -> Self {
        self.audit_key = key;
        self
    }

    /// Attests (on `dr resume`) that `step`, in flight when the run stopped,
    /// took effect: it ends `succeeded` without running again.
    pub fn done(mut self, step: impl Into<String>) -> Self {
        self.done.insert(step.into());
        self
    }

    /// Has `dr resume` skip `step` (see [`RunOptions::skip`]).
    pub fn skip(mut self, step: impl Into<String>) -> Self {
        self.skip.insert(step.into());
        self
    }

    /// The run's mode: ungraceful when asked (`--ungraceful`), else `mode`
    /// (the plan's for a new run, the journaled one for a resumed run).
    pub(crate) fn mode_over(&self, mode: crate::RunMode) -> crate::RunMode {
        if self.ungraceful {
            crate::RunMode::Ungraceful
        } else {
            mode
        }
    }

    /// Makes the run ungraceful (see [`RunOptions::ungraceful`]).
    pub fn ungraceful(mut self, yes: bool) -> Self {
        self.ungraceful = yes;
        self
    }

    /// Allows `dr resume` to run `step` again although it may have taken effect.
    pub fn rerun(mut self, step: impl Into<String>) -> Self {
        self.rerun.insert(step.into());
        self
    }
}

/// `$DR_OPERATOR`, else the OS user (`$USER`, `$LOGNAME`, `$USERNAME`, else the
/// account of the process's user id), else `unknown`.
pub fn default_operator() -> String {
    let env = ["DR_OPERATOR", "USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()));
    env.or_else(os_user).unwrap_or_else(|| "unknown".into())
}

#[cfg(unix)]
fn os_user() -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
}

#[cfg(not(unix))]
fn os_user() -> Option<String> {
    None
}

impl fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("state_dir", &self.state_dir)
            .field("approvals", &self.approvals)
            .field("accept_data_loss", &self.accept_data_loss)
            .field("ungraceful", &self.ungraceful)
            .field("operator", &self.operator)
            .field("max_parallel", &self.max_parallel)
            .field("audit_key", &self.audit_key.as_ref().map(|_| "******"))
            .finish_non_exhaustive()
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunStatus {
    /// Every step succeeded (or failed with `on_failure = "continue"`).
    Succeeded,
    /// A step failed and the run stopped (aborted, or a rollback could not finish).
    Failed,
    /// A step failed and the completed steps were compensated.
    RolledBack,
    /// A step failed and the rollback stopped at a completed one-way step (a
    /// promote, a fence, ...): going further back would be unsafe. Traffic stays
    /// where the rollback left it; `dr resume` retries the failed step and goes
    /// forward once its cause is fixed.
    Halted,
    /// The run was interrupted (Ctrl-C, SIGTERM) at a safe point; `dr resume`
    /// continues it.
    Interrupted,
}

impl RunStatus {
    /// `succeeded`, `failed`, `rolled_back`, `halted` or `interrupted`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::RolledBack => "rolled_back",
            RunStatus::Halted => "halted",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// Whether `dr resume` can continue a run that ended so.
    pub fn resumable(self) -> bool {
        matches!(self, RunStatus::Halted | RunStatus::Interrupted)
    }

    /// The status named `s` (`halted`), if any.
    pub fn parse(s: &str) -> Option<RunStatus> {
        [
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::RolledBack,
            RunStatus::Halted,
            RunStatus::Interrupted,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The run id.
    pub run_id: String,
    /// How it ended.
    pub status: RunStatus,
    /// The RTO/RPO report.
    pub report: Report,
    /// How the `[plan.after]` window ended, when the run succeeded and the
    /// plan has one: `unhealthy` leaves the run `succeeded` but `dr run`
    /// exits 1.
    pub after: Option<AfterStatus>,
}

/// Why a run could not be carried out at all (a failed *step* is not an error:
/// it is a run with status `failed` or `rolled_back`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// Another run of the same plan holds the lock (or it cannot be taken).
    #[error(transparent)]
    Locked(#[from] crate::lock::LockError),
    /// The state dir could not be written or read.
    #[error("state dir: {0}")]
    Io(#[from] std::io::Error),
    /// The run to resume does not exist, has finished, or its journal is unreadable.
    #[error("{0}")]
    Resume(String),
    /// The plan stored with the run no longer validates.
    #[error("the plan stored with the run is invalid:\n{0}")]
    Plan(crate::Diagnostics),
    /// The `crash_after_journal_entries` test hook fired.
    #[error("simulated crash")]
    Crashed,
    /// The coordination (`--coordination`: etcd) could not be read or
    /// written before anything ran.
    #[error("{what}: {source}")]
    Coordination {
        /// What was asked, and of whom.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The run lost its plan lock (a shared coordination's lease expired and
    /// another machine may have taken the run over, or the store cannot
    /// confirm the lock): it stopped `interrupted` at once, recording and
    /// calling nothing more. `dr resume RUN_ID` continues it once the lock
    /// can be taken (if no one else did).
    #[error(
        "run {run_id} stopped interrupted: it no longer holds the lock of plan `{plan}` ({message}); \
         nothing more was recorded or called. Another machine may have taken the run over; \
         else `dr resume {run_id}` continues it"
    )]
    LockLost {
        /// The run.
        run_id: String,
        /// Its plan.
        plan: String,
        /// What the coordination said.
        message: String,
    },
    /// The audit log is keyed and the run has no key, or another one: nothing
    /// ran (see [`crate::audit::KeyRefused`]).
    #[error(transparent)]
    AuditKey(crate::audit::KeyRefused),
    /// The plan was loaded with `LoadOptions::allow_unset_env`: placeholders
    /// stand in for these variables, so it can be validated but never run.
    #[error(
        "the plan was loaded with unset variables ({}): placeholders stand in for them, so it can be validated but not run",
        .0.iter().map(|v| format!("${{env:{v}}}")).collect::<Vec<_>>().join(", ")
    )]
    UnsetEnv(Vec<String>),
}

impl From<crate::journal::JournalError> for ExecError {
    fn from(e: crate::journal::JournalError) -> Self {
        match e {
            crate::journal::JournalError::Crashed => ExecError::Crashed,
            crate::journal::JournalError::Fenced(message) => ExecError::LockLost {
                run_id: String::new(),
                plan: String::new(),
                message,
            },
            crate::journal::JournalError::Io(e) => ExecError::Io(e),
            other => ExecError::Resume(other.to_string()),
        }
    }
}

/// Runs plans.
#[derive(Debug, Clone)]
pub struct Executor {
    plan: Arc<Plan>,
    opts: RunOptions,
}

impl Executor {
    /// An executor for `plan`.
    pub fn new(plan: Plan, opts: RunOptions) -> Self {
        Executor {
            plan: Arc::new(plan),
            opts,
        }
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Executes the plan from the start. Prints nothing; watch the events.
    pub async fn run(&self) -> Result<RunOutcome, ExecError> {
        run::start(self.plan.clone(), self.opts.clone()).await
    }

    /// Continues the run `run_id` whose process died, or that was interrupted or
    /// halted: loads the plan stored with the run, skips completed steps,
    /// re-applies (idempotently) the steps that were in flight, and for a halted
    /// run retries the failed step and the steps its rollback undid. Refuses when
    /// a `${env:..}` value changed since the run started, when the journal is
    /// damaged, is another run's, or lost records the audit log holds, when the
    /// plan copy is not the plan the run started with, or when an `exec` step
    /// or provider action was in flight that is neither idempotent nor
    /// verifiable (unless the operator passed `--rerun`, or `--done` when it
    /// took effect).
    pub async fn resume(
        registry: &Registry,
        run_id: &str,
        opts: RunOptions,
    ) -> Result<RunOutcome, ExecError> {
        Self::resume_with(registry, run_id, opts, &crate::LoadOptions::default()).await
    }

    /// [`Executor::resume`] with plan load options (where `${env:..}` comes from).
    pub async fn resume_with(
        registry: &Registry,
        run_id: &str,
        opts: RunOptions,
        load: &crate::LoadOptions,
    ) -> Result<RunOutcome, ExecError> {
        run::resume(registry, run_id, opts, load).await
    }

    /// Read-only preview: reads every resource's current state and says what each
    /// step would change. Calls no mutating provider method.
    pub async fn preview(&self) -> Vec<StepPreview> {
        preview::preview(&self.plan).await
    }
}

/// Runs blocking file I/O (a journal fsync, an audit append that may wait for
/// another process's file lock) without stalling the runtime's worker threads:
/// `block_in_place` on a multi-threaded runtime (cheap: the worker hands its
/// queue to another thread only if it has one), `spawn_blocking` otherwise.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => match tokio::task::spawn_blocking(f).await {
            Ok(v) => v,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        },
    }
}

/// The directory of run `run_id` under `state_dir` (see [`RunDir`](crate::state::RunDir)).
pub fn run_dir(state_dir: &Path, run_id: &str) -> PathBuf {
    crate::state::RunDir::new(state_dir, run_id)
        .path()
        .to_path_buf()
}
