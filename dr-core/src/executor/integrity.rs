//! Whether a run's files can be trusted to continue it. `dr resume` acts on
//! what the journal says already ran; a journal that lost its last records, a
//! journal of another run, or an edited plan copy would make it repeat or skip
//! real changes. [`check`] gathers every reason not to trust them, so the
//! operator reads them all at once.

use std::collections::BTreeMap;
use std::path::Path;

use super::ExecError;
use crate::Plan;
use crate::journal::{Entry, Record};
use crate::redact::Redactor;

/// What the executor writes to the audit log for a journal record, as
/// `(step, action, result)`, when it writes anything: a step's end
/// (`step_finished`; `done_by_operator` or `skipped_by_operator` when the
/// operator decided it), a compensation
/// (`rollback`) and the run's end (`-`, `run`). The executor writes a step's
/// end and a compensation to the journal first (fsync'd) and to the audit log
/// second, so an intact journal holds at least what the audit log holds of
/// them. The run's end goes the other way (the journal's `run_finished`
/// records the audit head that includes it): a process that died between the
/// two leaves one run-end audit record the journal does not have.
pub(super) fn audited(record: &Record) -> Option<(String, String, String)> {
    match record {
        Record::StepFinished {
            step,
            action,
            status,
            attested,
            ..
        } => Some((
            step.clone(),
            action.clone(),
            match attested {
                Some(a) => a.decision.audit_result().to_string(),
                None => status.as_str().to_string(),
            },
        )),
        Record::StepCompensated { step, status, .. } => Some((
            step.clone(),
            "rollback".to_string(),
            status.as_str().to_string(),
        )),
        Record::RunFinished { status, .. } => {
            Some(("-".to_string(), "run".to_string(), status.clone()))
        }
        Record::RunStarted {
            lock_token: Some(t),
            ..
        }
        | Record::Resumed {
            lock_token: Some(t),
            ..
        } => Some(("-".to_string(), "lock".to_string(), format!("token {t}"))),
        Record::ModeChanged { to, .. } => {
            Some(("-".to_string(), "mode".to_string(), to.as_str().to_string()))
        }
        _ => None,
    }
}

/// Every reason run `run_id` cannot be resumed from these files (empty: it
/// can):
///
/// - the journal's `run_started` names another run (a journal copied in);
/// - the plan copy's SHA-256 is not the digest journaled at `run_started`
///   (the copy was edited or replaced);
/// - a `${env:VAR}` the plan uses has another value than when the run
///   started (only when the copy parsed: `plan`);
/// - the audit log holds records of this run that the journal does not (the
///   journal lost its last records: cut, or replaced by an older copy).
pub(super) fn check(
    state_dir: &Path,
    run_id: &str,
    entries: &[Entry],
    plan_text: &str,
    plan: Option<&Plan>,
    audit: &dyn crate::coord::AuditLog,
) -> Vec<String> {
    let mut reasons = Vec::new();
    let Some(Record::RunStarted {
        run_id: journaled_id,
        digest,
        file,
        env,
        ..
    }) = entries.first().map(|e| &e.record)
    else {
        return vec!["the journal has no run_started entry".into()];
    };
    if journaled_id != run_id {
        reasons.push(format!(
            "the journal is run `{journaled_id}`'s, not `{run_id}`'s (it was copied from \
             another run's folder)"
        ));
    }
    // With child plans, the digest covers their copies too.
    let now = plan.map(Plan::digest).unwrap_or_else(|| {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(plan_text.as_bytes()))
    });
    if now != *digest {
        reasons.push(format!(
            "the plan copy of the run ({}) is not the plan the run started with (SHA-256 \
             {digest} journaled at run_started, {now} now): it was edited or replaced",
            crate::state::RunDir::new(state_dir, run_id)
                .plan_copy(file)
                .display()
        ));
    }
    if let Some(plan) = plan {
        let now = super::run::env_digests(plan, run_id);
        let changed: Vec<String> = env
            .keys()
            .chain(now.keys())
            .filter(|k| env.get(*k) != now.get(*k))
            .map(|k| format!("${{env:{k}}}"))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !changed.is_empty() {
            reasons.push(format!(
                "the run started with other values of {}: resuming would act on different \
                 resources or credentials than the run journaled. Set them as they were when \
                 the run started, or start a new run",
                changed.join(", ")
            ));
        }
    }
    let redactor = plan.map(|p| p.redactor().clone()).unwrap_or_default();
    match audit.records_of_run(&redactor.redact(run_id)) {
        Ok(records) => reasons.extend(audit_ahead(entries, &records, &redactor)),
        Err(e) => reasons.push(format!(
            "cannot read the audit log to check the journal against it: {e}"
        )),
    }
    reasons
}

