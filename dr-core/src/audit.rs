//! The audit log: append-only JSONL in the state dir, each entry carrying the
//! hash of the one before, so a changed, inserted or deleted line is detected.
//!
//! `audit.head` beside it records the last entry's sequence number and hash, so
//! deleting lines from the end is detected too; each run's journal records the
//! head when the run ends, so deleting or emptying both files is detected while
//! runs exist. With a key (`DR_AUDIT_KEY`), every entry also carries an
//! HMAC of its hash, so a chain rewritten as a whole (hashes recomputed) is
//! detected by whoever holds the key.
//!
//! Crash safety: the log, not the head, is what an append continues from (its
//! real last entry), so a head that could not be written or read never forks
//! or restarts the chain. An entry is written before its head; a process that
//! dies between the two leaves the head one entry behind, which [`verify`]
//! accepts (the last entry's `prev_hash` is the head's hash) and the next
//! append repairs. A final line torn by a crash (no newline) is cut off by the
//! next append. A keyed log (its last entry carries a `mac`) refuses entries
//! without the key, or with another key ([`KeyRefused`]).

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

/// Why an audit log refuses to be written: its entries carry a `mac` and the
/// writer has no key, or another key. Appending would leave entries that
/// `dr audit verify` reports from then on. Carried inside the `std::io::Error`
/// that [`AuditWriter::open`] and [`AuditWriter::append`] return (see
/// [`KeyRefused::find`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRefused {
    /// The log is keyed and no key is set.
    #[error(
        "{log} is keyed (its entries carry an HMAC) but {AUDIT_KEY_ENV} is not set: entries \
         written without the key would make `dr audit verify` fail from then on. Set \
         {AUDIT_KEY_ENV} to the log's key"
    )]
    Missing {
        /// The log file.
        log: String,
    },
    /// The log's last entry was written with another key.
    #[error(
        "{log} was written with another key than {AUDIT_KEY_ENV}: entries written with this \
         one would make `dr audit verify` fail from then on. Set {AUDIT_KEY_ENV} to the log's key"
    )]
    Other {
        /// The log file.
        log: String,
    },
}

impl KeyRefused {
    /// The refusal inside an error [`AuditWriter`] returned, if it is one.
    pub fn find(e: &std::io::Error) -> Option<&KeyRefused> {
        e.get_ref().and_then(|e| e.downcast_ref::<KeyRefused>())
    }
}

/// The last complete entry of the log, as an append continues from it.
struct Tail {
    head: AuditHead,
    /// Its `mac`, when it has one.
    mac: Option<String>,
}

const TAIL_CHUNK: u64 = 8192;

/// The offset of the last `\n` before `end`, if any.
fn last_newline(f: &File, end: u64) -> std::io::Result<Option<u64>> {
    let mut end = end;
    while end > 0 {
        let start = end.saturating_sub(TAIL_CHUNK);
        let mut buf = vec![0u8; (end - start) as usize];
        read_exact_at(f, &mut buf, start)?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(start + i as u64));
        }
        end = start;
    }
    Ok(None)
}

/// The log's last complete line (`None`: no complete line), reading from the
/// end. With `repair`, a torn final line (a crash cut the write: no newline) is
/// cut off the file, so the next entry starts on a line of its own.
fn last_line(f: &File, repair: bool) -> std::io::Result<Option<Vec<u8>>> {
    let len = f.metadata()?.len();
    let complete = last_newline(f, len)?.map_or(0, |i| i + 1);
    if repair && complete < len {
        f.set_len(complete)?;
    }
    if complete == 0 {
        return Ok(None);
    }
    let start = last_newline(f, complete - 1)?.map_or(0, |i| i + 1);
    let mut buf = vec![0u8; (complete - 1 - start) as usize];
    read_exact_at(f, &mut buf, start)?;
    Ok(Some(buf))
}

/// The log's last entry. An error when its last line is not an entry (the log
/// was damaged or edited): appending after it would hide that.
fn read_tail(f: &File, log: &Path, repair: bool) -> std::io::Result<Option<Tail>> {
    let Some(line) = last_line(f, repair)? else {
        return Ok(None);
    };
    let v: serde_json::Value = serde_json::from_slice(&line).unwrap_or_default();
    let seq = v.get("seq").and_then(|s| s.as_u64());
    let hash = v.get("hash").and_then(|h| h.as_str());
    let (Some(seq), Some(hash)) = (seq, hash) else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the last line of {} is not an audit entry (the log was damaged or edited; \
                 `dr audit verify` says where): not appending to a broken chain",
                log.display()
            ),
        ));
    };
    Ok(Some(Tail {
        head: AuditHead {
            seq,
            hash: hash.to_string(),
        },
        mac: v.get("mac").and_then(|m| m.as_str()).map(String::from),
    }))
}

