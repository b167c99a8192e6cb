//! What a running plan carries: the plan, the options, the journal, the audit
//! log and the retry budget, shared by the scheduler (`run`) and the steps
//! (`steps`), which depend on it and not on each other's internals.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::{Event, ExecError, RunOptions, run_dir};
use crate::Plan;
use crate::audit::AuditRecord;
use crate::coord::{AuditLog, RunLock};
use crate::journal::{Journal, Record};
use crate::lock::host;
use crate::redact::Redactor;
use crate::retry::RetryBudget;

/// Everything a running step needs.
pub(crate) struct Ctx {
    pub plan: Arc<Plan>,
    pub opts: RunOptions,
    pub run_id: String,
    pub journal: Arc<Journal>,
    pub budget: Arc<RetryBudget>,
    pub redactor: Redactor,
    pub host: String,
    pub digest: String,
    pub audit: Arc<dyn AuditLog>,
    /// The fencing token of the plan lock (`None` for a lock file).
    token: Option<u64>,
    /// Why the run lost its lock, once it did: it stops recording and calling.
    lock_lost: std::sync::Mutex<Option<String>>,
    /// How this run fails over now (graceful or ungraceful).
    pub mode: crate::RunMode,
    /// How many journal entries the run had when this process took it on
    /// (0 for a new run): tells this process's notifications from another's.
    pub opened_at: u64,
    /// Notifications sent in the background (`run_started`).
    pub(super) notices: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// The lag each replicator had when this run stopped it (journaled, so a
    /// resumed run knows it too): the RPO gate of a later promote uses it when
    /// the stopped link reports no lag any more.
    stop_lags: std::sync::Mutex<HashMap<String, StopLag>>,
}

/// What a run holds through its coordination: the audit log and the plan lock.
pub(crate) struct Held {
    pub audit: Arc<dyn AuditLog>,
    pub lock: Arc<dyn RunLock>,
}

/// What a `replication.stop` step of this run measured.
#[derive(Debug, Clone)]
pub(crate) struct StopLag {
    /// The step that stopped the link.
    pub step: String,
    /// The lag at the stop (None: the provider could not tell).
    pub lag_ms: Option<u64>,
}

impl Ctx {
    /// Opens the audit log as `opts` say (with their key): first, so that a
    /// keyed log without its key refuses the run before anything is written.
    pub(super) async fn open_audit(opts: &RunOptions) -> Result<Arc<dyn AuditLog>, ExecError> {
        let coordination = opts.coordination();
        coordination
            .open_audit(opts.audit_key.as_deref())
            .await
            .map_err(|e| match crate::audit::KeyRefused::find(&e) {
                Some(refused) => ExecError::AuditKey(refused.clone()),
                None if coordination.is_shared() => ExecError::Coordination {
                    what: format!("the audit log in {}", coordination.describe()),
                    source: e,
                },
                None => ExecError::Io(e),
            })
    }

    /// Opens the run's journal (continuing after `seq` existing entries), with
    /// the audit log [`Ctx::open_audit`] opened.
    pub(super) fn open(
        plan: Arc<Plan>,
        opts: RunOptions,
        held: Held,
        run_id: &str,
        seq: u64,
        stop_lags: HashMap<String, StopLag>,
        mode: crate::RunMode,
    ) -> Result<Arc<Ctx>, ExecError> {
        let Held { audit, lock } = held;
        let dir = run_dir(&opts.state_dir, run_id);
        let journal = Journal::open(
            &dir,
            seq,
            plan.redactor().clone(),
            opts.crash_hook(),
            Some((lock.clone(), run_id.to_string())),
        )?;
        Ok(Arc::new(Ctx {
            redactor: plan.redactor().clone(),
            budget: Arc::new(RetryBudget::new(opts.retry.budget)),
            host: host(),
            digest: plan.digest(),
            audit,
            token: Some(lock.token()).filter(|t| *t != 0),
            lock_lost: std::sync::Mutex::new(None),
            mode,
            opened_at: seq,
            notices: std::sync::Mutex::new(Vec::new()),
            plan,
            opts,
            run_id: run_id.to_string(),
            journal: Arc::new(journal),
            stop_lags: std::sync::Mutex::new(stop_lags),
        }))
    }

    pub fn emit(&self, event: Event) {
        if let Some(sink) = &self.opts.events {
            sink(&event);
        }
    }

    pub fn redact(&self, s: &str) -> String {
        self.redactor.redact(s)
    }

