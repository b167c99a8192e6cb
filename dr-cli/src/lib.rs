//! `dr`: the reference command line for disaster-recovery failover plans.
//!
//! Thin by design: it parses arguments, builds the provider registry, calls
//! `dr-core` and renders what comes back. Exit codes: 0 success, 1 a run that
//! failed or rolled back (or a tampered audit log, or a held lock), 2 invalid
//! input (a plan that does not validate, an unknown or finished run).
//!
//! # Your own `dr`
//!
//! The whole command line is this library; the `dr` binary is one line over
//! [`main`]. A team that writes its own provider ships its own `dr`, with every
//! command and its plugin registered, by calling [`main_with`] with a
//! registration hook:
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! fn main() -> ExitCode {
//!     dr_cli::main_with(|registry| {
//!         // my_plugin::register(registry);
//!         let _ = registry;
//!     })
//! }
//! ```
//!
//! The hook runs on top of the providers `dr` ships (built-ins, `sim.*`, Redis,
//! Cloudflare, ...) every time a command builds its registry, so a plugin's
//! provider names may not collide with those.

mod commands;
mod common;
mod coordination;
mod demo;
mod diag;
mod drill;
mod out;
mod progress;
mod providers;
mod render;
mod run;
mod terminal;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

/// Execute failover plans: checked before they run, previewed, gated on
/// health, resumable, reversible, audited and measured.
#[derive(Debug, Parser)]
#[command(name = "dr", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub global: Global,
    /// The run flags written before the subcommand (`dr --yes run PLAN`), as
    /// they were accepted when they were global: still accepted, not shown.
    #[command(flatten)]
    pub early: EarlyRunFlags,
    #[command(subcommand)]
    pub command: Command,
}

/// `--yes`, `--approve` and `--accept-data-loss` before the subcommand. Hidden:
/// help shows them on the commands they apply to.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct EarlyRunFlags {
    /// See `dr run --help`.
    #[arg(long, short = 'y', hide = true)]
    pub yes: bool,
    /// See `dr run --help`.
    #[arg(long, value_name = "STEP_ID", hide = true)]
    pub approve: Vec<String>,
    /// See `dr run --help`.
    #[arg(long, hide = true)]
    pub accept_data_loss: bool,
}

/// Flags every command accepts (before or after the subcommand).
///
/// `yes`, `approve` and `accept_data_loss` are not flags of every command:
/// `dr run` and `dr resume` take them ([`Consent`], and `--yes` on `run`) and
/// [`commands::dispatch`] copies them here, where the run options read them.
#[derive(Debug, Clone, Args)]
pub(crate) struct Global {
    /// Holds runs, journals, locks and the audit log [default: .dr].
    #[arg(long, global = true, value_name = "DIR", env = "DR_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Machine-readable output: JSON objects on stdout, errors included.
    #[arg(long, global = true)]
    pub json: bool,
    /// Keep the plan lock, the journal and the audit log in etcd, shared by
    /// every machine given the same URL, instead of the state dir:
    /// `etcd://H:P,H:P,H:P[?prefix=/dr&lease_ttl=5s]`. Used by run, resume,
    /// status, report, audit verify, watch and drill.
    #[arg(long, global = true, value_name = "URL", env = "DR_COORDINATION")]
    pub coordination: Option<String>,
    /// The connected `--coordination`.
    #[arg(skip)]
    pub coord: Option<coordination::Coord>,
    /// `dr run --yes`.
    #[arg(skip)]
    pub yes: bool,
    /// `--approve STEP_ID` of `dr run` and `dr resume`.
    #[arg(skip)]
    pub approve: Vec<String>,
    /// `--accept-data-loss` of `dr run` and `dr resume`.
    #[arg(skip)]
    pub accept_data_loss: bool,
    /// `--ungraceful` of `dr run`, `dr resume`, `dr watch` and `dr drill`.
    #[arg(skip)]
    pub ungraceful: bool,
}

/// Consent a run may need: approvals given up front, data loss accepted.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct Consent {
    /// Approve the `approval` step STEP_ID up front (repeatable).
    #[arg(long, value_name = "STEP_ID")]
    pub approve: Vec<String>,
    /// Let an RPO gate pass (with a logged warning) when replication lag is too large.
    #[arg(long)]
    pub accept_data_loss: bool,
    /// Fail over ungracefully: every promote is a forced failover (Redis
    /// REPLICAOF NO ONE, Aurora failover, Azure PostgreSQL forced, an unplanned
    /// storage account failover), steps with `ungraceful = "skip"` do not run.
    /// On `dr resume`, switches a halted, failed or interrupted run to
    /// ungraceful from here on (recorded with who and when).
    #[arg(long)]
    pub ungraceful: bool,
}