/// Refuses a key that does not fit the log's last entry (see [`KeyRefused`]).
fn check_key(tail: Option<&Tail>, key: Option<&[u8]>, log: &Path) -> std::io::Result<()> {
    let Some(tail) = tail else { return Ok(()) };
    let log = log.display().to_string();
    match (&tail.mac, key) {
        (Some(_), None) => Err(std::io::Error::other(KeyRefused::Missing { log })),
        (Some(mac), Some(key)) if *mac != mac_of(key, &tail.head.hash) => {
            Err(std::io::Error::other(KeyRefused::Other { log }))
        }
        _ => Ok(()),
    }
}

/// An open audit log: the lock, the log and the head file stay open, so an
/// append is a lock, a small read, two writes and an unlock.
pub struct AuditWriter {
    lock: RwLock<File>,
    log: File,
    log_path: PathBuf,
    head: File,
    key: Option<Vec<u8>>,
    /// The entry this writer appended last and the log's length right after
    /// it: while the log still has that length (no other writer appended, no
    /// one cut it), the next append continues from it without reading the
    /// log's tail and the head back.
    last: Option<(u64, AuditHead)>,
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
    ///
    /// Refuses ([`KeyRefused`], inside the error) a keyed log without the key
    /// or with another one, so a run finds out before it changes anything.
    pub fn open(state_dir: &Path, key: Option<&[u8]>) -> std::io::Result<AuditWriter> {
        fs::create_dir_all(state_dir)?;
        let (log_path, head, lock) = paths(state_dir);
        let w = AuditWriter {
            lock: RwLock::new(
                OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(lock)?,
            ),
            log: OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(&log_path)?,
            log_path,
            head: OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(head)?,
            key: key.map(<[u8]>::to_vec),
            last: None,
        };
        // Without the file lock (another process may hold it for a while, and a
        // run opens the log before it starts): an append is one write of a
        // line and its newline, so the last complete line is a whole entry.
        // A damaged last line is `verify`'s to report; the key check needs an entry.
        if let Ok(tail) = read_tail(&w.log, &w.log_path, false) {
            check_key(tail.as_ref(), w.key.as_deref(), &w.log_path)?;
        }
        Ok(w)
    }

    /// Appends one entry, redacted.
    pub fn append(&mut self, record: &AuditRecord, redactor: &Redactor) -> std::io::Result<()> {
        let AuditWriter {
            lock,
            log,
            log_path,
            head,
            key,
            last,
        } = self;
        let _held = lock.write()?;
        let len = log.metadata()?.len();
        let prev = match last.take() {
            // Nothing happened to the log since this writer's last entry.
            Some((end, prev)) if end == len => prev,
            _ => {
                // The chain continues from the log's real last entry: a head
                // that was not written (a crash between the two writes) or
                // cannot be read (a full disk) must not fork the chain or
                // restart it at 1.
                let tail = read_tail(log, log_path, true)?;
                check_key(tail.as_ref(), key.as_deref(), log_path)?;
                let logged = tail.as_ref().map_or(0, |t| t.head.seq);
                match (read_head(head).ok().flatten(), tail) {
                    // The head records entries the log no longer has (lines were
                    // cut from the end): continue after the head, so the gap
                    // stays visible to `verify` instead of being papered over.
                    (Some(h), _) if h.seq > logged => h,
                    (_, Some(t)) => t.head,
                    (_, None) => AuditHead {
                        seq: 0,
                        hash: GENESIS.into(),
                    },
                }
            }
        };
        let (mut line, now) = chain_entry(&prev, record, redactor, key.as_deref())?;
        line.push(b'\n');
        // Not fsync'd per entry: the journal is the crash-safe record of a run;
        // the executor calls `sync` when a run ends.
        log.write_all(&line)?;
        // Then the head, rewritten in place with one fixed-size write, which a
        // dying process cannot tear. Dying before it leaves the head one entry
        // behind: `verify` accepts that, and the next append rewrites it.
        let mut buf = serde_json::to_vec(&now).map_err(std::io::Error::other)?;
        buf.resize(HEAD_LEN, b' ');
        write_at(head, &buf, 0)?;
        *last = Some((len + line.len() as u64, now));
        Ok(())
    }

