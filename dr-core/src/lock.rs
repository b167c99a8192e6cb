//! One run per plan at a time: a lock file per plan name.
//!
//! # Where the lock lives
//!
//! [`lock_dir`] decides, in this order: the plan's `[plan] lock_dir`, the
//! `DR_LOCK_DIR` environment variable, `<state_dir>/locks`. The default keeps
//! the lock beside the runs, so two operators using *different* state dirs
//! (`--state-dir`) on the same resources do not see each other's lock: point
//! both at one shared directory with `lock_dir` or `DR_LOCK_DIR` when that can
//! happen. A relative directory is taken relative to the working directory,
//! like `--state-dir` and a sim `state_file`.
//!
//! The lock is a file created with `O_EXCL`, so it excludes runs that see the
//! same file system: one host, or hosts sharing a directory whose file system
//! honours exclusive creation. It is not a lock across hosts in general.
//!
//! # Whose lock it is
//!
//! The file holds a random token besides the run, pid, host and start time.
//! A [`PlanLock`] removes the file when dropped only if it still holds *its*
//! token, so a run whose lock was deleted by hand (and then taken by another
//! run) does not, when it ends, delete the other run's lock and let a third
//! run start beside it.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::plan::Plan;

/// The environment variable naming a shared lock directory.
pub const LOCK_DIR_ENV: &str = "DR_LOCK_DIR";

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
    /// Random, unique to this acquisition: only the holder of this token
    /// releases the lock. Empty in lock files written before tokens existed.
    #[serde(default)]
    pub token: String,
}

/// A held lock; released when dropped (only if the file is still ours).
#[derive(Debug)]
pub struct PlanLock {
    path: PathBuf,
    token: String,
}

/// This machine's host name (`unknown` when it cannot be read).
pub fn host() -> String {
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

/// The directory holding the plan locks: `[plan] lock_dir`, else
/// `$DR_LOCK_DIR` (when set and not empty), else `<state_dir>/locks`.
pub fn lock_dir(state_dir: &Path, plan: &Plan) -> PathBuf {
    lock_dir_from(
        state_dir,
        plan.lock_dir.as_deref(),
        std::env::var_os(LOCK_DIR_ENV).map(PathBuf::from).as_deref(),
    )
}

/// [`lock_dir`] with the environment variable's value passed in.
fn lock_dir_from(state_dir: &Path, from_plan: Option<&Path>, from_env: Option<&Path>) -> PathBuf {
    from_plan
        .filter(|p| !p.as_os_str().is_empty())
        .or(from_env.filter(|p| !p.as_os_str().is_empty()))
        .map_or_else(
            || crate::state::default_lock_dir(state_dir),
            Path::to_path_buf,
        )
}

fn lock_path(lock_dir: &Path, plan: &str) -> PathBuf {
    lock_dir.join(format!("{}.lock", crate::state::file_stem(plan)))
}

/// Creates the lock file at `path` holding `me`, or fails with
/// `AlreadyExists`. The file appears whole or not at all: the holder is
/// written and fsync'd under a temporary name, then hard-linked into place
/// (`link` refuses an existing name, as `O_EXCL` does). Creating the file and
/// then writing it left, when the process died in between (SIGKILL, or a
/// Ctrl-C before the signal handlers are installed), an empty lock file no
/// one could tell was stale, and every later run and resume was refused
/// until it was removed by hand. On a file system without hard links the
/// file is created exclusively and then written, as before.
fn publish(lock_dir: &Path, path: &Path, me: &LockHolder) -> std::io::Result<()> {
    let body = serde_json::to_vec(me).map_err(std::io::Error::other)?;
    let tmp = lock_dir.join(format!(".{}.{}.tmp", me.pid, me.token));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&body).and_then(|()| f.sync_all()));
    let linked = written.and_then(|()| fs::hard_link(&tmp, path));
    let _ = fs::remove_file(&tmp);
    match linked {
        // No hard links here (EPERM from link(2) on FAT-like file systems):
        // the temporary file could be written, so the directory is writable.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::Unsupported | std::io::ErrorKind::PermissionDenied
            ) =>
        {
            let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
            let written = f.write_all(&body).and_then(|()| f.sync_all());
            if written.is_err() {
                let _ = fs::remove_file(path); // we created it, nobody else holds it
            }
            written
        }
        other => other,
    }
}

