//! The audit log: append-only JSONL in the state dir, each entry carrying the
//! hash of the one before, so a changed, inserted or deleted line is detected.
//!
//! `audit.head` beside it records the last entry's sequence number and hash, so
//! deleting lines from the end is detected too; each run's journal records the
//! head when the run ends, so deleting or emptying both files is detected while
//! runs exist. With a key (`DR_AUDIT_KEY`), every entry also carries an
//! HMAC of its hash, so a chain rewritten as a whole (hashes recomputed) is
//! detected by whoever holds the key.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use fd_lock::RwLock;
use hmac::{Hmac, Mac};
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

/// The last entry of the audit chain: its sequence number and hash. Kept in
/// `audit.head`, recorded in each run's journal when the run ends, and printed
/// by `dr audit verify` so it can be kept somewhere the log's writer cannot
/// reach (which is what detects a chain cut back and rewritten consistently).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    /// 1-based sequence number of the last entry.
    pub seq: u64,
    /// Its hash, hex SHA-256.
    pub hash: String,
}

/// The environment variable holding the audit key (`DR_AUDIT_KEY`).
pub const AUDIT_KEY_ENV: &str = "DR_AUDIT_KEY";

/// The audit key from `DR_AUDIT_KEY` (its bytes as written), `None` when unset
/// or empty. Never print it.
pub fn audit_key_from_env() -> Option<Vec<u8>> {
    std::env::var_os(AUDIT_KEY_ENV)
        .map(|v| v.into_encoded_bytes())
        .filter(|k| !k.is_empty())
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn paths(state_dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    crate::state::audit_files(state_dir)
}

fn hash_of(unhashed: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(
        serde_json::to_vec(unhashed).expect("json serializes"),
    ))
}

type HmacSha256 = Hmac<Sha256>;

fn keyed(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes a key of any length")
}