    /// The chain's last entry (`None` before the first entry): the log's last
    /// entry, else what `audit.head` records. The executor records it in the
    /// run's journal when a run ends, so `verify` can tell when the log was
    /// later cut or replaced.
    pub fn head(&self) -> std::io::Result<Option<AuditHead>> {
        let _held = self.lock.read()?;
        match read_tail(&self.log, &self.log_path, false) {
            Ok(Some(t)) => Ok(Some(t.head)),
            _ => read_head(&self.head),
        }
    }

    /// fsyncs the log and its head.
    pub fn sync(&self) -> std::io::Result<()> {
        self.log.sync_data()?;
        self.head.sync_data()
    }
}

/// The chain entry after `prev` (`seq` 0 and [`GENESIS_HASH`] before the
/// first) recording `record`, redacted, with a `mac` when `key` is given:
/// its JSON line (without the newline) and the new head. What every audit
/// log implementation appends (the state dir's, a coordination backend's).
pub fn chain_entry(
    prev: &AuditHead,
    record: &AuditRecord,
    redactor: &Redactor,
    key: Option<&[u8]>,
) -> std::io::Result<(Vec<u8>, AuditHead)> {
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
    let line = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
    Ok((
        line,
        AuditHead {
            seq: prev.seq + 1,
            hash,
        },
    ))
}

/// The head before the first entry: `seq` 0, hash [`GENESIS_HASH`].
pub fn genesis() -> AuditHead {
    AuditHead {
        seq: 0,
        hash: GENESIS.into(),
    }
}

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = GENESIS;

/// Refuses ([`KeyRefused`] inside the error) to append after `last` (a chain
/// entry's JSON line, of the log named `log`) without its key or with
/// another key.
pub fn check_key_after(last: &[u8], key: Option<&[u8]>, log: &str) -> std::io::Result<()> {
    let v: serde_json::Value = serde_json::from_slice(last).unwrap_or_default();
    let (Some(seq), Some(hash)) = (
        v.get("seq").and_then(|s| s.as_u64()),
        v.get("hash").and_then(|h| h.as_str()),
    ) else {
        return Ok(());
    };
    let tail = Tail {
        head: AuditHead {
            seq,
            hash: hash.to_string(),
        },
        mac: v.get("mac").and_then(|m| m.as_str()).map(String::from),
    };
    check_key(Some(&tail), key, Path::new(log))
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

#[cfg(unix)]
fn read_exact_at(f: &File, buf: &mut [u8], off: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, off)
}

#[cfg(not(unix))]
fn read_exact_at(mut f: &File, buf: &mut [u8], off: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    f.seek(SeekFrom::Start(off))?;
    f.read_exact(buf)
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
#[error("{}", self.describe())]
pub struct Tampered {
    /// 1-based line where the chain breaks (one past the end for a cut tail or
    /// a head that does not match; 0 when a file cannot be read).
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// What kind of failure: tampering, a file that cannot be read, or an
    /// entry written without the key.
    pub kind: VerifyFailure,
}

/// What kind of failure [`verify`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum VerifyFailure {
    /// The chain, the head or a run's recorded head does not hold: changed,
    /// deleted or inserted lines, a rewrite, a forged or wrong `mac`.
    Tampered,
    /// A file could not be read (permissions, I/O): nothing is known about
    /// the log, which is not the same as knowing it was changed.
    Unreadable,
    /// With a key, an entry carries no `mac`: it was written without the key
    /// (a run without `DR_AUDIT_KEY`), or added by someone who does not hold
    /// it; its content is chained but not authenticated.
    WrittenWithoutKey,
}

impl VerifyFailure {
    /// `tampered`, `unreadable` or `written_without_key`.
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyFailure::Tampered => "tampered",
            VerifyFailure::Unreadable => "unreadable",
            VerifyFailure::WrittenWithoutKey => "written_without_key",
        }
    }
}

impl Tampered {
    fn new(line: usize, message: impl Into<String>) -> Tampered {
        Tampered {
            line,
            message: message.into(),
            kind: VerifyFailure::Tampered,
        }
    }

    fn unreadable(path: &Path, e: &std::io::Error) -> Tampered {
        Tampered {
            line: 0,
            message: format!("cannot read {}: {e}", path.display()),
            kind: VerifyFailure::Unreadable,
        }
    }

