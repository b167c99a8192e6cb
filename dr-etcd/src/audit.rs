//! The audit chain in etcd: `audit/e/SEQ` per entry, `audit/head` the last
//! entry, both put in one transaction conditioned on the head not having
//! moved, so writers on several machines extend one chain.

use std::io;
use std::sync::Arc;

use dr_core::Redactor;
use dr_core::audit::{AuditHead, AuditRecord, Tampered, VerifyReport};
use dr_core::coord::AuditLog;
use etcd_client::{Txn, TxnOp};

use crate::{Etcd, bounded, unmoved};

/// The audit chain of an etcd coordination, as one run writes it.
///
/// Like the state dir's log, which is written per entry and fsync'd when
/// the run ends, entries are not made durable one by one: an append queues
/// the record and a background task chains and writes what is queued, many
/// entries per transaction; [`AuditLog::sync_head`] (the end of a run) writes
/// everything still queued before it returns. The journal is the crash-safe
/// record of a run; a process that dies loses at most the entries still
/// queued, never the chain's integrity (entries are chained when written).
#[derive(Debug)]
pub(crate) struct EtcdAudit {
    inner: Arc<Writer>,
    flusher: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct Writer {
    etcd: Etcd,
    key: Option<Vec<u8>>,
    /// Records waiting to be chained and written, in order.
    queue: std::sync::Mutex<Vec<(AuditRecord, Redactor)>>,
    wake: tokio::sync::Notify,
    /// One writer at a time (the background task, or a sync).
    writing: tokio::sync::Mutex<()>,
    /// The head as this writer last wrote or read it, to chain the next
    /// batch without reading it again (a transaction that finds it moved reads
    /// it and chains again).
    cached: std::sync::Mutex<Option<Head>>,
}

/// The head: the last entry (its line) and the head key's mod revision
/// (0: no entry yet).
#[derive(Debug, Clone)]
struct Head {
    line: Option<Vec<u8>>,
    revision: i64,
}

impl Head {
    fn parsed(&self) -> io::Result<AuditHead> {
        let Some(line) = &self.line else {
            return Ok(dr_core::audit::genesis());
        };
        let v: serde_json::Value = serde_json::from_slice(line).unwrap_or_default();
        match (
            v.get("seq").and_then(|s| s.as_u64()),
            v.get("hash").and_then(|h| h.as_str()),
        ) {
            (Some(seq), Some(hash)) => Ok(AuditHead {
                seq,
                hash: hash.to_string(),
            }),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the audit head in etcd is not an audit entry (edited?): not appending to a \
                 broken chain; `dr audit verify` says more",
            )),
        }
    }
}

/// The most entries one transaction writes (etcd allows 128 operations).
const BATCH: usize = 60;

impl EtcdAudit {
    /// Opens the chain, refusing a keyed chain without its key or with another.
    pub(crate) async fn open(etcd: &Etcd, key: Option<&[u8]>) -> io::Result<EtcdAudit> {
        let w = Writer {
            etcd: etcd.clone(),
            key: key.map(<[u8]>::to_vec),
            queue: std::sync::Mutex::new(Vec::new()),
            wake: tokio::sync::Notify::new(),
            writing: tokio::sync::Mutex::new(()),
            cached: std::sync::Mutex::new(None),
        };
        let head = read_head(etcd).await?;
        w.check_key(&head)?;
        *w.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some(head);
        let inner = Arc::new(w);
        let flusher = tokio::spawn(background(inner.clone()));
        Ok(EtcdAudit { inner, flusher })
    }
}

impl Drop for EtcdAudit {
    fn drop(&mut self) {
        self.flusher.abort();
    }
}

/// Writes what is queued, as it is queued (stopped when the log is dropped;
/// `notify_one` keeps a wake-up that comes while a flush runs).
async fn background(writer: Arc<Writer>) {
    loop {
        if let Err(e) = writer.flush().await {
            tracing::warn!("the audit chain in etcd: {e}; retrying");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            continue;
        }
        writer.wake.notified().await;
        // Let a few more entries come: one transaction for all of them leaves
        // etcd free for the journal, which a run waits for.
        tokio::time::sleep(COALESCE).await;
    }
}

/// How long the background writer waits for more entries after the first.
const COALESCE: std::time::Duration = std::time::Duration::from_millis(50);

async fn read_head(etcd: &Etcd) -> io::Result<Head> {
    let mut c = etcd.client();
    let resp = bounded(c.get(etcd.key("audit/head"), None)).await?;
    Ok(match resp.kvs().first() {
        Some(kv) => Head {
            line: Some(kv.value().to_vec()),
            revision: kv.mod_revision(),
        },
        None => Head {
            line: None,
            revision: 0,
        },
    })
}

impl Writer {
    fn log_name(&self) -> String {
        format!("the audit chain in etcd ({})", self.etcd.key("audit/"))
    }

    fn check_key(&self, head: &Head) -> io::Result<()> {
        match &head.line {
            Some(line) => {
                dr_core::audit::check_key_after(line, self.key.as_deref(), &self.log_name())
            }
            None => Ok(()),
        }
    }

