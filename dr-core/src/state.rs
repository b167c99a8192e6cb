//! The state dir's layout, in one place: where runs, journals, plan copies,
//! reports, locks and the audit log live.
//!
//! ```text
//! STATE_DIR/
//!   runs/RUN_ID/journal.jsonl   the run's journal (append-only, fsync'd)
//!   runs/RUN_ID/plan.toml       the plan exactly as it ran (plan.json for JSON plans)
//!   runs/RUN_ID/report.json     the report, written when the run ends
//!   locks/PLAN.lock             default lock dir (see `lock::lock_dir`); PLAN is
//!                               the plan's name as a file stem (see [`file_stem`])
//!   audit.jsonl, audit.head     the hash-chained audit log and its head
//!   audit.lock                  serializes appends across processes
//! ```

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The longest file stem [`file_stem`] makes: far under the 255 bytes a file
/// name may have, with room for suffixes (`.pending.json`).
pub const MAX_FILE_STEM: usize = 64;

/// A file stem for `name` (a plan's name) that always fits and never collides:
/// `name` itself when it is short and made of `A-Z a-z 0-9 - _ .` (not
/// starting with a dot); otherwise its safe characters (others as `_`), cut
/// to fit, then `-` and 12 hex digits of its SHA-256. So `eu/api` and `eu_api`
/// get different files, and a 300-character name fits.
///
/// ```
/// use dr_core::state::{MAX_FILE_STEM, file_stem};
/// assert_eq!(file_stem("proseware-eastus"), "proseware-eastus");
/// assert_ne!(file_stem("eu/api"), file_stem("eu_api"));
/// assert!(file_stem(&"x".repeat(300)).len() <= MAX_FILE_STEM);
/// ```
pub fn file_stem(name: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    if !name.is_empty()
        && name.len() <= MAX_FILE_STEM
        && !name.starts_with('.')
        && name.chars().all(safe)
    {
        return name.to_string();
    }
    let digest = hex::encode(Sha256::digest(name.as_bytes()));
    let mut stem: String = name
        .chars()
        .map(|c| if safe(c) { c } else { '_' })
        .take(MAX_FILE_STEM - 13)
        .collect();
    if stem.starts_with('.') {
        stem.replace_range(..1, "_");
    }
    format!("{stem}-{}", &digest[..12])
}

/// Why a run id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a run id (run ids look like 20260101T093000Z-1a2b3c: a UTC time, `-`, and up to 32 lower-case letters or digits)"
)]
pub struct InvalidRunId(pub String);

/// Checks the shape of a run id that came from outside (`dr report RUN_ID`,
/// `dr resume RUN_ID`): `YYYYMMDDTHHMMSSZ-` and 1 to 32 of `a-z 0-9`, so it
/// can only ever name a directory under `STATE_DIR/runs/`.
pub fn check_run_id(run_id: &str) -> Result<(), InvalidRunId> {
    let b = run_id.as_bytes();
    let time_ok = b.len() > 17
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'Z'
        && b[16] == b'-';
    let suffix_ok = b.len() <= 17 + 32
        && b.get(17..).is_some_and(|s| {
            s.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if time_ok && suffix_ok {
        Ok(())
    } else {
        Err(InvalidRunId(run_id.chars().take(80).collect()))
    }
}

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

impl RunDir {
    /// Where the run keeps its copy of the child plan file `name` (as the
    /// plan's `plan.run` step resolved it), which `dr resume` reads.
    pub fn child_copy(&self, name: &str) -> PathBuf {
        use sha2::{Digest, Sha256};
        let digest = hex::encode(&Sha256::digest(name.as_bytes())[..8]);
        let ext = if name.ends_with(".json") {
            "json"
        } else {
            "toml"
        };
        self.path.join("children").join(format!("{digest}.{ext}"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_have_one_shape() {
        for ok in ["20260101T093000Z-1a2b3c", "20990101T000000Z-nosuch"] {
            assert_eq!(check_run_id(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "../../../x",
            "20260101T093000Z-../../x",
            "20260101T093000Z-",
            "20260101T093000Z-ABC",
            "20260101T093000Z-a/b",
            "x20260101T093000Z-abc",
            "no-such-run",
            &format!("20260101T093000Z-{}", "a".repeat(33)),
        ] {
            assert!(check_run_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_stems_fit_and_do_not_collide() {
        let long = "p".repeat(300);
        let stems = [
            file_stem("eu/api"),
            file_stem("eu_api"),
            file_stem("eu api"),
            file_stem(&long),
            file_stem(".."),
            file_stem(""),
        ];
        for s in &stems {
            assert!(!s.is_empty() && s.len() <= MAX_FILE_STEM, "{s}");
            assert!(!s.starts_with('.'), "{s}");
            assert!(
                s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                "{s}"
            );
        }
        let mut unique = stems.to_vec();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), stems.len(), "{stems:?}");
        assert_eq!(file_stem("eu_api"), "eu_api");
        // A 300-character plan name is lockable.
        let dir = tempfile::tempdir().unwrap();
        let lock = crate::lock::PlanLock::acquire(dir.path(), &long, "run-a").unwrap();
        assert!(lock.is_held());
    }
}