    fn describe(&self) -> String {
        match self.kind {
            VerifyFailure::Unreadable => {
                format!("audit log not checked: {}", self.message)
            }
            VerifyFailure::WrittenWithoutKey => format!(
                "audit log has an entry written without the key: line {}: {}",
                self.line, self.message
            ),
            VerifyFailure::Tampered => {
                format!("audit log tampered: line {}: {}", self.line, self.message)
            }
        }
    }
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
    /// `audit.head` is one entry behind the log, the last entry following it:
    /// the writer died between an entry and its head. Not tampering; the next
    /// append rewrites the head.
    pub head_behind: bool,
}

/// The records of run `run_id` in the state dir's audit log, in order (lines
/// that are not entries are skipped: [`verify`] is what judges the chain). A
/// missing log has none. `dr resume` compares them with the run's journal.
pub fn records_of_run(state_dir: &Path, run_id: &str) -> std::io::Result<Vec<AuditRecord>> {
    let (log, _, _) = paths(state_dir);
    let file = match File::open(&log) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for line in BufReader::new(file).split(b'\n') {
        let line = line?;
        if let Ok(r) = serde_json::from_slice::<AuditRecord>(&line)
            && r.run_id == run_id
        {
            out.push(r);
        }
    }
    Ok(out)
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
        Err(e) => Err(Tampered::unreadable(path, &e)),
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
    let cut = |message: String| Tampered::new(count + 1, message);
    // The writer writes an entry, then its head: dying between the two leaves
    // the head at the entry before the last one.
    let before_last = count.checked_sub(2).map_or(GENESIS, |i| hashes[i].as_str());
    let mut head_behind = false;
    match (read_head_file(&head_path)?, &last) {
        (HeadFile::Missing | HeadFile::Empty, None) => {}
        (HeadFile::Head(h), None) if h.seq == 0 => {}
        (HeadFile::Empty, Some(_)) if count == 1 => head_behind = true,
        (HeadFile::Head(h), Some(_)) if h.seq + 1 == count as u64 && h.hash == before_last => {
            head_behind = true;
        }
        (HeadFile::Head(h), None) => {
            let what = if log.exists() { "empty" } else { "missing" };
            return Err(Tampered::new(
                1,
                format!(
                    "audit.jsonl is {what} but audit.head records {} entries",
                    h.seq
                ),
            ));
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
        head_behind,
    })
}