/// hex(HMAC-SHA256(key, hash)): an entry's `mac`.
fn mac_of(key: &[u8], hash: &str) -> String {
    let mut m = keyed(key);
    m.update(hash.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// Appends one entry (redacted) to the state dir's audit log, with a `mac` when
/// `key` is given. Safe across processes: appends are serialized by a file
/// lock. A run keeps an [`AuditWriter`] open instead of calling this per entry.
pub fn append(
    state_dir: &Path,
    key: Option<&[u8]>,
    record: &AuditRecord,
    redactor: &Redactor,
) -> std::io::Result<()> {
    AuditWriter::open(state_dir, key)?.append(record, redactor)
}

/// An open audit log: the lock, the log and the head file stay open, so an
/// append is a lock, a small read, two writes and an unlock.
pub struct AuditWriter {
    lock: RwLock<File>,
    log: File,
    head: File,
    key: Option<Vec<u8>>,
}

impl std::fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditWriter")
            .field("log", &self.log)
            .field("keyed", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

const HEAD_LEN: usize = 160;

impl AuditWriter {
    /// Opens (creating if needed) the audit log of `state_dir`. With a `key`,
    /// every entry appended also carries `"mac": hex(HMAC-SHA256(key, hash))`,
    /// so that [`verify`] with the key detects a chain rewritten as a whole.
    pub fn open(state_dir: &Path, key: Option<&[u8]>) -> std::io::Result<AuditWriter> {
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
            key: key.map(<[u8]>::to_vec),
        })
    }

    /// Appends one entry, redacted.
    pub fn append(&mut self, record: &AuditRecord, redactor: &Redactor) -> std::io::Result<()> {
        let AuditWriter {
            lock,
            log,
            head,
            key,
        } = self;
        let _held = lock.write()?;
        let prev = read_head(head)?.unwrap_or(AuditHead {
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
        if let Some(key) = key {
            entry["mac"] = serde_json::Value::String(mac_of(key, &hash));
        }
        let mut line = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        // Not fsync'd per entry: the journal is the crash-safe record of a run;
        // the executor calls `sync` when a run ends.
        log.write_all(&line)?;
        // The head is rewritten in place with one fixed-size write, which a dying
        // process cannot tear.
        let mut buf = serde_json::to_vec(&AuditHead {
            seq: prev.seq + 1,
            hash,
        })
        .map_err(std::io::Error::other)?;
        buf.resize(HEAD_LEN, b' ');
        write_at(head, &buf, 0)
    }

    /// The chain's last entry as `audit.head` records it (`None` before the
    /// first entry). The executor records it in the run's journal when a run
    /// ends, so `verify` can tell when the log was later cut or replaced.
    pub fn head(&self) -> std::io::Result<Option<AuditHead>> {
        let _held = self.lock.read()?;
        read_head(&self.head)
    }

    /// fsyncs the log and its head.
    pub fn sync(&self) -> std::io::Result<()> {
        self.log.sync_data()?;
        self.head.sync_data()
    }
}

fn read_head(f: &File) -> std::io::Result<Option<AuditHead>> {
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
    /// 1-based line where the chain breaks (one past the end for a cut tail or
    /// a head that does not match).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// What [`verify`] found in an intact log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// How many entries the chain holds.
    pub entries: usize,
    /// Its last entry (`None` when empty): keep its hash elsewhere to detect a
    /// later cut-and-rewrite.
    pub head: Option<AuditHead>,
    /// Whether every entry's `mac` was checked with a key.
    pub keyed: bool,
    /// How many run journals recorded an audit head that was checked against
    /// the chain.
    pub runs_checked: usize,
}

/// What `audit.head` holds.
enum HeadFile {
    Missing,
    Empty,
    Invalid,
    Head(AuditHead),
}

fn read_head_file(path: &Path) -> Result<HeadFile, Tampered> {
    match fs::read(path) {
        Ok(b) if b.trim_ascii().is_empty() => Ok(HeadFile::Empty),
        Ok(b) => {
            Ok(serde_json::from_slice(b.trim_ascii()).map_or(HeadFile::Invalid, HeadFile::Head))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HeadFile::Missing),
        Err(e) => Err(Tampered {
            line: 0,
            message: format!("cannot read {}: {e}", path.display()),
        }),
    }
}

/// Checks the state dir's audit log; returns what an intact one holds.
///
/// - The hash chain: each entry's `seq`, `prev_hash` and `hash` (a changed,
///   inserted or deleted line).
/// - With a `key`: every entry carries `mac` = HMAC-SHA256(key, hash). An entry
///   without one or with a wrong one is tampered: this is what detects a chain
///   rewritten as a whole with recomputed hashes (and a wrong key).
/// - `audit.head` agrees with the last entry. Entries with a missing, empty or
///   unparsable head, or a head recording entries the log does not have
///   (missing or empty log, lines cut from the end), are tampered. A missing log
///   with a missing or empty head is an empty, intact log.
/// - Every run journal (`runs/*/journal.jsonl`) whose `run_finished` record
///   carries `"audit_head": {"seq": N, "hash": H}`: the chain holds entry N
///   with hash H. This is what detects the log and its head both deleted or
///   emptied while runs exist. Records without it and unparsable lines are
///   skipped.
pub fn verify(state_dir: &Path, key: Option<&[u8]>) -> Result<VerifyReport, Tampered> {
    let (log, head_path, _) = paths(state_dir);
    let hashes = read_chain(&log, key)?;
    let count = hashes.len();
    let last = hashes.last().map(|h| AuditHead {
        seq: count as u64,
        hash: h.clone(),
    });
    let cut = |message: String| Tampered {
        line: count + 1,
        message,
    };
    match (read_head_file(&head_path)?, &last) {
        (HeadFile::Missing | HeadFile::Empty, None) => {}
        (HeadFile::Head(h), None) if h.seq == 0 => {}
        (HeadFile::Head(h), None) => {
            let what = if log.exists() { "empty" } else { "missing" };
            return Err(Tampered {
                line: 1,
                message: format!(
                    "audit.jsonl is {what} but audit.head records {} entries",
                    h.seq
                ),
            });
        }
        (HeadFile::Invalid, _) => {
            return Err(cut("audit.head is not a valid head (it was edited)".into()));
        }
        (HeadFile::Missing, Some(_)) => {
            return Err(cut(format!(
                "audit.head is missing but the log has {count} entries (the head was deleted)"
            )));
        }
        (HeadFile::Empty, Some(_)) => {
            return Err(cut(format!(
                "audit.head is empty but the log has {count} entries (the head was emptied)"
            )));
        }
        (HeadFile::Head(h), Some(l)) => {
            if h.seq > l.seq {
                return Err(cut(format!(
                    "audit.head records {} entries, the log has {count} (lines were deleted from the end)",
                    h.seq
                )));
            }
            if h.seq < l.seq {
                return Err(cut(format!(
                    "audit.head records {} entries, the log has {count} (lines were added without the head)",
                    h.seq
                )));
            }
            if h.hash != l.hash {
                return Err(cut(format!(
                    "audit.head records hash {} for entry {count}, the log has {} (the log was rewritten)",
                    h.hash, l.hash
                )));
            }
        }
    }
    let runs_checked = check_runs(state_dir, &hashes)?;
    Ok(VerifyReport {
        entries: count,
        head: last,
        keyed: key.is_some(),
        runs_checked,
    })
}

/// Walks the chain; returns each entry's hash.
fn read_chain(log: &Path, key: Option<&[u8]>) -> Result<Vec<String>, Tampered> {
    let file = match File::open(log) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Tampered {
                line: 0,
                message: format!("cannot read {}: {e}", log.display()),
            });
        }
    };
    let mut hashes: Vec<String> = Vec::new();
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
        let mac = obj.remove("mac");
        let seq = obj.get("seq").and_then(|s| s.as_u64()).unwrap_or(0);
        if seq != n as u64 {
            return Err(Tampered {
                line: n,
                message: format!(
                    "sequence number {seq}, expected {n} (a line was deleted or inserted)"
                ),
            });
        }
        let prev = hashes.last().map_or(GENESIS, String::as_str);
        if obj.get("prev_hash").and_then(|p| p.as_str()) != Some(prev) {
            return Err(Tampered { line: n, message: "prev_hash does not match the previous entry (a line was changed, deleted or inserted)".into() });
        }
        if hash_of(&v) != stored {
            return Err(Tampered {
                line: n,
                message: "content does not match its hash (the line was changed)".into(),
            });
        }
        if let Some(key) = key {
            let Some(mac) = mac.as_ref().and_then(|m| m.as_str()) else {
                return Err(Tampered {
                    line: n,
                    message: "no mac: the entry was not written with the audit key (or the chain was rewritten)".into(),
                });
            };
            let mut m = keyed(key);
            m.update(stored.as_bytes());
            let ok = hex::decode(mac).is_ok_and(|mac| m.verify_slice(&mac).is_ok());
            if !ok {
                return Err(Tampered {
                    line: n,
                    message: "mac does not match (the chain was rewritten, or the key is wrong)"
                        .into(),
                });
            }
        }
        hashes.push(stored);
    }
    Ok(hashes)
}

