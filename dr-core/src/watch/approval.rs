//! Approving a trigger of a watch in `mode = "approve"`: files in the state dir.
//!
//! When such a watch triggers, it writes `<state-dir>/watch/<plan>.pending.json`
//! (a random token, the plan, when) and waits. `dr watch PLAN --approve-trigger`
//! (or [`approve`]) writes `<plan>.approved` holding the same token; the watch
//! sees it, removes both files and runs the plan. A stale approval (another
//! token) approves nothing; a request the watch withdrew (the side recovered)
//! cannot be approved.

use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A trigger waiting for approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingApproval {
    /// Unique to this request.
    pub token: String,
    /// The plan's name.
    pub plan: String,
    /// When the watch asked.
    pub requested_at: DateTime<Utc>,
    /// The watching process.
    pub pid: u32,
}

fn file_name(plan: &str) -> String {
    crate::state::file_stem(plan)
}

/// `<state_dir>/watch/<plan>.pending.json`.
pub fn pending_path(state_dir: &Path, plan: &str) -> PathBuf {
    state_dir
        .join("watch")
        .join(format!("{}.pending.json", file_name(plan)))
}

fn approved_path(state_dir: &Path, plan: &str) -> PathBuf {
    state_dir
        .join("watch")
        .join(format!("{}.approved", file_name(plan)))
}

/// Writes a new request (replacing any earlier one and its approval).
pub fn request(state_dir: &Path, plan: &str) -> io::Result<PendingApproval> {
    let p = PendingApproval {
        token: uuid::Uuid::new_v4().simple().to_string(),
        plan: plan.to_string(),
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

/// The request waiting for approval, if any.
pub fn pending(state_dir: &Path, plan: &str) -> Option<PendingApproval> {
    std::fs::read(pending_path(state_dir, plan))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// Approves the pending request of `plan`; `Ok(None)` when there is none.
pub fn approve(state_dir: &Path, plan: &str) -> io::Result<Option<PendingApproval>> {
    let Some(p) = pending(state_dir, plan) else {
        return Ok(None);
    };
    std::fs::write(approved_path(state_dir, plan), &p.token)?;
    Ok(Some(p))
}

/// Whether the request with `token` was approved.
pub fn is_approved(state_dir: &Path, plan: &str, token: &str) -> bool {
    std::fs::read_to_string(approved_path(state_dir, plan)).is_ok_and(|t| t.trim() == token)
}

/// Removes the request and its approval.
pub fn withdraw(state_dir: &Path, plan: &str) {
    let _ = std::fs::remove_file(pending_path(state_dir, plan));
    let _ = std::fs::remove_file(approved_path(state_dir, plan));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_approve_withdraw() {
        let dir = tempfile::tempdir().unwrap();
        let sd = dir.path();
        assert_eq!(approve(sd, "p/q").unwrap(), None);
        let r = request(sd, "p/q").unwrap();
        assert!(!is_approved(sd, "p/q", &r.token));
        assert_eq!(approve(sd, "p/q").unwrap().unwrap().token, r.token);
        assert!(is_approved(sd, "p/q", &r.token));
        // A new request is not approved by the old approval.
        let r2 = request(sd, "p/q").unwrap();
        assert!(!is_approved(sd, "p/q", &r2.token));
        withdraw(sd, "p/q");
        assert_eq!(pending(sd, "p/q"), None);
    }
}