impl Global {
    /// `--state-dir`, or `.dr`.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(".dr"))
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Parse and check a plan; errors name file:line:column (exit 0 valid, 2 invalid).
    Validate {
        /// The plan file (TOML, or JSON).
        plan: PathBuf,
        /// An unset `${env:VAR}` is a warning, not an error: a placeholder stands in
        /// (`http://placeholder.invalid/` for a whole URL, else `placeholder-var`), so
        /// CI can lint plans without production secrets. `run`, `plan` and `status`
        /// still refuse unset variables.
        #[arg(long)]
        allow_unset_env: bool,
    },
    /// Read-only preview of what every step would change.
    Plan {
        /// The plan file.
        plan: PathBuf,
    },
    /// Execute a plan; prints the run id first (exit 0 succeeded; 1 failed, rolled
    /// back, halted or interrupted; 2 invalid, or no consent: `--yes` or a terminal).
    Run {
        /// The plan file.
        plan: PathBuf,
        /// Do not ask for confirmation before running.
        #[arg(long, short = 'y')]
        yes: bool,
        #[command(flatten)]
        consent: Consent,
    },
    /// Continue a run that died, was interrupted (Ctrl-C) or halted (a rollback
    /// stopped at a one-way step), or a failed one with `--skip` or
    /// `--ungraceful`.
    Resume {
        /// The run id (`dr run` printed it; see `<state-dir>/runs/`).
        run_id: String,
        /// Run STEP_ID again although it was in flight and may have taken effect
        /// (an `exec` step or action that is neither idempotent nor verifiable).
        #[arg(long, value_name = "STEP_ID")]
        rerun: Vec<String>,
        /// Attest that STEP_ID, in flight when the run stopped, took effect: it
        /// ends succeeded without running again, recorded with who (the
        /// operator: $DR_OPERATOR, else the OS user) and when in the journal,
        /// the audit log and the report. Only for a step in flight (else exit 2).
        #[arg(long, value_name = "STEP_ID")]
        done: Vec<String>,
        /// Skip STEP_ID (failed, halted, in flight or not yet run): it ends
        /// skipped without running, the steps after it run; recorded with who
        /// (the operator) and when in the journal, the audit log and the
        /// report. Resumes a failed run too. A step that succeeded cannot be
        /// skipped (exit 2). May be given several times.
        #[arg(long, value_name = "STEP_ID")]
        skip: Vec<String>,
        /// Accepted for scripts that pass it to every run command; a resume
        /// does not ask for confirmation.
        #[arg(long, short = 'y', hide = true)]
        yes: bool,
        #[command(flatten)]
        consent: Consent,
    },
    /// Current split, health, lag and role of every resource of a plan.
    Status {
        /// The plan file.
        plan: PathBuf,
    },
    /// Readiness without side effects: every resource readable, stores to promote
    /// still replicas, lag within `max_lag`, gate probes healthy, the RTO
    /// reachable (exit 0 ready, 1 not ready, 2 invalid).
    Check {
        /// The plan file.
        plan: PathBuf,
    },
    /// Probe the plan's `[plan.watch]` probes and trigger the plan when they
    /// fail: `mode = "auto"` runs it as `dr run` does (exit: the run's code),
    /// `mode = "approve"` notifies and waits for a person's approval. SIGINT or
    /// SIGTERM stops watching (exit 0).
    Watch {
        /// The plan file.
        plan: PathBuf,
        /// Decide and report triggers, run nothing, keep watching.
        #[arg(long)]
        dry_run: bool,
        /// Serve Prometheus metrics at http://ADDR/metrics (e.g. `127.0.0.1:9464`).
        #[arg(long, value_name = "ADDR")]
        metrics: Option<String>,
        /// Approve the trigger a `dr watch` of this plan (mode = "approve") is
        /// waiting for, and exit.
        #[arg(long)]
        approve_trigger: bool,
        /// This watch's name among the instances watching the plan on other
        /// machines (`--coordination`): each publishes what it sees, one
        /// leader triggers [default: the host name].
        #[arg(long, value_name = "NAME")]
        instance: Option<String>,
        #[command(flatten)]
        consent: Consent,
    },
    /// The RTO/RPO report of a run.
    Report {
        /// The run id.
        run_id: String,
        /// Output format (`--json` is `--format json`).
        #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
        format: ReportFormat,
    },
    /// Failover, check, failback: a drill with one report against the plans'
    /// RTO/RPO targets (exit 0 targets met; 1 missed or failed; 2 invalid or no
    /// consent).
    Drill {
        /// The failover plan.
        plan: PathBuf,
        /// The failback plan, run once the failover is checked.
        #[arg(long, value_name = "PLAN")]
        failback: PathBuf,
        /// How long to stay on the secondary between the check and the failback
        /// (e.g. `10m`). Ctrl-C ends the hold and the drill (`interrupted`, exit 1),
        /// leaving the service on the secondary.
        #[arg(long, value_name = "DURATION", value_parser = parse_hold)]
        hold: Option<std::time::Duration>,
        /// Do not ask for confirmation before running.
        #[arg(long, short = 'y')]
        yes: bool,
        #[command(flatten)]
        consent: Consent,
    },
    /// The step DAG as a Mermaid flowchart.
    Graph {
        /// The plan file.
        plan: PathBuf,
    },
    /// The JSON Schema of the plan format.
    Schema,
    /// An offline end-to-end failover drill on the sim providers, with a report.
    Demo {
        /// Accepted and ignored: the demo asks nothing and runs offline.
        #[arg(long, short = 'y', hide = true)]
        yes: bool,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Mark sim targets down or up (drills and the demo).
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },
    /// Shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

fn parse_hold(text: &str) -> Result<std::time::Duration, String> {
    dr_core::parse_duration(text).map_err(|e| e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    /// Markdown, with a timeline.
    Md,
    /// The report as one JSON object.
    Json,
    /// One self-contained HTML page with an SVG timeline.
    Html,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Check the audit log's hash chain (exit 0 intact; 1 tampered or an entry
    /// written without the key; 2 a file cannot be read, so nothing was checked).
    Verify,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SimCommand {
    /// Mark TARGET's region down: `sim.probe`s that follow it turn unhealthy.
    Down(SimTarget),
    /// Mark TARGET's region up again.
    Up(SimTarget),
}

#[derive(Debug, Args)]
pub(crate) struct SimTarget {
    /// `TARGET` or `ROUTER:TARGET`.
    pub target: String,
    /// The sim state file to mark (default: the plan's, else `$DR_SIM_STATE`,
    /// else `<state-dir>/sim-state.json`).
    #[arg(long, value_name = "FILE")]
    pub state_file: Option<PathBuf>,
    /// Mark every state file the plan's sim resources use.
    #[arg(long, value_name = "PLAN")]
    pub plan: Option<PathBuf>,
}

/// Runs the `dr` command line with the providers it ships; what the `dr`
/// binary's `main` calls.
pub fn main() -> ExitCode {
    main_with(|_| {})
}

/// Runs the `dr` command line with the providers it ships plus those `register`
/// adds: the entry point of a team's own `dr` binary (see the crate docs).
///
/// Parses `std::env::args`, runs the command on a multi-threaded tokio runtime
/// of its own and returns the exit code; call it once, from `main`.
pub fn main_with<F>(register: F) -> ExitCode
where
    F: Fn(&mut dr_core::Registry) + Send + Sync + 'static,
{
    providers::set_hook(Box::new(register));
    let cli = Cli::parse();
    init_tracing();
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "dr", &mut out::Stdout);
        return exit_code(0);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(commands::dispatch(cli));
    exit_code(code)
}

/// The command's exit code; 1 instead of 0 when stdout could not be written
/// (a closed pipe, `dr schema | head -1`, is not a failure).
fn exit_code(code: u8) -> ExitCode {
    if code == 0 && out::failed() {
        ExitCode::from(1)
    } else {
        ExitCode::from(code)
    }
}

/// `RUST_LOG` controls tracing on stderr; off unless it is set. Every line,
/// the SDKs' and HTTP clients' included, goes through [`RedactedStderr`].
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| RedactedStderr(Vec::new()))
        .with_ansi(terminal::colors_on_stderr())
        .try_init();
}

/// One log event, written to stderr when dropped with every secret the process
/// knows replaced: the credentials providers register
/// ([`dr_core::hide_secret`]: a token from the environment, AWS's session token
/// in the SDK's `x-amz-security-token` trace) and the loaded plan's secrets.
/// Filtering at the writer covers third-party crates' logs, which no redactor
/// of the plan ever sees.
struct RedactedStderr(Vec<u8>);

impl std::io::Write for RedactedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactedStderr {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.0);
        let line = dr_core::Redactor::default().redact(&text);
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
    }
}