/// What the audit log records of the run beyond what the journal holds.
fn audit_ahead(
    entries: &[Entry],
    records: &[crate::audit::AuditRecord],
    redactor: &Redactor,
) -> Vec<String> {
    // The audit log holds redacted text: compare like with like.
    let mut journaled: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for (step, action, result) in entries.iter().filter_map(|e| audited(&e.record)) {
        let key = (
            redactor.redact(&step),
            redactor.redact(&action),
            redactor.redact(&result),
        );
        *journaled.entry(key).or_default() += 1;
    }
    // Each process that carried the run (the first, then one per `resumed`)
    // may have died between its run-end audit record and its `run_finished`.
    let processes = 1 + entries
        .iter()
        .filter(|e| matches!(e.record, Record::Resumed { .. }))
        .count();
    let ended = entries
        .iter()
        .filter(|e| matches!(e.record, Record::RunFinished { .. }))
        .count();
    let mut unjournaled_ends = processes.saturating_sub(ended);
    let mut out = Vec::new();
    for r in records {
        let key = (r.step.clone(), r.action.clone(), r.result.clone());
        match journaled.get_mut(&key) {
            Some(n) if *n > 0 => *n -= 1,
            _ if r.step == "-" && r.action == "run" && unjournaled_ends > 0 => {
                unjournaled_ends -= 1;
            }
            _ => {
                let what = if r.step == "-" {
                    format!("the run ended `{}`", r.result)
                } else {
                    format!("step `{}` ({}) {}", r.step, r.action, r.result)
                };
                out.push(format!(
                    "the audit log records that {what}, which the journal does not: the \
                     journal lost records (cut or replaced), so it cannot say what already ran"
                ));
            }
        }
    }
    out
}

/// Refuses the resume when [`check`] found reasons, naming each.
pub(super) fn refuse(run_id: &str, reasons: Vec<String>) -> Result<(), ExecError> {
    if reasons.is_empty() {
        return Ok(());
    }
    Err(ExecError::Resume(format!(
        "cannot resume run `{run_id}`: its files cannot be trusted:\n{}\nInspect the run by \
         hand (`dr report {run_id}`, `dr audit verify`) and finish it deliberately, or start \
         a new run",
        reasons
            .iter()
            .map(|r| format!("  - {r}"))
            .collect::<Vec<_>>()
            .join("\n")
    )))
}

#[cfg(test)]
mod tests {
    fn audit_of(dir: &Path) -> std::sync::Arc<dyn crate::coord::AuditLog> {
        crate::coord::StateDir::new(dir)
            .open_audit_blocking(None)
            .unwrap()
    }

    use super::*;
    use crate::audit::AuditRecord;
    use crate::outcome::StepStatus;

    fn entry(seq: u64, record: Record) -> Entry {
        Entry {
            seq,
            ts: chrono::Utc::now(),
            record,
        }
    }

    fn started(run_id: &str, digest: &str) -> Record {
        Record::RunStarted {
            run_id: run_id.into(),
            plan: "p".into(),
            digest: digest.into(),
            file: "p.toml".into(),
            operator: "op".into(),
            host: "h".into(),
            rto_target_ms: None,
            rpo_target_ms: None,
            steps: vec!["cmd".into()],
            env: BTreeMap::new(),
            mode: crate::RunMode::Graceful,
            lock_token: None,
        }
    }

