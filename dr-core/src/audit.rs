//! The audit log: append-only JSONL in the state dir, each entry carrying the
//! hash of the one before, so a changed, inserted or deleted line is detected.
//!
//! `audit.head` beside it records the last entry's sequence number and hash, so
//! deleting lines from the end is detected too.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use fd_lock::RwLock;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::redact::Redactor;

/// What an audit entry records (the chain fields are added on append).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditRecord {
    /// Who ran the plan.
    pub operator: String,
    /// Where.
    pub host: String,
    /// Plan name.
    pub plan: String,
    /// SHA-256 of the plan text.
    pub plan_digest: String,
    /// Run id.
    pub run_id: String,
    /// Step id (`-` for run-level entries).
    pub step: String,
    /// What was done (`traffic.set`, `rollback`, `run`).
    pub action: String,
    /// State before.
    pub before: serde_json::Value,
    /// State after.
    pub after: serde_json::Value,
    /// `succeeded`, `failed`, ...
    pub result: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn paths(state_dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (
        state_dir.join("audit.jsonl"),
        state_dir.join("audit.head"),
        state_dir.join("audit.lock"),
    )
}

fn hash_of(unhashed: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(
        serde_json::to_vec(unhashed).expect("json serializes"),
    ))
}

/// Appends one entry (redacted) to the state dir's audit log. Safe across
/// processes: appends are serialized by a file lock. A run keeps an
/// [`AuditWriter`] open instead of calling this per entry.
pub fn append(state_dir: &Path, record: &AuditRecord, redactor: &Redactor) -> std::io::Result<()> {
    AuditWriter::open(state_dir)?.append(record, redactor)
}

/// An open audit log: the lock, the log and the head file stay open, so an
/// append is a lock, a small read, two writes and an unlock.
#[derive(Debug)]
pub struct AuditWriter {
    lock: RwLock<File>,
    log: File,
    head: File,
}

const HEAD_LEN: usize = 160;

impl AuditWriter {
    /// Opens (creating if needed) the audit log of `state_dir`.
    pub fn open(state_dir: &Path) -> std::io::Result<AuditWriter> {
        fs::create_dir_all(state_dir)?;
        let (log, head, lock) = paths(state_dir);
        Ok(AuditWriter {
            lock: RwLock::new(
                OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(lock)?,
            ),
            log: OpenOptions::new().create(true).append(true).open(log)?,
            head: OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(head)?,
        })
    }

    /// Appends one entry, redacted.
    pub fn append(&mut self, record: &AuditRecord, redactor: &Redactor) -> std::io::Result<()> {
        let AuditWriter { lock, log, head } = self;
        let _held = lock.write()?;
        let prev = read_head(head)?.unwrap_or(Head {
            seq: 0,
            hash: GENESIS.into(),
        });
        let mut entry = serde_json::json!({
            "seq": prev.seq + 1,
            "ts": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "prev_hash": prev.hash,
        });
        let mut rec = serde_json::to_value(record).map_err(std::io::Error::other)?;
        redactor.redact_json(&mut rec);
        if let (Some(e), serde_json::Value::Object(r)) = (entry.as_object_mut(), rec) {
            e.extend(r);
        }
        let hash = hash_of(&entry);
        entry["hash"] = serde_json::Value::String(hash.clone());
        let mut line = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        // Not fsync'd per entry: the journal is the crash-safe record of a run;
        // the executor calls `sync` when a run ends.
        log.write_all(&line)?;
        // The head is rewritten in place with one fixed-size write, which a dying
        // process cannot tear.
        let mut buf = serde_json::to_vec(&Head {
            seq: prev.seq + 1,
            hash,
        })
        .map_err(std::io::Error::other)?;
        buf.resize(HEAD_LEN, b' ');
        write_at(head, &buf, 0)
    }

    /// fsyncs the log and its head.
    pub fn sync(&self) -> std::io::Result<()> {
        self.log.sync_data()?;
        self.head.sync_data()
    }
}

fn read_head(f: &File) -> std::io::Result<Option<Head>> {
    let mut buf = vec![0u8; HEAD_LEN];
    let n = read_at(f, &mut buf, 0)?;
    Ok(serde_json::from_slice(buf[..n].trim_ascii()).ok())
}

#[cfg(unix)]
fn write_at(f: &File, buf: &[u8], off: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, buf, off)
}

#[cfg(unix)]
fn read_at(f: &File, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(f, buf, off)
}

#[cfg(not(unix))]
fn write_at(mut f: &File, buf: &[u8], off: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    f.seek(SeekFrom::Start(off))?;
    f.write_all(buf)
}

#[cfg(not(unix))]
fn read_at(mut f: &File, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
    use std::io::{Read, Seek, SeekFrom};
    f.seek(SeekFrom::Start(off))?;
    f.read(buf)
}

