//! One run per plan at a time: a lock file per plan name in the state dir.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::executor::ExecError;

/// Who holds a plan's lock.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockHolder {
    /// The run.
    pub run_id: String,
    /// Its process.
    pub pid: u32,
    /// Its host.
    pub host: String,
    /// Since when.
    pub started_at: chrono::DateTime<chrono::Utc>,
}

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct PlanLock {
    path: PathBuf,
}

pub(crate) fn host() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into())
}

fn alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true // cannot tell: never call a lock stale
    }
}

fn lock_path(state_dir: &Path, plan: &str) -> PathBuf {
    let name: String = plan
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    state_dir.join("locks").join(format!("{name}.lock"))
}

impl PlanLock {
    /// Takes the lock of `plan` for `run_id`. A lock left by a dead process of the
    /// same run (a resume after a crash) is taken over; any other held or stale
    /// lock is an error that says who holds it and how to clear it.
    pub fn acquire(state_dir: &Path, plan: &str, run_id: &str) -> Result<PlanLock, ExecError> {
        let path = lock_path(state_dir, plan);
        fs::create_dir_all(path.parent().expect("lock path has a parent"))?;
        let me = LockHolder {
            run_id: run_id.into(),
            pid: std::process::id(),
            host: host(),
            started_at: chrono::Utc::now(),
        };
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    f.write_all(&serde_json::to_vec(&me).map_err(std::io::Error::other)?)?;
                    f.sync_all()?;
                    return Ok(PlanLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder: Option<LockHolder> = fs::read(&path)
                        .ok()
                        .and_then(|b| serde_json::from_slice(&b).ok());
                    let Some(h) = holder else {
                        return Err(ExecError::Locked(format!(
                            "plan `{plan}` is locked ({} is unreadable); if no other `dr` is running this plan, remove it and retry",
                            path.display()
                        )));
                    };
                    let dead = h.host == me.host && !alive(h.pid);
                    if h.run_id == run_id && (dead || h.pid == me.pid) {
                        fs::remove_file(&path)?; // our own run's lock, left by a dead process
                        continue;
                    }
                    if dead {
                        return Err(ExecError::Locked(format!(
                            "plan `{plan}` has a stale lock: run {} (pid {} on {}, started {}) is no longer running. \
                             Finish that run with `dr resume {}`, or, if no other `dr` is running this plan, remove {} and retry",
                            h.run_id,
                            h.pid,
                            h.host,
                            h.started_at.to_rfc3339(),
                            h.run_id,
                            path.display()
                        )));
                    }
                    return Err(ExecError::Locked(format!(
                        "plan `{plan}` is being run by run {} (pid {} on {}, since {}); two runs of one plan cannot overlap",
                        h.run_id,
                        h.pid,
                        h.host,
                        h.started_at.to_rfc3339()
                    )));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ExecError::Locked(format!(
            "could not take the lock {}",
            path.display()
        )))
    }

    /// Where the lock file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PlanLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