    /// Chains and writes everything queued; on an error what was not written
    /// stays queued, in order.
    async fn flush(&self) -> io::Result<()> {
        let _one = self.writing.lock().await;
        loop {
            let batch: Vec<(AuditRecord, Redactor)> = {
                let q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                q.iter().take(BATCH).cloned().collect()
            };
            if batch.is_empty() {
                return Ok(());
            }
            self.write(&batch).await?;
            self.queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .drain(..batch.len());
        }
    }

    /// Chains `batch` after the head and writes it with the new head in one
    /// transaction conditioned on the head not having moved.
    async fn write(&self, batch: &[(AuditRecord, Redactor)]) -> io::Result<()> {
        let head_key = self.etcd.key("audit/head");
        let mut c = self.etcd.client();
        for _ in 0..50 {
            let cached = self
                .cached
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let head = match cached {
                Some(h) => h,
                None => read_head(&self.etcd).await?,
            };
            self.check_key(&head)?;
            let mut prev = head.parsed()?;
            let mut ops = Vec::with_capacity(batch.len() + 1);
            let mut last = Vec::new();
            for (record, redactor) in batch {
                let (line, now) =
                    dr_core::audit::chain_entry(&prev, record, redactor, self.key.as_deref())?;
                ops.push(TxnOp::put(
                    self.etcd.key(&format!("audit/e/{:012}", now.seq)),
                    line.clone(),
                    None,
                ));
                last = line;
                prev = now;
            }
            ops.push(TxnOp::put(head_key.as_str(), last.clone(), None));
            let unchanged = unmoved(&head_key, head.revision);
            let resp = bounded(c.txn(Txn::new().when([unchanged]).and_then(ops))).await?;
            if resp.succeeded() {
                let revision = resp.header().map(|h| h.revision()).unwrap_or_default();
                *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some(Head {
                    line: Some(last),
                    revision,
                });
                return Ok(());
            }
            // Another writer extended the chain: read its head, chain after it.
            *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        Err(io::Error::other(
            "the audit chain in etcd kept moving: 50 attempts to append lost the race",
        ))
    }

    /// Every entry's line, in order.
    async fn entries(&self) -> io::Result<Vec<Vec<u8>>> {
        entries(&self.etcd).await
    }
}

async fn entries(etcd: &Etcd) -> io::Result<Vec<Vec<u8>>> {
    Ok(etcd
        .list(&etcd.key("audit/e/"))
        .await?
        .iter()
        .map(|kv| kv.value().to_vec())
        .collect())
}

impl AuditLog for EtcdAudit {
    fn append(&self, record: &AuditRecord, redactor: &Redactor) -> io::Result<()> {
        self.inner
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((record.clone(), redactor.clone()));
        self.inner.wake.notify_one();
        Ok(())
    }

    fn sync_head(&self) -> io::Result<Option<AuditHead>> {
        let w = &self.inner;
        w.etcd.handle().block_on(async {
            w.flush().await?;
            let head = read_head(&w.etcd).await?;
            head.line.is_some().then(|| head.parsed()).transpose()
        })
    }

    fn records_of_run(&self, run_id: &str) -> io::Result<Vec<AuditRecord>> {
        let w = &self.inner;
        let entries = w.etcd.handle().block_on(async {
            w.flush().await?;
            w.entries().await
        })?;
        Ok(entries
            .iter()
            .filter_map(|l| serde_json::from_slice::<AuditRecord>(l).ok())
            .filter(|r| r.run_id == run_id)
            .collect())
    }
}

/// `dr audit verify` of the chain in etcd: the entries, the head and every
/// run's journal are laid out as a state dir would hold them, and checked by
/// [`dr_core::audit::verify`], so both stores are judged by the same rules.
pub(crate) async fn verify(
    etcd: &Etcd,
    key: Option<&[u8]>,
) -> io::Result<Result<VerifyReport, Tampered>> {
    let scratch = tempfile_dir()?;
    let dir = scratch.path();
    let entries = entries(etcd).await?;
    let mut log = Vec::new();
    for e in &entries {
        log.extend_from_slice(e);
        log.push(b'\n');
    }
    let head = read_head(etcd).await?;
    if head.line.is_some() || !entries.is_empty() {
        std::fs::write(dir.join("audit.jsonl"), &log)?;
    }
    if head.line.is_some() {
        let parsed = head
            .parsed()
            .map(|h| serde_json::to_vec(&h).expect("a head serializes"))
            .unwrap_or_else(|_| b"{not a head}".to_vec());
        std::fs::write(dir.join("audit.head"), parsed)?;
    }
    dr_core::coord::Coordination::fetch_runs(etcd, dir).await?;
    let key = key.map(<[u8]>::to_vec);
    let dir = dir.to_path_buf();
    let verdict = tokio::task::spawn_blocking(move || dr_core::audit::verify(&dir, key.as_deref()))
        .await
        .map_err(io::Error::other)?;
    drop(scratch);
    Ok(verdict)
}

/// A scratch directory removed when dropped.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir() -> io::Result<Scratch> {
    let dir = std::env::temp_dir().join(format!(
        "dr-etcd-verify-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(Scratch(dir))
}
