//! The state dir's layout, in one place: where runs, journals, plan copies,
//! reports, locks and the audit log live.
//!
//! ```text
//! STATE_DIR/
//!   runs/RUN_ID/journal.jsonl   the run's journal (append-only, fsync'd)
//!   runs/RUN_ID/plan.toml       the plan exactly as it ran (plan.json for JSON plans)
//!   runs/RUN_ID/report.json     the report, written when the run ends
//!   locks/PLAN.lock             default lock dir (see `lock::lock_dir`)
//!   audit.jsonl, audit.head     the hash-chained audit log and its head
//!   audit.lock                  serializes appends across processes
//! ```

use std::path::{Path, PathBuf};

/// A run's directory and the files in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// `STATE_DIR/runs/RUN_ID`.
    pub fn new(state_dir: &Path, run_id: &str) -> Self {
        RunDir {
            path: state_dir.join("runs").join(run_id),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The journal of the run.
    pub fn journal(&self) -> PathBuf {
        journal_in(&self.path)
    }

    /// The report written when the run ends.
    pub fn report(&self) -> PathBuf {
        self.path.join("report.json")
    }

    /// The copy of the plan the run executes (`plan.json` when the original was
    /// JSON, else `plan.toml`).
    pub fn plan_copy(&self, original: &str) -> PathBuf {
        self.path.join(if original.ends_with(".json") {
            "plan.json"
        } else {
            "plan.toml"
        })
    }
}

/// The journal file in a run directory.
pub(crate) fn journal_in(run_dir: &Path) -> PathBuf {
    run_dir.join("journal.jsonl")
}

/// Where plan locks live unless the plan or `DR_LOCK_DIR` says otherwise.
pub(crate) fn default_lock_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("locks")
}

/// The audit log, its head file and its append lock.
pub(crate) fn audit_files(state_dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (
        state_dir.join("audit.jsonl"),
        state_dir.join("audit.head"),
        state_dir.join("audit.lock"),
    )
}