fn read_holder(path: &Path) -> Option<LockHolder> {
    fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// Why a plan's lock could not be taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another live run holds it.
    #[error(
        "plan `{plan}` is being run by run {} (pid {} on {}, since {}); two runs of one plan cannot overlap",
        holder.run_id, holder.pid, holder.host, holder.started_at.to_rfc3339()
    )]
    Held {
        /// The plan.
        plan: String,
        /// Who holds it.
        holder: Box<LockHolder>,
    },
    /// A run whose process is gone left it.
    #[error(
        "plan `{plan}` has a stale lock: run {} (pid {} on {}, started {}) is no longer running. \
         Finish that run with `dr resume {}`, or, if no other `dr` is running this plan, remove {} and retry",
        holder.run_id, holder.pid, holder.host, holder.started_at.to_rfc3339(), holder.run_id, path.display()
    )]
    Stale {
        /// The plan.
        plan: String,
        /// Who held it.
        holder: Box<LockHolder>,
        /// The lock file.
        path: PathBuf,
    },
    /// The lock file cannot be read.
    #[error(
        "plan `{plan}` is locked ({} is unreadable); if no other `dr` is running this plan, remove it and retry",
        path.display()
    )]
    Unreadable {
        /// The plan.
        plan: String,
        /// The lock file.
        path: PathBuf,
    },
    /// The coordination store (etcd) could not be asked: no majority, or
    /// unreachable. Nothing may start without the lock.
    #[error("plan `{plan}`: the lock cannot be taken: {message}")]
    Unavailable {
        /// The plan.
        plan: String,
        /// What the store said.
        message: String,
    },
    /// Another process took and released it while this one tried, twice.
    #[error("could not take the lock {}", path.display())]
    Contended {
        /// The lock file.
        path: PathBuf,
    },
    /// The lock directory or file could not be written.
    #[error("lock {}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

