//! The run journal: append-only JSONL, fsync'd, written before and after every
//! side effect with the captured prior state. Resume and reports read it.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::TrafficSplit;
use crate::executor::ExecError;
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
    },
    /// A process continued the run.
    Resumed {
        /// Who resumed it.
        operator: String,
        /// Where.
        host: String,
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
        /// `succeeded` or `failed`.
        status: String,
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
        /// Replication lag observed (stop, promote, check).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lag_ms: Option<u64>,
        /// Whether this step changed traffic (RTO counts up to the last one).
        #[serde(default)]
        traffic: bool,
        /// When the step started (this attempt of the run).
        started_at: DateTime<Utc>,
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
        status: String,
        /// What was done.
        detail: String,
    },
    /// The run ended.
    RunFinished {
        /// `succeeded`, `failed` or `rolled_back`.
        status: String,
        /// Why it failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

/// An open journal being appended to.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    seq: AtomicU64,
    written: AtomicU64,
    fsyncs: AtomicU64,
    crash_after: Option<u64>,
    redactor: Redactor,
}

impl Journal {
    /// The journal file of a run directory.
    pub fn path_in(run_dir: &Path) -> PathBuf {
        run_dir.join("journal.jsonl")
    }

    /// Opens (creating if needed) the journal in `run_dir` for appending; `seq`
    /// continues from `existing` entries.
    pub(crate) fn open(
        run_dir: &Path,
        existing: u64,
        redactor: Redactor,
        crash_after: Option<usize>,
    ) -> std::io::Result<Journal> {
        fs::create_dir_all(run_dir)?;
        let path = Self::path_in(run_dir);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Journal {
            path,
            file: Mutex::new(file),
            seq: AtomicU64::new(existing),
            written: AtomicU64::new(0),
            fsyncs: AtomicU64::new(0),
            crash_after: crash_after.map(|n| n as u64),
            redactor,
        })
    }

    /// Appends `record` and fsyncs before returning.
    pub(crate) fn append(&self, record: Record) -> Result<Entry, ExecError> {
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(limit) = self.crash_after
            && self.seq.load(Ordering::SeqCst) >= limit
        {
            return Err(ExecError::Crashed);
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
            self.redactor.redact_json(&mut value);
            serde_json::to_vec(&value).map_err(std::io::Error::other)?
        };
        line.push(b'\n');
        file.write_all(&line)?;
        file.sync_data()?;
        self.written.fetch_add(1, Ordering::Relaxed);
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        Ok(entry)
    }

    /// fsyncs done by this handle (benchmarks report it).
    pub fn fsyncs(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads every complete entry of a run's journal. A torn last line (the process
/// died mid-write) is ignored.
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
