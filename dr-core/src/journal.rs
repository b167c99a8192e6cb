//! The run journal: append-only JSONL, fsync'd, written before and after every
//! side effect with the captured prior state. Resume and reports read it.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::TrafficSplit;
use crate::coord::RunLock;
use crate::outcome::{CompensationStatus, StepStatus};
use crate::redact::Redactor;

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// 1-based position.
    pub seq: u64,
    /// When it was written.
    pub ts: DateTime<Utc>,
    /// What happened.
    #[serde(flatten)]
    pub record: Record,
}

/// What a journal line records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Record {
    /// The run began.
    RunStarted {
        /// Run id.
        run_id: String,
        /// Plan name.
        plan: String,
        /// SHA-256 of the plan text.
        digest: String,
        /// The plan file as given.
        file: String,
        /// Who ran it.
        operator: String,
        /// Where.
        host: String,
        /// RTO target.
        rto_target_ms: Option<u64>,
        /// RPO target.
        rpo_target_ms: Option<u64>,
        /// Step ids in plan order.
        steps: Vec<String>,
        /// Every `${env:VAR}` the plan used, with a salted digest of its value
        /// (never the value): `dr resume` refuses when a value changed.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        env: BTreeMap<String, String>,
        /// How the run fails over (`[plan] mode`, `dr run --ungraceful`).
        #[serde(default)]
        mode: crate::RunMode,
        /// The fencing token of the plan lock this process took, under a
        /// shared coordination (etcd: the lock key's create revision).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lock_token: Option<u64>,
    },
    /// A `[plan.notify]` target could not be told of a run event.
    NotifyFailed {
        /// The run event (`failed`, `after_finished`, ..).
        event: String,
        /// The target, as its origin only.
        target: String,
        /// Why (redacted).
        error: String,
    },
    /// The operator switched the run's mode on resume (`dr resume RUN_ID
    /// --ungraceful`); the entry's time is when.
    ModeChanged {
        /// The mode before.
        from: crate::RunMode,
        /// The mode from now on.
        to: crate::RunMode,
        /// Who switched it.
        operator: String,
    },
    /// A process continued the run.
    Resumed {
        /// Who resumed it.
        operator: String,
        /// Where.
        host: String,
        /// Steps the operator allowed to run again although they may have taken
        /// effect (`dr resume --rerun STEP`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        rerun: Vec<String>,
        /// Steps in flight the operator attested took effect (`dr resume --done
        /// STEP`); each is journaled next as a `step_finished` with `attested`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        done: Vec<String>,
        /// Steps the operator skipped (`dr resume --skip STEP`); each is
        /// journaled next as a `step_finished` with status `skipped` and
        /// `attested` (decision `skip`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        skip: Vec<String>,
        /// The fencing token of the plan lock this process took, under a
        /// shared coordination.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lock_token: Option<u64>,
    },
    /// An `exec` step started its command, in a process group of its own.
    ChildSpawned {
        /// Step id.
        step: String,
        /// The child's pid, which is also its process group id.
        pid: u32,
    },
    /// A step stopped at a safe point because the run was interrupted; it is
    /// still in flight and `dr resume` continues it.
    StepInterrupted {
        /// Step id.
        step: String,
        /// Where it stopped.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// A step is about to change something; `before` is the state it captured
    /// (what rollback restores), `intent` what it will make true.
    StepStarted {
        /// Step id.
        step: String,
        /// Its action.
        action: String,
        /// Captured prior state.
        before: serde_json::Value,
        /// Desired state.
        intent: serde_json::Value,
    },
    /// A traffic phase took effect.
    PhaseApplied {
        /// Step id.
        step: String,
        /// The phase.
        phase: u32,
        /// The split in place.
        split: TrafficSplit,
    },
    /// A step ended.
    StepFinished {
        /// Step id.
        step: String,
        /// Its action.
        #[serde(default)]
        action: String,
        /// `succeeded`, `failed`, or `skipped` (by the operator, `dr resume --skip`).
        status: StepStatus,
        /// Attempts (1 + retries).
        attempts: u32,
        /// State after the step.
        after: serde_json::Value,
        /// Human summary.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        /// Error if failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The provider error's kind, when a provider call failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_kind: Option<String>,
        /// The remote request id of the failed call, when there was one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
        /// Replication lag observed (stop, promote, check).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lag_ms: Option<u64>,
        /// Whether this step changed traffic (RTO counts up to the last one).
        #[serde(default)]
        traffic: bool,
        /// When the step started (this attempt of the run).
        started_at: DateTime<Utc>,
        /// The step did not finish in this process: the operator decided how it
        /// ends — its effect took place (`dr resume --done STEP`, decision
        /// `done`) or it is skipped (`dr resume --skip STEP`, decision `skip`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attested: Option<Attestation>,
    },
    /// After the last step of a succeeded run, the `[plan.after]` window
    /// began: the probes are watched every `every_ms` for `for_ms`.
    AfterStarted {
        /// The probe resources watched.
        probes: Vec<String>,
        /// How long the window lasts.
        for_ms: u64,
        /// One round of probes every ...
        every_ms: u64,
    },
    /// The `[plan.after]` window ended.
    AfterFinished {
        /// `healthy`, `unhealthy` (a round had an unhealthy probe) or
        /// `interrupted` (Ctrl-C ended the window early).
        status: String,
        /// Rounds of probes made.
        rounds: u32,
        /// Every probe that was not healthy, by round.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        failures: Vec<AfterFailure>,
    },
    /// The run began compensating completed steps.
    RollbackStarted {
        /// The step whose failure triggered it.
        cause: String,
    },
    /// A completed step was compensated (or could not be).
    StepCompensated {
        /// Step id.
        step: String,
        /// `succeeded`, `failed` or `skipped`.
        status: CompensationStatus,
        /// What was done.
        detail: String,
    },
    /// The run ended (or stopped: `halted` and `interrupted` runs can be resumed).
    RunFinished {
        /// `succeeded`, `failed`, `rolled_back`, `halted` or `interrupted`.
        status: String,
        /// Why it failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The one-way step that stopped the rollback (status `halted`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        halted_by: Option<String>,
        /// What the operator must decide (status `halted` or `interrupted`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        decision: Option<String>,
        /// The audit log's head when the run ended: `dr audit verify` checks the
        /// log still holds this entry, and it can be kept elsewhere.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audit_head: Option<AuditHeadRef>,
    },
}