impl PlanLock {
    /// Takes the lock of the plan `plan_name` for `run_id`, as a file in
    /// `lock_dir` (see [`lock_dir`]). A lock left by a dead process of the same
    /// run (a resume after a crash) is taken over; any other held or stale lock
    /// is an error that says who holds it and how to clear it.
    pub fn acquire(lock_dir: &Path, plan_name: &str, run_id: &str) -> Result<PlanLock, LockError> {
        let plan = plan_name;
        let path = lock_path(lock_dir, plan);
        let io = |source: std::io::Error| LockError::Io {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(lock_dir).map_err(io)?;
        let me = LockHolder {
            run_id: run_id.into(),
            pid: std::process::id(),
            host: host(),
            started_at: chrono::Utc::now(),
            token: uuid::Uuid::new_v4().simple().to_string(),
        };
        for _ in 0..2 {
            match publish(lock_dir, &path, &me) {
                Ok(()) => {
                    return Ok(PlanLock {
                        path,
                        token: me.token,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let Some(h) = read_holder(&path) else {
                        return Err(LockError::Unreadable {
                            plan: plan.into(),
                            path,
                        });
                    };
                    let dead = h.host == me.host && !alive(h.pid);
                    if h.run_id == run_id && (dead || h.pid == me.pid) {
                        fs::remove_file(&path).map_err(io)?; // our own run's lock, left by a dead process
                        continue;
                    }
                    if dead {
                        return Err(LockError::Stale {
                            plan: plan.into(),
                            holder: Box::new(h),
                            path,
                        });
                    }
                    return Err(LockError::Held {
                        plan: plan.into(),
                        holder: Box::new(h),
                    });
                }
                Err(e) => return Err(io(e)),
            }
        }
        Err(LockError::Contended { path })
    }

    /// Whether the lock of plan `plan_name` could be taken now, without taking
    /// it: `Ok` when no lock file exists, else the error [`PlanLock::acquire`]
    /// would give (`Held` by a live run, `Stale`, `Unreadable`). `dr watch`
    /// asks before it triggers, so a trigger while another run holds the lock
    /// is refused and reported, and nothing is run.
    pub fn check(lock_dir: &Path, plan_name: &str) -> Result<(), LockError> {
        let path = lock_path(lock_dir, plan_name);
        if !path.exists() {
            return Ok(());
        }
        let Some(h) = read_holder(&path) else {
            return Err(LockError::Unreadable {
                plan: plan_name.into(),
                path,
            });
        };
        if h.host == host() && !alive(h.pid) {
            return Err(LockError::Stale {
                plan: plan_name.into(),
                holder: Box::new(h),
                path,
            });
        }
        Err(LockError::Held {
            plan: plan_name.into(),
            holder: Box::new(h),
        })
    }

    /// Where the lock file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the lock file still holds this lock's token (false when it was
    /// deleted, or deleted and taken by another run, while this run went on).
    pub fn is_held(&self) -> bool {
        read_holder(&self.path).is_some_and(|h| h.token == self.token)
    }
}

impl Drop for PlanLock {
    /// Removes the lock file if it still holds our token.
    ///
    /// Read, compare, remove is not atomic: if, between the read and the
    /// remove, someone deletes our file *and* another run creates its own, we
    /// remove that run's lock. That needs a manual deletion racing a new run
    /// within microseconds of our exit, and the window is kept to one read and
    /// one unlink; a file system offers no compare-and-delete to close it.
    fn drop(&mut self) {
        if self.is_held() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_dir_precedence_plan_then_env_then_state_dir() {
        let sd = Path::new("/state");
        let p = Path::new("/shared/plan-locks");
        let e = Path::new("/shared/env-locks");
        assert_eq!(lock_dir_from(sd, Some(p), Some(e)), p);
        assert_eq!(lock_dir_from(sd, None, Some(e)), e);
        assert_eq!(lock_dir_from(sd, None, None), sd.join("locks"));
        assert_eq!(
            lock_dir_from(sd, Some(Path::new("")), Some(Path::new(""))),
            sd.join("locks")
        );
    }

    /// The lock file appears with its holder in it or not at all: a reader
    /// racing a stream of acquires and releases never sees it empty or
    /// partial (the two-step create-then-write left an empty, unreadable lock
    /// behind a process that died in between), and what a dead process left
    /// under its temporary name does not hold the lock.
    #[test]
    fn a_lock_file_is_never_seen_without_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let lock_dir = dir.path().to_path_buf();
        let path = lock_path(&lock_dir, "p");
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (path, done) = (path.clone(), done.clone());
            std::thread::spawn(move || {
                let mut seen = 0u32;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Ok(bytes) = fs::read(&path) {
                        seen += 1;
                        assert!(
                            serde_json::from_slice::<LockHolder>(&bytes).is_ok(),
                            "a lock file without its holder: {:?}",
                            String::from_utf8_lossy(&bytes)
                        );
                    }
                }
                seen
            })
        };
        for i in 0..300 {
            drop(PlanLock::acquire(&lock_dir, "p", &format!("run-{i}")).unwrap());
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap();
        // Only the lock itself was ever left: no temporary names.
        assert_eq!(fs::read_dir(&lock_dir).unwrap().count(), 0);
        // A process that died after writing its temporary file, before the
        // link: nothing holds the lock.
        fs::write(lock_dir.join(".4242.deadbeef.tmp"), "{}").unwrap();
        assert!(PlanLock::check(&lock_dir, "p").is_ok());
        assert!(PlanLock::acquire(&lock_dir, "p", "run-x").is_ok());
    }

    #[test]
    fn check_says_what_acquire_would_without_taking_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        assert!(PlanLock::check(dir.path(), "p").is_ok());
        let lock = PlanLock::acquire(dir.path(), "p", "run-a").unwrap();
        let err = PlanLock::check(dir.path(), "p").unwrap_err();
        assert!(matches!(err, LockError::Held { .. }), "{err}");
        assert!(lock.is_held(), "check took nothing");
        drop(lock);
        assert!(PlanLock::check(dir.path(), "p").is_ok());
        std::fs::write(dir.path().join("p.lock"), "not json").unwrap();
        assert!(matches!(
            PlanLock::check(dir.path(), "p"),
            Err(LockError::Unreadable { .. })
        ));
    }

    #[test]
    fn a_lock_file_without_our_token_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let lock = PlanLock::acquire(dir.path(), "p/q", "run-a").unwrap();
        assert_eq!(
            lock.path(),
            dir.path()
                .join(format!("{}.lock", crate::state::file_stem("p/q")))
        );
        assert!(lock.is_held());
        let text = fs::read_to_string(lock.path()).unwrap();
        assert!(text.contains("\"token\""), "{text}");
        // Someone replaces the file with another holder's.
        fs::write(lock.path(), text.replace(&lock.token, "someone-else")).unwrap();
        assert!(!lock.is_held());
        let path = lock.path().to_path_buf();
        drop(lock);
        assert!(path.exists(), "another holder's lock was removed");
    }
}