    fn finished(step: &str) -> Record {
        Record::StepFinished {
            step: step.into(),
            action: "exec".into(),
            status: StepStatus::Succeeded,
            attempts: 1,
            after: serde_json::Value::Null,
            detail: None,
            error: None,
            error_kind: None,
            request_id: None,
            lag_ms: None,
            traffic: false,
            started_at: chrono::Utc::now(),
            attested: None,
        }
    }

    fn audit(step: &str, result: &str) -> AuditRecord {
        AuditRecord {
            operator: "op".into(),
            host: "h".into(),
            plan: "p".into(),
            plan_digest: "d".into(),
            run_id: "r1".into(),
            step: step.into(),
            action: "exec".into(),
            before: serde_json::Value::Null,
            after: serde_json::Value::Null,
            result: result.into(),
        }
    }

    fn sha(text: &str) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    #[test]
    fn an_intact_run_has_no_reasons_and_every_reason_is_gathered() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[plan]\nname = \"p\"\n";
        let entries = vec![
            entry(1, started("r1", &sha(text))),
            entry(2, finished("cmd")),
        ];
        crate::audit::append(
            dir.path(),
            None,
            &audit("cmd", "succeeded"),
            &Redactor::default(),
        )
        .unwrap();
        assert_eq!(
            check(
                dir.path(),
                "r1",
                &entries,
                text,
                None,
                &*audit_of(dir.path())
            ),
            Vec::<String>::new()
        );

        // A process that died between its run-end audit record and its
        // run_finished: one such record per process is no reason.
        let mut end = audit("-", "interrupted");
        end.action = "run".into();
        crate::audit::append(dir.path(), None, &end, &Redactor::default()).unwrap();
        assert_eq!(
            check(
                dir.path(),
                "r1",
                &entries,
                text,
                None,
                &*audit_of(dir.path())
            ),
            Vec::<String>::new()
        );
        // A second one is.
        crate::audit::append(dir.path(), None, &end, &Redactor::default()).unwrap();

        // Another run's journal, an edited copy, and an audit log ahead of the journal.
        let copied = vec![
            entry(1, started("r0", &sha(text))),
            entry(2, finished("cmd")),
        ];
        let reasons = check(
            dir.path(),
            "r1",
            &copied,
            "edited",
            None,
            &*audit_of(dir.path()),
        );
        assert_eq!(reasons.len(), 3, "{reasons:#?}");
        assert!(
            reasons[0].contains("run `r0`'s, not `r1`'s"),
            "{}",
            reasons[0]
        );
        assert!(reasons[1].contains("edited or replaced"), "{}", reasons[1]);
        assert!(
            reasons[2].contains("the run ended `interrupted`"),
            "{}",
            reasons[2]
        );
    }

    #[test]
    fn a_journal_cut_after_a_step_the_audit_log_recorded_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        crate::audit::append(
            dir.path(),
            None,
            &audit("cmd", "succeeded"),
            &Redactor::default(),
        )
        .unwrap();
        let text = "x";
        let cut = vec![entry(1, started("r1", &sha(text)))];
        let reasons = check(dir.path(), "r1", &cut, text, None, &*audit_of(dir.path()));
        assert_eq!(reasons.len(), 1, "{reasons:#?}");
        assert!(
            reasons[0].contains("step `cmd` (exec) succeeded, which the journal does not"),
            "{}",
            reasons[0]
        );
        // Records of other runs are not this journal's business.
        let mut other = audit("cmd", "succeeded");
        other.run_id = "r2".into();
        crate::audit::append(dir.path(), None, &other, &Redactor::default()).unwrap();
        assert_eq!(
            check(dir.path(), "r1", &cut, text, None, &*audit_of(dir.path())).len(),
            1
        );
    }
}
