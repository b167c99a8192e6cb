//! Coordination: where a run's lock, journal and audit log live, so that
//! every machine running a plan sees the same ones.
//!
//! The executor talks to a [`Coordination`] for the plan's lock, for the
//! journal's shared copy and for the audit log. Two implementations exist:
//!
//! - [`StateDir`], the default: the lock file (`<state-dir>/locks/`, or
//!   `[plan] lock_dir` / `DR_LOCK_DIR`), the run's journal file and the state
//!   dir's audit chain. One machine (or machines sharing one file system) sees
//!   them. Nothing changes from before the seam existed.
//! - `dr-etcd` (a crate of its own): the lock is a lease-bound key whose create
//!   revision is the fencing token; every journal entry is put in a transaction
//!   conditioned on that token; the audit chain is kept in etcd. Any machine
//!   given the same `--coordination` resumes, reports and verifies.
//!
//! The run's journal file in the state dir is always written: with a shared
//! coordination it is the local copy, and [`RunLock::append`] stores each entry
//! where the other machines read it *before* the local copy is written. A
//! [`RunLock::append`] that fails ([`Fenced`]) stops the run at once: a holder
//! whose lock was taken over cannot record, so it calls no provider after that.
//!
//! # Writing an implementation
//!
//! [`RunLock::append`], [`RunLock::put_file`] and the [`AuditLog`] methods
//! are called off the runtime's worker threads (they may block; an async
//! client can use `tokio::runtime::Handle::block_on` there). The async methods
//! are called on the runtime.

use std::fmt::Debug;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::Plan;
use crate::audit::{AuditHead, AuditRecord, AuditWriter, Tampered, VerifyReport};
use crate::lock::{LockError, PlanLock};
use crate::redact::Redactor;

/// A lock that no longer holds (its lease expired and another run took it, or
/// the store cannot confirm it): the holder stops, recording nothing more.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Fenced(pub String);

/// Where runs of plans are coordinated: the plan lock, the journal's shared
/// copy and the audit log. See the [module docs](self).
#[async_trait]
pub trait Coordination: Send + Sync + Debug {
    /// Where, for messages (`state dir /var/lib/dr`, `etcd 10.0.1.5:2379,..`).
    fn describe(&self) -> String;

    /// Whether other machines see what this one records (etcd: yes; the state
    /// dir: no). A shared coordination fetches a run before resuming it.
    fn is_shared(&self) -> bool {
        false
    }

    /// Takes `plan`'s lock for `run_id`: refused ([`LockError::Held`]) while
    /// another run holds it.
    async fn lock(&self, plan: &Plan, run_id: &str) -> Result<Arc<dyn RunLock>, LockError>;

    /// `Ok` when `plan`'s lock is free; else why not (who holds it).
    async fn check_lock(&self, plan: &Plan) -> Result<(), LockError>;

    /// Makes run `run_id`'s journal and plan copies available in
    /// `<state_dir>/runs/<run_id>/` (the shared copy replaces the local one).
    /// `false` when the run is not known here. The state dir: nothing to copy.
    async fn fetch_run(&self, run_id: &str, state_dir: &Path) -> io::Result<bool>;

    /// [`fetch_run`](Self::fetch_run) for every run known here (`dr status`).
    async fn fetch_runs(&self, state_dir: &Path) -> io::Result<usize>;

    /// The audit log, refusing ([`crate::audit::KeyRefused`] inside the
    /// error) a keyed log without its key or with another key.
    async fn open_audit(&self, key: Option<&[u8]>) -> io::Result<Arc<dyn AuditLog>>;

    /// Checks the audit chain (`dr audit verify`), with the journals' recorded
    /// heads. The outer error: the log could not be read at all.
    async fn verify_audit(&self, key: Option<&[u8]>) -> io::Result<Result<VerifyReport, Tampered>>;
}

/// A held plan lock. Released by [`release`](Self::release); an
/// implementation also releases it, as well as it can, when dropped.
#[async_trait]
pub trait RunLock: Send + Sync + Debug {
    /// The fencing token: etcd's create revision of the lock key; 0 for a
    /// lock file (only one machine sees it).
    fn token(&self) -> u64;