/// Checks the audit heads the run journals recorded; returns how many.
fn check_runs(state_dir: &Path, hashes: &[String]) -> Result<usize, Tampered> {
    let Ok(dirs) = fs::read_dir(state_dir.join("runs")) else {
        return Ok(0);
    };
    let mut journals: Vec<(String, PathBuf)> = dirs
        .flatten()
        .map(|d| {
            (
                d.file_name().to_string_lossy().into_owned(),
                crate::state::journal_in(&d.path()),
            )
        })
        .collect();
    journals.sort();
    let mut checked = 0;
    for (dir_name, path) in journals {
        let Ok(file) = File::open(&path) else {
            continue;
        };
        for line in BufReader::new(file).lines() {
            let Ok(line) = line else { break };
            if !line.contains("run_finished") || !line.contains("audit_head") {
                continue;
            }
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if v.get("type").and_then(|t| t.as_str()) != Some("run_finished") {
                continue;
            }
            let (Some(seq), Some(hash)) = (
                v.pointer("/audit_head/seq").and_then(|s| s.as_u64()),
                v.pointer("/audit_head/hash").and_then(|h| h.as_str()),
            ) else {
                continue;
            };
            let run = v
                .get("run_id")
                .and_then(|r| r.as_str())
                .unwrap_or(&dir_name);
            checked += 1;
            if seq == 0 {
                continue;
            }
            match hashes.get(seq as usize - 1) {
                Some(h) if h == hash => {}
                Some(h) => {
                    return Err(Tampered {
                        line: seq as usize,
                        message: format!(
                            "run {run} recorded audit entry {seq} with hash {hash}, the log has hash {h} there (the log was rewritten)"
                        ),
                    });
                }
                None => {
                    return Err(Tampered {
                        line: hashes.len() + 1,
                        message: format!(
                            "run {run} recorded audit entry {seq} with hash {hash}, the log has {} entries (entries were deleted)",
                            hashes.len()
                        ),
                    });
                }
            }
        }
    }
    Ok(checked)
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
            append(dir.path(), None, &rec(s), &Redactor::default()).unwrap();
        }
        assert_eq!(verify(dir.path(), None).unwrap().entries, 3);
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
        assert_eq!(verify(dir.path(), None).unwrap_err().line, 2);
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
        assert_eq!(verify(dir.path(), None).unwrap_err().line, 2);
        fs::write(
            dir.path().join("audit.jsonl"),
            format!("{}\n{}\n", l[0], l[1]),
        )
        .unwrap();
        assert_eq!(verify(dir.path(), None).unwrap_err().line, 3);
    }

    #[test]
    fn secrets_are_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = rec("a");
        r.after = serde_json::json!({"token": "sup3rsecret"});
        append(
            dir.path(),
            None,
            &r,
            &Redactor::new(["sup3rsecret".to_string()]),
        )
        .unwrap();
        assert!(
            !fs::read_to_string(dir.path().join("audit.jsonl"))
                .unwrap()
                .contains("sup3rsecret")
        );
        assert_eq!(verify(dir.path(), None).unwrap().entries, 1);
    }
}