/// Walks the chain; returns each entry's hash.
fn read_chain(log: &Path, key: Option<&[u8]>) -> Result<Vec<String>, Tampered> {
    let file = match File::open(log) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Tampered::unreadable(log, &e)),
    };
    let mut hashes: Vec<String> = Vec::new();
    let mut keyed_before = false;
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let n = i + 1;
        let line = line.map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => Tampered::new(n, format!("not text: {e}")),
            _ => Tampered {
                line: n,
                ..Tampered::unreadable(log, &e)
            },
        })?;
        let mut v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| Tampered::new(n, format!("not JSON: {e}")))?;
        let obj = v
            .as_object_mut()
            .ok_or_else(|| Tampered::new(n, "not an object"))?;
        let stored = obj
            .remove("hash")
            .and_then(|h| h.as_str().map(String::from))
            .unwrap_or_default();
        let mac = obj.remove("mac");
        let seq = obj.get("seq").and_then(|s| s.as_u64()).unwrap_or(0);
        if seq != n as u64 {
            return Err(Tampered::new(
                n,
                format!("sequence number {seq}, expected {n} (a line was deleted or inserted)"),
            ));
        }
        let prev = hashes.last().map_or(GENESIS, String::as_str);
        if obj.get("prev_hash").and_then(|p| p.as_str()) != Some(prev) {
            return Err(Tampered::new(
                n,
                "prev_hash does not match the previous entry (a line was changed, deleted or inserted)",
            ));
        }
        if hash_of(&v) != stored {
            return Err(Tampered::new(
                n,
                "content does not match its hash (the line was changed)",
            ));
        }
        if let Some(key) = key {
            let Some(mac) = mac.as_ref().and_then(|m| m.as_str()) else {
                let message = if keyed_before {
                    "no mac, after entries that have one: it was written without the audit key \
                     (a run without DR_AUDIT_KEY), or added by someone who does not hold it; \
                     the keyed entries before it are intact"
                } else {
                    "no mac: the log was written without the audit key from here on (a run \
                     without DR_AUDIT_KEY), or the chain was rewritten by someone who does not \
                     hold it"
                };
                return Err(Tampered {
                    line: n,
                    message: message.into(),
                    kind: VerifyFailure::WrittenWithoutKey,
                });
            };
            let mut m = keyed(key);
            m.update(stored.as_bytes());
            let ok = hex::decode(mac).is_ok_and(|mac| m.verify_slice(&mac).is_ok());
            if !ok {
                return Err(Tampered::new(
                    n,
                    "mac does not match (the entry was forged or the chain rewritten, or the key is wrong)",
                ));
            }
            keyed_before = true;
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
                    return Err(Tampered::new(
                        seq as usize,
                        format!(
                            "run {run} recorded audit entry {seq} with hash {hash}, the log has hash {h} there (the log was rewritten)"
                        ),
                    ));
                }
                None => {
                    return Err(Tampered::new(
                        hashes.len() + 1,
                        format!(
                            "run {run} recorded audit entry {seq} with hash {hash}, the log has {} entries (entries were deleted)",
                            hashes.len()
                        ),
                    ));
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

    fn head_bytes(dir: &Path) -> Vec<u8> {
        fs::read(dir.join("audit.head")).unwrap()
    }

    fn seqs(dir: &Path) -> Vec<u64> {
        lines(dir)
            .iter()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn a_crash_between_an_entry_and_its_head_is_not_tampering_and_does_not_fork_the_chain() {
        let dir = setup();
        let head3 = head_bytes(dir.path());
        append(dir.path(), None, &rec("d"), &Redactor::default()).unwrap();
        // The process died after writing entry 4, before its head.
        fs::write(dir.path().join("audit.head"), &head3).unwrap();
        let r = verify(dir.path(), None).unwrap();
        assert_eq!((r.entries, r.head_behind), (4, true));
        // The next append continues after entry 4 (no second entry 4) and repairs the head.
        append(dir.path(), None, &rec("e"), &Redactor::default()).unwrap();
        assert_eq!(seqs(dir.path()), vec![1, 2, 3, 4, 5]);
        let r = verify(dir.path(), None).unwrap();
        assert_eq!((r.entries, r.head_behind), (5, false));
        // A head two behind is still lines added without the head.
        fs::write(dir.path().join("audit.head"), &head3).unwrap();
        let t = verify(dir.path(), None).unwrap_err();
        assert_eq!(t.kind, VerifyFailure::Tampered);
    }

    #[test]
    fn a_crash_before_the_first_head_is_not_tampering() {
        let dir = tempfile::tempdir().unwrap();
        append(dir.path(), None, &rec("a"), &Redactor::default()).unwrap();
        fs::write(dir.path().join("audit.head"), "").unwrap();
        assert!(verify(dir.path(), None).unwrap().head_behind);
    }

    #[test]
    fn an_unreadable_head_does_not_restart_the_chain() {
        let dir = setup();
        fs::write(dir.path().join("audit.head"), [0u8; 10]).unwrap();
        append(dir.path(), None, &rec("d"), &Redactor::default()).unwrap();
        assert_eq!(seqs(dir.path()), vec![1, 2, 3, 4]);
        assert_eq!(verify(dir.path(), None).unwrap().entries, 4);
    }

    #[test]
    fn a_torn_last_line_is_cut_off_by_the_next_append() {
        let dir = setup();
        let mut log = OpenOptions::new()
            .append(true)
            .open(dir.path().join("audit.jsonl"))
            .unwrap();
        log.write_all(b"{\"seq\":4,\"ts\":").unwrap();
        append(dir.path(), None, &rec("d"), &Redactor::default()).unwrap();
        assert_eq!(seqs(dir.path()), vec![1, 2, 3, 4]);
        assert_eq!(verify(dir.path(), None).unwrap().entries, 4);
    }

    /// A writer continues from the entry it wrote last only while the log is
    /// as it left it: entries another writer (another process) appended in
    /// between, or a cut, are read back first.
    #[test]
    fn a_long_lived_writer_sees_what_others_appended_or_cut() {
        let dir = tempfile::tempdir().unwrap();
        let r = Redactor::default();
        let mut mine = AuditWriter::open(dir.path(), None).unwrap();
        mine.append(&rec("a"), &r).unwrap();
        mine.append(&rec("b"), &r).unwrap();
        append(dir.path(), None, &rec("other"), &r).unwrap();
        mine.append(&rec("c"), &r).unwrap();
        assert_eq!(seqs(dir.path()), vec![1, 2, 3, 4]);
        assert_eq!(verify(dir.path(), None).unwrap().entries, 4);
        // The last line cut off: the head (4) is ahead of the log (3), and
        // the writer continues after the head so the cut stays visible.
        let l = lines(dir.path());
        fs::write(
            dir.path().join("audit.jsonl"),
            format!("{}\n{}\n{}\n", l[0], l[1], l[2]),
        )
        .unwrap();
        mine.append(&rec("d"), &r).unwrap();
        assert_eq!(seqs(dir.path()), vec![1, 2, 3, 5]);
        assert!(verify(dir.path(), None).is_err());
    }

    #[test]
    fn a_head_ahead_of_the_log_keeps_the_cut_visible() {
        let dir = setup();
        let l = lines(dir.path());
        fs::write(
            dir.path().join("audit.jsonl"),
            format!("{}\n{}\n", l[0], l[1]),
        )
        .unwrap();
        append(dir.path(), None, &rec("d"), &Redactor::default()).unwrap();
        assert_eq!(seqs(dir.path()), vec![1, 2, 4]);
        assert_eq!(verify(dir.path(), None).unwrap_err().line, 3);
    }

    #[test]
    fn a_keyed_log_refuses_writers_without_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = b"k3y".as_slice();
        append(dir.path(), Some(key), &rec("a"), &Redactor::default()).unwrap();
        let e = AuditWriter::open(dir.path(), None).unwrap_err();
        assert!(
            matches!(KeyRefused::find(&e), Some(KeyRefused::Missing { .. })),
            "{e}"
        );
        assert!(e.to_string().contains("DR_AUDIT_KEY is not set"), "{e}");
        let e = append(dir.path(), Some(b"other"), &rec("b"), &Redactor::default()).unwrap_err();
        assert!(
            matches!(KeyRefused::find(&e), Some(KeyRefused::Other { .. })),
            "{e}"
        );
        append(dir.path(), Some(key), &rec("b"), &Redactor::default()).unwrap();
        assert_eq!(verify(dir.path(), Some(key)).unwrap().entries, 2);
        // An unkeyed log takes entries without a key.
        let plain = tempfile::tempdir().unwrap();
        append(plain.path(), None, &rec("a"), &Redactor::default()).unwrap();
        append(plain.path(), None, &rec("b"), &Redactor::default()).unwrap();
    }

    #[test]
    fn verify_tells_an_entry_written_without_the_key_from_a_forged_one() {
        let dir = tempfile::tempdir().unwrap();
        let key = b"k3y".as_slice();
        for s in ["a", "b"] {
            append(dir.path(), Some(key), &rec(s), &Redactor::default()).unwrap();
        }
        let keyed = lines(dir.path());
        let strip = |line: &str| {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            v.as_object_mut().unwrap().remove("mac");
            v.to_string()
        };
        // Entry 2 written as an older dr without DR_AUDIT_KEY wrote it.
        fs::write(
            dir.path().join("audit.jsonl"),
            format!("{}\n{}\n", keyed[0], strip(&keyed[1])),
        )
        .unwrap();
        let t = verify(dir.path(), Some(key)).unwrap_err();
        assert_eq!((t.line, t.kind), (2, VerifyFailure::WrittenWithoutKey));
        assert!(t.to_string().contains("written without the key"), "{t}");
        // Entry 2 with a mac that is not the key's: forged.
        let mut forged: serde_json::Value = serde_json::from_str(&keyed[1]).unwrap();
        forged["mac"] = serde_json::Value::String("00".repeat(32));
        fs::write(
            dir.path().join("audit.jsonl"),
            format!("{}\n{forged}\n", keyed[0]),
        )
        .unwrap();
        let t = verify(dir.path(), Some(key)).unwrap_err();
        assert_eq!((t.line, t.kind), (2, VerifyFailure::Tampered));
    }

    #[test]
    fn verify_tells_a_file_it_cannot_read_from_tampering() {
        // A directory where a file should be: unreadable whoever runs the test.
        for file in ["audit.jsonl", "audit.head"] {
            let dir = setup();
            fs::remove_file(dir.path().join(file)).unwrap();
            fs::create_dir(dir.path().join(file)).unwrap();
            let t = verify(dir.path(), None).unwrap_err();
            assert_eq!(t.kind, VerifyFailure::Unreadable, "{file}: {t}");
            assert!(t.to_string().contains("cannot read"), "{t}");
            assert!(!t.to_string().contains("tampered"), "{t}");
        }
    }
}