/// An operator's decision about how a step ends, given when resuming a run:
/// who decided, when, and what (`dr resume RUN_ID --done STEP`: a step in
/// flight when the run stopped took effect; `--skip STEP`: a failed, halted,
/// interrupted or not yet run step is skipped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attestation {
    /// The operator who resumed the run (`$DR_OPERATOR`, else the OS user).
    pub operator: String,
    /// When.
    pub at: DateTime<Utc>,
    /// What the operator decided (`done` in journals older than `--skip`).
    #[serde(default)]
    pub decision: OperatorDecision,
}

/// What the operator decided about a step (`dr resume --done` / `--skip`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OperatorDecision {
    /// The step took effect (`--done`): it ends `succeeded`.
    #[default]
    Done,
    /// The step is skipped (`--skip`): it ends `skipped`, its dependents run.
    Skip,
}

impl OperatorDecision {
    /// The audit log's `result` for the step: `done_by_operator` or
    /// `skipped_by_operator`.
    pub fn audit_result(self) -> &'static str {
        match self {
            OperatorDecision::Done => "done_by_operator",
            OperatorDecision::Skip => "skipped_by_operator",
        }
    }

    /// The step's status once decided: `succeeded` or `skipped`.
    pub fn status(self) -> StepStatus {
        match self {
            OperatorDecision::Done => StepStatus::Succeeded,
            OperatorDecision::Skip => StepStatus::Skipped,
        }
    }

    /// The `dr resume` flag that gives it.
    pub fn flag(self) -> &'static str {
        match self {
            OperatorDecision::Done => "--done",
            OperatorDecision::Skip => "--skip",
        }
    }
}

/// A probe that was not healthy in a round of the `[plan.after]` window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AfterFailure {
    /// The round (1-based).
    pub round: u32,
    /// When the round began.
    pub at: DateTime<Utc>,
    /// The probe resource.
    pub probe: String,
    /// `unhealthy`, `error`, `timeout` or `unknown`.
    pub status: String,
    /// What the probe said.
    pub detail: String,
}

/// An audit log position: entry `seq` with hash `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHeadRef {
    /// 1-based entry number.
    pub seq: u64,
    /// The entry's hash (hex).
    pub hash: String,
}

/// Fields of a journal entry that are structure, not content: never redacted,
/// because resume matches on them (a step id that happens to equal a secret
/// must still name its step).
const STRUCTURAL: &[&str] = &[
    "seq",
    "ts",
    "type",
    "run_id",
    "plan",
    "digest",
    "file",
    "steps",
    "step",
    "action",
    "status",
    "phase",
    "attempts",
    "traffic",
    "started_at",
    "cause",
    "pid",
    "env",
    "rerun",
    "done",
    "skip",
    "probes",
    "for_ms",
    "every_ms",
    "rounds",
    "halted_by",
    "audit_head",
    "lag_ms",
];

/// An open journal being appended to.
#[derive(Debug)]
pub struct Journal {
    file: Mutex<File>,
    seq: AtomicU64,
    crash_after: Option<u64>,
    redactor: Redactor,
    /// Where each entry is stored for other machines first (the plan lock
    /// of a shared coordination), and the run's id.
    shared: Option<(Arc<dyn RunLock>, String)>,
}

impl Journal {
    /// The journal file of a run directory.
    pub fn path_in(run_dir: &Path) -> PathBuf {
        crate::state::journal_in(run_dir)
    }

