//! The audit chain in etcd: `audit/e/SEQ` per entry, `audit/head` the last
//! entry, both put in one transaction conditioned on the head not having
//! moved, so writers on several machines extend one chain.

use std::io;

use dr_core::Redactor;
use dr_core::audit::{AuditHead, AuditRecord, Tampered, VerifyReport};
use dr_core::coord::AuditLog;
use etcd_client::{Compare, CompareOp, Txn, TxnOp};

use crate::{Etcd, bounded};

/// The audit chain of an etcd coordination.
#[derive(Debug)]
pub(crate) struct EtcdAudit {
    etcd: Etcd,
    key: Option<Vec<u8>>,
}

/// The head: the last entry (its line) and the head key's mod revision
/// (0: no entry yet).
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

impl EtcdAudit {
    /// Opens the chain, refusing a keyed chain without its key or with another.
    pub(crate) async fn open(etcd: &Etcd, key: Option<&[u8]>) -> io::Result<EtcdAudit> {
        let audit = EtcdAudit {
            etcd: etcd.clone(),
            key: key.map(<[u8]>::to_vec),
        };
        let head = audit.head().await?;
        audit.check_key(&head)?;
        Ok(audit)
    }

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

    async fn head(&self) -> io::Result<Head> {
        let mut c = self.etcd.client();
        let resp = bounded(c.get(self.etcd.key("audit/head"), None)).await?;
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

    async fn append_async(&self, record: &AuditRecord, redactor: &Redactor) -> io::Result<()> {
        let head_key = self.etcd.key("audit/head");
        let mut c = self.etcd.client();
        // Another writer extended the chain between the read and the put:
        // read the new head and chain after it.
        for _ in 0..50 {
            let head = self.head().await?;
            self.check_key(&head)?;
            let prev = head.parsed()?;
            let (line, now) =
                dr_core::audit::chain_entry(&prev, record, redactor, self.key.as_deref())?;
            let unchanged = if head.revision == 0 {
                Compare::version(head_key.as_str(), CompareOp::Equal, 0)
            } else {
                Compare::mod_revision(head_key.as_str(), CompareOp::Equal, head.revision)
            };
            let txn = Txn::new().when([unchanged]).and_then([
                TxnOp::put(
                    self.etcd.key(&format!("audit/e/{:012}", now.seq)),
                    line.clone(),
                    None,
                ),
                TxnOp::put(head_key.as_str(), line, None),
            ]);
            if bounded(c.txn(txn)).await?.succeeded() {
                return Ok(());
            }
        }
        Err(io::Error::other(
            "the audit chain in etcd kept moving: 50 attempts to append lost the race",
        ))
    }

    /// Every entry's line, in order.
    async fn entries(&self) -> io::Result<Vec<Vec<u8>>> {
        Ok(self
            .etcd
            .list(&self.etcd.key("audit/e/"))
            .await?
            .iter()
            .map(|kv| kv.value().to_vec())
            .collect())
    }
}

impl AuditLog for EtcdAudit {
    fn append(&self, record: &AuditRecord, redactor: &Redactor) -> io::Result<()> {
        self.etcd
            .handle()
            .block_on(self.append_async(record, redactor))
    }

    fn sync_head(&self) -> io::Result<Option<AuditHead>> {
        // etcd has made each entry durable on a majority before answering.
        let head = self.etcd.handle().block_on(self.head())?;
        head.line.is_some().then(|| head.parsed()).transpose()
    }

    fn records_of_run(&self, run_id: &str) -> io::Result<Vec<AuditRecord>> {
        let entries = self.etcd.handle().block_on(self.entries())?;
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
    let audit = EtcdAudit {
        etcd: etcd.clone(),
        key: None,
    };
    let scratch = tempfile_dir()?;
    let dir = scratch.path();
    let entries = audit.entries().await?;
    let mut log = Vec::new();
    for e in &entries {
        log.extend_from_slice(e);
        log.push(b'\n');
    }
    let head = audit.head().await?;
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
