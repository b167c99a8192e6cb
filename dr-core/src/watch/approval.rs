//! Approving a trigger of a watch in `mode = "approve"`: files in the state dir.
//!
//! When such a watch triggers, it writes `<state-dir>/watch/<key>.pending.json`
//! (a random token, the plan's name, file and digest, when), `<key>` being
//! made of the plan's name and file ([`PlanRef`]), and waits. `dr watch PLAN
//! --approve-trigger` (or [`approve`]) finds the request of that plan file,
//! checks that it is for the same plan text (digest), and writes
//! `<key>.approved` holding the token and the digest; the watch sees it,
//! removes both files and runs the plan. A stale approval (another token)
//! approves nothing; a request the watch withdrew (the side recovered) cannot
//! be approved; another plan file, even of the same name, approves nothing.

use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Plan;

/// Which plan a request is for: its name, the plan file (absolute when it
/// could be resolved) and the digest of its text. Requests are keyed by the
/// name and the file, and an approval is accepted only from the same file
/// with the same text: approving another plan (even one of the same name, or
/// whose name makes the same file stem) or a changed one approves nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRef {
    /// The plan's name.
    pub name: String,
    /// The plan file.
    pub path: String,
    /// SHA-256 of the plan's text ([`Plan::digest`]).
    pub digest: String,
}

impl PlanRef {
    /// The reference of `plan`, loaded from `plan.source.name`.
    pub fn of(plan: &Plan) -> Self {
        let file = Path::new(&plan.source.name);
        let path = std::fs::canonicalize(file)
            .or_else(|_| std::path::absolute(file))
            .unwrap_or_else(|_| file.to_path_buf());
        PlanRef {
            name: plan.name.clone(),
            path: path.display().to_string(),
            digest: plan.digest(),
        }
    }

    /// The file stem of the request's files: the name and the file, hashed.
    fn key(&self) -> String {
        crate::state::file_stem(&format!("{}@{}", self.name, self.path))
    }
}

/// A trigger waiting for approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingApproval {
    /// Unique to this request.
    pub token: String,
    /// The plan's name.
    pub plan: String,
    /// The plan file the watch loaded.
    pub plan_path: String,
    /// The digest of the plan the watch runs once approved.
    pub plan_digest: String,
    /// When the watch asked.
    pub requested_at: DateTime<Utc>,
    /// The watching process.
    pub pid: u32,
}

/// Why an approval was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApproveError {
    /// No watch of this plan file waits for an approval.
    #[error("no `dr watch` of plan `{plan}` ({path}) is waiting for an approval")]
    NotPending {
        /// The plan's name.
        plan: String,
        /// The plan file.
        path: String,
    },
    /// The waiting watch loaded another version of the plan.
    #[error(
        "the `dr watch` of plan `{plan}` ({path}, pid {pid}) waits with another version of the plan \
         (digest {waiting}, this file is {given}): it would run what it loaded, not this file; \
         approve from the same plan file, unchanged"
    )]
    Changed {
        /// The plan's name.
        plan: String,
        /// The plan file.
        path: String,
        /// The waiting watch's process.
        pid: u32,
        /// The digest the watch loaded.
        waiting: String,
        /// The digest of the plan given to approve.
        given: String,
    },
    /// The approval could not be written.
    #[error("cannot write the approval: {0}")]
    Io(#[from] io::Error),
}

/// `<state_dir>/watch/<key>.pending.json`.
pub fn pending_path(state_dir: &Path, plan: &PlanRef) -> PathBuf {
    state_dir
        .join("watch")
        .join(format!("{}.pending.json", plan.key()))
}

fn approved_path(state_dir: &Path, plan: &PlanRef) -> PathBuf {
    state_dir
        .join("watch")
        .join(format!("{}.approved", plan.key()))
}