    /// Opens (creating if needed) the journal in `run_dir` for appending; `seq`
    /// continues from `existing` entries.
    pub(crate) fn open(
        run_dir: &Path,
        existing: u64,
        redactor: Redactor,
        crash_after: Option<usize>,
        shared: Option<(Arc<dyn RunLock>, String)>,
    ) -> std::io::Result<Journal> {
        fs::create_dir_all(run_dir)?;
        let path = Self::path_in(run_dir);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Journal {
            file: Mutex::new(file),
            seq: AtomicU64::new(existing),
            crash_after: crash_after.map(|n| n as u64),
            redactor,
            shared,
        })
    }

    /// Appends `record` and fsyncs before returning.
    pub(crate) fn append(&self, record: Record) -> Result<Entry, JournalError> {
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(limit) = self.crash_after
            && self.seq.load(Ordering::SeqCst) >= limit
        {
            return Err(JournalError::Crashed);
        }
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let entry = Entry {
            seq,
            ts: Utc::now(),
            record,
        };
        let mut line = if self.redactor.is_empty() {
            serde_json::to_vec(&entry).map_err(std::io::Error::other)?
        } else {
            let mut value = serde_json::to_value(&entry).map_err(std::io::Error::other)?;
            if let serde_json::Value::Object(fields) = &mut value {
                for (k, v) in fields.iter_mut() {
                    if !STRUCTURAL.contains(&k.as_str()) {
                        self.redactor.redact_json(v);
                    }
                }
            }
            serde_json::to_vec(&value).map_err(std::io::Error::other)?
        };
        // The shared copy first: a holder fenced off records nothing more,
        // here either, and stops.
        if let Some((lock, run_id)) = &self.shared {
            lock.append(run_id, seq, &line).map_err(|e| {
                // Nothing with this number was stored: a later append must not
                // leave a gap.
                self.seq.store(seq - 1, Ordering::SeqCst);
                JournalError::Fenced(e.0)
            })?;
        }
        line.push(b'\n');
        file.write_all(&line)?;
        file.sync_data()?;
        Ok(entry)
    }
}

/// Why a journal cannot be continued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The file could not be read or repaired.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The `crash_after_journal_entries` test hook fired: the process "died".
    #[error("simulated crash")]
    Crashed,
    /// The shared coordination refused the entry: this process no longer holds
    /// the plan's lock (its lease expired; another machine may have taken the
    /// run over), or cannot confirm it. It records nothing more and stops.
    #[error("{0}")]
    Fenced(String),
    /// A record before the last one is not a valid entry, or the sequence breaks:
    /// the journal was damaged or edited, so what ran is not known for certain.
    #[error(
        "{path}:{line}: {message}; the journal is damaged, so `dr resume` cannot tell what already ran. \
         Inspect the run by hand (its report: `dr report RUN_ID`)"
    )]
    Damaged {
        /// The journal file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Reads a run's journal to continue it: every entry must be intact and
/// numbered 1, 2, 3, ... A torn last line (the process died while writing it,
/// so it has no final newline) is cut off the file, so what the resumed run
/// appends starts on a line of its own. Anything else that does not parse is
/// [`JournalError::Damaged`], naming the line.
pub fn read_for_resume(run_dir: &Path) -> Result<Vec<Entry>, JournalError> {
    let path = Journal::path_in(run_dir);
    let mut bytes = Vec::new();
    File::open(&path)?.read_to_end(&mut bytes)?;
    let damaged = |line: usize, message: String| JournalError::Damaged {
        path: path.display().to_string(),
        line,
        message,
    };
    // A final line without its newline was being written when the process died;
    // append() writes a record and its newline in one write, so nothing before it
    // can be torn.
    let complete = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None => 0,
    };
    if complete < bytes.len() {
        let f = OpenOptions::new().write(true).open(&path)?;
        f.set_len(complete as u64)?;
        f.sync_all()?;
        bytes.truncate(complete);
    }
    let mut out: Vec<Entry> = Vec::new();
    for (i, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let text = std::str::from_utf8(line).map_err(|_| damaged(n, "not UTF-8 text".into()))?;
        let entry: Entry = serde_json::from_str(text)
            .map_err(|e| damaged(n, format!("not a journal entry ({e})")))?;
        let expected = out.len() as u64 + 1;
        if entry.seq != expected {
            return Err(damaged(
                n,
                format!("entry number {}, expected {expected}", entry.seq),
            ));
        }
        out.push(entry);
    }
    if out.is_empty() {
        return Err(damaged(1, "the journal is empty".into()));
    }
    Ok(out)
}

/// Reads every complete entry of a run's journal, for reports: a torn last line
/// (the process died mid-write) and anything after a damaged line are ignored.
pub fn read(run_dir: &Path) -> std::io::Result<Vec<Entry>> {
    let file = File::open(Journal::path_in(run_dir))?;
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Entry>(&line) {
            Ok(e) => out.push(e),
            Err(_) => break,
        }
    }
    Ok(out)
}