    /// Appends to the journal (write + fsync) off the runtime's worker threads.
    pub async fn journal(&self, record: Record) -> Result<(), ExecError> {
        let journal = self.journal.clone();
        let appended = super::blocking(move || journal.append(record)).await;
        appended.map(|_| ()).map_err(|e| self.journal_error(e))
    }

    /// A journal error as the run's: a lost lock is remembered (the run stops
    /// and says why) and names the run.
    fn journal_error(&self, e: crate::journal::JournalError) -> ExecError {
        match ExecError::from(e) {
            ExecError::LockLost { message, .. } => {
                *self.lock_lost.lock().unwrap_or_else(|p| p.into_inner()) = Some(message.clone());
                self.lost_lock(message)
            }
            other => other,
        }
    }

    fn lost_lock(&self, message: String) -> ExecError {
        ExecError::LockLost {
            run_id: self.run_id.clone(),
            plan: self.plan.name.clone(),
            message,
        }
    }

    /// The fencing token of the plan lock, under a shared coordination.
    pub fn lock_token(&self) -> Option<u64> {
        self.token
    }

    /// The run lost its lock ([`ExecError::LockLost`]), if it did.
    pub(super) fn lock_lost(&self) -> Option<ExecError> {
        let lost = self
            .lock_lost
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        lost.map(|m| self.lost_lock(m))
    }

    /// Remembers the lag `replicator` had when `step` stopped it.
    pub fn record_stop_lag(&self, replicator: &str, step: &str, lag_ms: Option<u64>) {
        self.stop_lags
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                replicator.to_string(),
                StopLag {
                    step: step.to_string(),
                    lag_ms,
                },
            );
    }

    /// The lag measured when this run stopped `replicator`, if it did.
    pub fn stop_lag(&self, replicator: &str) -> Option<StopLag> {
        self.stop_lags
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(replicator)
            .cloned()
    }

    /// Journals the end of a step, then audits it: one trip off the runtime's
    /// worker threads for both (each trip is a thread handoff, a large part of
    /// the executor's per-step cost beyond its fsyncs).
    pub(super) async fn journal_and_audit(
        &self,
        record: Record,
        audit: (&str, &str, &Value, &Value, &str),
    ) -> Result<(), ExecError> {
        let (step, action, before, after, result) = audit;
        let rec = self.audit_record(step, action, before, after, result);
        let (journal, writer, redactor) = (
            self.journal.clone(),
            self.audit.clone(),
            self.redactor.clone(),
        );
        let (journaled, audited) = super::blocking(move || {
            let journaled = journal.append(record);
            // Audited only once journaled, as before: a journal that cannot be
            // written stops the run, and the audit log records what took effect.
            let audited = journaled.is_ok().then(|| writer.append(&rec, &redactor));
            (journaled, audited)
        })
        .await;
        journaled.map_err(|e| self.journal_error(e))?;
        if let Some(Err(e)) = audited {
            self.emit(Event::Warning {
                step: Some(step.into()),
                message: format!("could not write the audit log: {e}"),
            });
        }
        Ok(())
    }

    /// Waits for the notifications sent in the background.
    pub(super) async fn settle_notices(&self) {
        let tasks = std::mem::take(&mut *self.notices.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            let _ = t.await;
        }
    }

    /// The promotion a `datastore.promote` step asks of its store: this run's
    /// mode, and whether it accepts data loss.
    pub fn promotion(&self) -> crate::Promotion {
        crate::Promotion::new(self.mode).accept_data_loss(self.opts.accept_data_loss)
    }

    fn audit_record(
        &self,
        step: &str,
        action: &str,
        before: &Value,
        after: &Value,
        result: &str,
    ) -> AuditRecord {
        AuditRecord {
            operator: self.opts.operator.clone(),
            host: self.host.clone(),
            plan: self.plan.name.clone(),
            plan_digest: self.digest.clone(),
            run_id: self.run_id.clone(),
            step: step.into(),
            action: action.into(),
            before: before.clone(),
            after: after.clone(),
            result: result.into(),
        }
    }

    /// Appends to the audit log (which may wait for another process's file
    /// lock) off the runtime's worker threads.
    pub(super) async fn audit(
        &self,
        step: &str,
        action: &str,
        before: &Value,
        after: &Value,
        result: &str,
    ) {
        let rec = self.audit_record(step, action, before, after, result);
        let (audit, redactor) = (self.audit.clone(), self.redactor.clone());
        let result = super::blocking(move || audit.append(&rec, &redactor)).await;
        if let Err(e) = result {
            self.emit(Event::Warning {
                step: Some(step.into()),
                message: format!("could not write the audit log: {e}"),
            });
        }
    }
}