    /// Stores journal entry `seq` of `run_id` (`line`, as written to the
    /// local journal, without its newline) where other machines read it, only
    /// while this lock holds. Blocking. The state dir: nothing to do (the
    /// local journal is the store).
    fn append(&self, run_id: &str, seq: u64, line: &[u8]) -> Result<(), Fenced>;

    /// Stores a file of the run (`plan.toml`, `children/…`, relative to the
    /// run directory) for machines that resume it. Blocking.
    fn put_file(&self, run_id: &str, rel: &str, bytes: &[u8]) -> io::Result<()>;

    /// Releases the lock (only if it is still this holder's).
    async fn release(&self);
}

/// An audit log being appended to. Blocking methods.
pub trait AuditLog: Send + Sync + Debug {
    /// Appends one entry, redacted.
    fn append(&self, record: &AuditRecord, redactor: &Redactor) -> io::Result<()>;
    /// Makes what was appended durable and returns the chain's last entry.
    fn sync_head(&self) -> io::Result<Option<AuditHead>>;
    /// The records of run `run_id`, in order (`dr resume`'s integrity check).
    fn records_of_run(&self, run_id: &str) -> io::Result<Vec<AuditRecord>>;
}

/// The default [`Coordination`]: one machine's state dir (see the
/// [module docs](self)).
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// The state dir `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        StateDir { dir: dir.into() }
    }

    /// [`Coordination::open_audit`], blocking.
    pub fn open_audit_blocking(&self, key: Option<&[u8]>) -> io::Result<Arc<dyn AuditLog>> {
        let writer = AuditWriter::open(&self.dir, key)?;
        Ok(Arc::new(FileAudit {
            dir: self.dir.clone(),
            writer: Mutex::new(writer),
        }))
    }
}

#[async_trait]
impl Coordination for StateDir {
    fn describe(&self) -> String {
        format!("state dir {}", self.dir.display())
    }

    async fn lock(&self, plan: &Plan, run_id: &str) -> Result<Arc<dyn RunLock>, LockError> {
        let lock = PlanLock::acquire(&crate::lock::lock_dir(&self.dir, plan), &plan.name, run_id)?;
        Ok(Arc::new(FileLock(Mutex::new(Some(lock)))))
    }

    async fn check_lock(&self, plan: &Plan) -> Result<(), LockError> {
        PlanLock::check(&crate::lock::lock_dir(&self.dir, plan), &plan.name)
    }

    async fn fetch_run(&self, run_id: &str, state_dir: &Path) -> io::Result<bool> {
        Ok(crate::state::RunDir::new(state_dir, run_id)
            .journal()
            .exists())
    }

    async fn fetch_runs(&self, _state_dir: &Path) -> io::Result<usize> {
        Ok(0)
    }

    async fn open_audit(&self, key: Option<&[u8]>) -> io::Result<Arc<dyn AuditLog>> {
        self.open_audit_blocking(key)
    }

    async fn verify_audit(&self, key: Option<&[u8]>) -> io::Result<Result<VerifyReport, Tampered>> {
        Ok(crate::audit::verify(&self.dir, key))
    }
}

/// A lock file held for a run.
#[derive(Debug)]
struct FileLock(Mutex<Option<PlanLock>>);

#[async_trait]
impl RunLock for FileLock {
    fn token(&self) -> u64 {
        0
    }

    fn append(&self, _run_id: &str, _seq: u64, _line: &[u8]) -> Result<(), Fenced> {
        Ok(())
    }

    fn put_file(&self, _run_id: &str, _rel: &str, _bytes: &[u8]) -> io::Result<()> {
        Ok(())
    }

    async fn release(&self) {
        drop(self.0.lock().unwrap_or_else(|p| p.into_inner()).take());
    }
}

/// The state dir's audit chain.
#[derive(Debug)]
struct FileAudit {
    dir: PathBuf,
    writer: Mutex<AuditWriter>,
}

impl AuditLog for FileAudit {
    fn append(&self, record: &AuditRecord, redactor: &Redactor) -> io::Result<()> {
        self.writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .append(record, redactor)
    }

    fn sync_head(&self) -> io::Result<Option<AuditHead>> {
        let w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        w.sync()?;
        w.head()
    }

    fn records_of_run(&self, run_id: &str) -> io::Result<Vec<AuditRecord>> {
        crate::audit::records_of_run(&self.dir, run_id)
    }
}