/// Why verification failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit log tampered: line {line}: {message}")]
pub struct Tampered {
    /// 1-based line where the chain breaks (one past the end for a cut tail).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Checks the hash chain of the state dir's audit log; returns how many entries
/// it holds. A missing log is an empty, intact one.
pub fn verify(state_dir: &Path) -> Result<usize, Tampered> {
    let (log, head, _) = paths(state_dir);
    let file = match File::open(&log) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if fs::read(&head).is_ok_and(|b| !b.trim_ascii().is_empty()) {
                return Err(Tampered {
                    line: 1,
                    message: "audit.jsonl is missing but audit.head records entries".into(),
                });
            }
            return Ok(0);
        }
        Err(e) => {
            return Err(Tampered {
                line: 0,
                message: format!("cannot read {}: {e}", log.display()),
            });
        }
    };
    let mut prev = GENESIS.to_string();
    let mut count = 0usize;
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let n = i + 1;
        let line = line.map_err(|e| Tampered {
            line: n,
            message: format!("unreadable: {e}"),
        })?;
        let mut v: serde_json::Value = serde_json::from_str(&line).map_err(|e| Tampered {
            line: n,
            message: format!("not JSON: {e}"),
        })?;
        let obj = v.as_object_mut().ok_or_else(|| Tampered {
            line: n,
            message: "not an object".into(),
        })?;
        let stored = obj
            .remove("hash")
            .and_then(|h| h.as_str().map(String::from))
            .unwrap_or_default();
        let seq = obj.get("seq").and_then(|s| s.as_u64()).unwrap_or(0);
        if seq != n as u64 {
            return Err(Tampered {
                line: n,
                message: format!(
                    "sequence number {seq}, expected {n} (a line was deleted or inserted)"
                ),
            });
        }
        if obj.get("prev_hash").and_then(|p| p.as_str()) != Some(prev.as_str()) {
            return Err(Tampered { line: n, message: "prev_hash does not match the previous entry (a line was changed, deleted or inserted)".into() });
        }
        let actual = hash_of(&v);
        if actual != stored {
            return Err(Tampered {
                line: n,
                message: "content does not match its hash (the line was changed)".into(),
            });
        }
        prev = stored;
        count = n;
    }
    if let Some(h) = fs::read(&head)
        .ok()
        .and_then(|b| serde_json::from_slice::<Head>(b.trim_ascii()).ok())
        && (h.seq != count as u64 || h.hash != prev)
    {
        return Err(Tampered {
            line: count + 1,
            message: format!(
                "audit.head records {} entries, the log has {count} (lines were deleted from the end)",
                h.seq
            ),
        });
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(step: &str) -> AuditRecord {
        AuditRecord {
            operator: "op".into(),
            host: "h".into(),
            plan: "p".into(),
            plan_digest: "d".into(),
            run_id: "r".into(),
            step: step.into(),
            action: "traffic.set".into(),
            before: serde_json::json!({"east": 100}),
            after: serde_json::json!({"west": 100}),
            result: "succeeded".into(),
        }
    }

    fn setup() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for s in ["a", "b", "c"] {
            append(dir.path(), &rec(s), &Redactor::default()).unwrap();
        }
        assert_eq!(verify(dir.path()), Ok(3));
        dir
    }

    fn lines(dir: &Path) -> Vec<String> {
        fs::read_to_string(dir.join("audit.jsonl"))
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    #[test]
    fn detects_a_changed_line() {
        let dir = setup();
        let mut l = lines(dir.path());
        l[1] = l[1].replace("succeeded", "failed");
        fs::write(dir.path().join("audit.jsonl"), l.join("\n") + "\n").unwrap();
        assert_eq!(verify(dir.path()).unwrap_err().line, 2);
    }

    #[test]
    fn detects_a_deleted_line_in_the_middle_and_at_the_end() {
        let dir = setup();
        let l = lines(dir.path());
        fs::write(
            dir.path().join("audit.jsonl"),
            format!("{}\n{}\n", l[0], l[2]),
        )
        .unwrap();
        assert_eq!(verify(dir.path()).unwrap_err().line, 2);
        fs::write(
            dir.path().join("audit.jsonl"),
            format!("{}\n{}\n", l[0], l[1]),
        )
        .unwrap();
        assert_eq!(verify(dir.path()).unwrap_err().line, 3);
    }

    #[test]
    fn secrets_are_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = rec("a");
        r.after = serde_json::json!({"token": "sup3rsecret"});
        append(dir.path(), &r, &Redactor::new(["sup3rsecret".to_string()])).unwrap();
        assert!(
            !fs::read_to_string(dir.path().join("audit.jsonl"))
                .unwrap()
                .contains("sup3rsecret")
        );
        assert_eq!(verify(dir.path()), Ok(1));
    }
}