/// Writes a new request (replacing any earlier one and its approval).
pub fn request(state_dir: &Path, plan: &PlanRef) -> io::Result<PendingApproval> {
    let p = PendingApproval {
        token: uuid::Uuid::new_v4().simple().to_string(),
        plan: plan.name.clone(),
        plan_path: plan.path.clone(),
        plan_digest: plan.digest.clone(),
        requested_at: Utc::now(),
        pid: std::process::id(),
    };
    let path = pending_path(state_dir, plan);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(approved_path(state_dir, plan));
    std::fs::write(&path, serde_json::to_vec(&p).map_err(io::Error::other)?)?;
    Ok(p)
}

/// The request of this plan file waiting for approval, if any (whatever its
/// digest).
pub fn pending(state_dir: &Path, plan: &PlanRef) -> Option<PendingApproval> {
    std::fs::read(pending_path(state_dir, plan))
        .ok()
        .and_then(|b| serde_json::from_slice::<PendingApproval>(&b).ok())
        .filter(|p| p.plan == plan.name && p.plan_path == plan.path)
}

/// Approves the pending request of `plan`: refused when none waits for this
/// plan file, or when the waiting watch loaded another version of it.
pub fn approve(state_dir: &Path, plan: &PlanRef) -> Result<PendingApproval, ApproveError> {
    let Some(p) = pending(state_dir, plan) else {
        return Err(ApproveError::NotPending {
            plan: plan.name.clone(),
            path: plan.path.clone(),
        });
    };
    if p.plan_digest != plan.digest {
        return Err(ApproveError::Changed {
            plan: plan.name.clone(),
            path: plan.path.clone(),
            pid: p.pid,
            waiting: p.plan_digest,
            given: plan.digest.clone(),
        });
    }
    std::fs::write(
        approved_path(state_dir, plan),
        format!("{} {}", p.token, p.plan_digest),
    )?;
    Ok(p)
}

/// Whether the request `pending` was approved (its token, for its plan's digest).
pub fn is_approved(state_dir: &Path, plan: &PlanRef, pending: &PendingApproval) -> bool {
    std::fs::read_to_string(approved_path(state_dir, plan)).is_ok_and(|t| {
        let mut parts = t.split_whitespace();
        parts.next() == Some(pending.token.as_str())
            && parts.next() == Some(pending.plan_digest.as_str())
            && pending.plan == plan.name
            && pending.plan_digest == plan.digest
    })
}

/// Removes the request and its approval.
pub fn withdraw(state_dir: &Path, plan: &PlanRef) {
    let _ = std::fs::remove_file(pending_path(state_dir, plan));
    let _ = std::fs::remove_file(approved_path(state_dir, plan));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str, path: &str, digest: &str) -> PlanRef {
        PlanRef {
            name: name.into(),
            path: path.into(),
            digest: digest.into(),
        }
    }

    #[test]
    fn request_approve_withdraw() {
        let dir = tempfile::tempdir().unwrap();
        let sd = dir.path();
        let p = r("p/q", "/plans/p.toml", "d1");
        assert!(matches!(
            approve(sd, &p),
            Err(ApproveError::NotPending { .. })
        ));
        let req = request(sd, &p).unwrap();
        assert!(!is_approved(sd, &p, &req));
        assert_eq!(approve(sd, &p).unwrap().token, req.token);
        assert!(is_approved(sd, &p, &req));
        // A new request is not approved by the old approval.
        let r2 = request(sd, &p).unwrap();
        assert!(!is_approved(sd, &p, &r2));
        withdraw(sd, &p);
        assert_eq!(pending(sd, &p), None);
    }

    #[test]
    fn another_plan_or_another_version_approves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let sd = dir.path();
        let waiting = r("eu/api", "/plans/eu/api.toml", "d1");
        let req = request(sd, &waiting).unwrap();
        for other in [
            r("eu_api", "/plans/eu/api.toml", "d1"),
            r("eu/api", "/plans/eu_api.toml", "d1"),
        ] {
            assert!(
                matches!(approve(sd, &other), Err(ApproveError::NotPending { .. })),
                "{other:?}"
            );
        }
        let changed = r("eu/api", "/plans/eu/api.toml", "d2");
        assert!(matches!(
            approve(sd, &changed),
            Err(ApproveError::Changed { .. })
        ));
        assert!(!is_approved(sd, &waiting, &req));
    }
}
