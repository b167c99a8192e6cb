//! # dr-etcd
//!
//! Coordination of `dr` runs on etcd (`--coordination etcd://H:P,H:P,H:P`):
//! the plan lock, the journal, the audit chain and the leadership of
//! `dr watch`, shared by every machine given the same URL, so that a run
//! survives the region (and the machine) it started in. See
//! [`dr_core::coord`] for the seam, and DESIGN.md "Coordination across
//! machines".
//!
//! # Keys (under the prefix, default `/dr`)
//!
//! | key | value | bound to a lease |
//! |---|---|---|
//! | `locks/PLAN` | the holder (run, pid, host, since) | the run's lease |
//! | `runs/RUN/j/SEQ` | journal entry SEQ (12 digits), as in `journal.jsonl` | no |
//! | `runs/RUN/f/PATH` | the run's plan copies (`plan.toml`, `children/…`) | no |
//! | `audit/e/SEQ` | audit chain entry SEQ | no |
//! | `audit/head` | the chain's last entry | no |
//! | `watch/PLAN/i/INSTANCE` | what a watcher sees now | the watcher's lease |
//! | `watch/PLAN/leader` | the leading watcher | the leader's lease |
//! | `watch/PLAN/trigger` | the last trigger (hold-down) | no |
//!
//! # Fencing
//!
//! The lock is taken in one transaction (`create_revision(locks/PLAN) == 0`
//! → put with the lease); the key's create revision is the run's fencing
//! token, journaled (`lock_token`) and audited. Every journal entry is put in a
//! transaction that also compares `create_revision(locks/PLAN) == token`: once
//! the lease has expired (the holder froze, or lost etcd) the key is gone or
//! another run's, so the holder cannot record one more entry, and the executor
//! calls no provider after a refused entry; the run stops `interrupted`. An
//! entry that etcd cannot confirm before the lease would have expired is
//! refused the same way.

mod audit;
mod lease;
mod lock;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod url;
mod watch;

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dr_core::Plan;
use dr_core::audit::{Tampered, VerifyReport};
use dr_core::coord::{AuditLog, Coordination, RunLock};
use dr_core::lock::LockError;
use etcd_client::{Client, ConnectOptions, GetOptions, KeyValue};

pub use url::{DEFAULT_LEASE_TTL, DEFAULT_PREFIX, EtcdUrl};
pub use watch::EtcdPeers;

/// How long one etcd request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Coordination on an etcd cluster. Cheap to clone.
#[derive(Clone)]
pub struct Etcd {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    url: EtcdUrl,
    handle: tokio::runtime::Handle,
    /// The `dr watch --instance` this process is, if any.
    instance: Option<String>,
}

impl std::fmt::Debug for Etcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Etcd")
            .field("endpoints", &self.inner.url.endpoints)
            .field("prefix", &self.inner.url.prefix)
            .finish_non_exhaustive()
    }
}

impl Etcd {
    /// A client of the members of `url` (`etcd://H:P,..[?prefix=/dr&lease_ttl=5s]`).
    /// Connects lazily: a member that is down is skipped, and nothing fails
    /// until a request finds no member that answers.
    pub async fn connect(url: &str) -> Result<Etcd, dr_core::ConfigError> {
        let url = EtcdUrl::parse(url)?;
        let options = ConnectOptions::new()
            .with_connect_timeout(REQUEST_TIMEOUT)
            .with_keep_alive(Duration::from_secs(2), REQUEST_TIMEOUT)
            // A member cut off from the majority refuses instead of answering
            // from what it last knew.
            .with_require_leader(true);
        let client = Client::connect(&url.endpoints, Some(options))
            .await
            .map_err(|e| dr_core::ConfigError::key("coordination", format!("etcd: {e}")))?;
        Ok(Etcd {
            inner: Arc::new(Inner {
                client,
                url,
                handle: tokio::runtime::Handle::current(),
                instance: None,
            }),
        })
    }

    /// The same coordination, for the watch instance `name` (recorded with
    /// the runs it carries, and what [`EtcdPeers`] publishes as).
    pub fn with_instance(&self, name: &str) -> Etcd {
        Etcd {
            inner: Arc::new(Inner {
                client: self.inner.client.clone(),
                url: self.inner.url.clone(),
                handle: self.inner.handle.clone(),
                instance: Some(name.to_string()),
            }),
        }
    }

    /// The watch instance, if any.
    pub fn instance(&self) -> Option<&str> {
        self.inner.instance.as_deref()
    }

    /// Who carries a run this process holds: the instance, else `host pid`.
    pub(crate) fn carrier(&self) -> String {
        self.inner
            .instance
            .clone()
            .unwrap_or_else(|| format!("{} pid {}", dr_core::lock::host(), std::process::id()))
    }

    /// The parsed URL.
    pub fn url(&self) -> &EtcdUrl {
        &self.inner.url
    }

    /// The lease of locks and watchers.
    pub fn lease_ttl(&self) -> Duration {
        self.inner.url.lease_ttl
    }

    /// `PREFIX/rest`.
    pub(crate) fn key(&self, rest: &str) -> String {
        format!("{}/{rest}", self.inner.url.prefix)
    }

    pub(crate) fn client(&self) -> Client {
        self.inner.client.clone()
    }

    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        &self.inner.handle
    }

    /// Every key-value under `prefix`, in key order.
    pub(crate) async fn list(&self, prefix: &str) -> io::Result<Vec<KeyValue>> {
        let mut c = self.client();
        let resp = bounded(c.get(prefix, Some(GetOptions::new().with_prefix()))).await?;
        Ok(resp.kvs().to_vec())
    }

    /// `/dr/runs/RUN/` and the run ids known.
    async fn run_ids(&self) -> io::Result<Vec<String>> {
        let root = self.key("runs/");
        let mut c = self.client();
        let resp = bounded(c.get(
            root.as_str(),
            Some(GetOptions::new().with_prefix().with_keys_only()),
        ))
        .await?;
        let mut ids: Vec<String> = resp
            .kvs()
            .iter()
            .filter_map(|kv| kv.key_str().ok())
            .filter_map(|k| k.strip_prefix(&root))
            .filter_map(|k| k.split('/').next())
            .map(str::to_string)
            .collect();
        ids.dedup();
        Ok(ids)
    }
}

/// An etcd request bounded by [`REQUEST_TIMEOUT`], its error as `io::Error`.
pub(crate) async fn bounded<T>(
    fut: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> io::Result<T> {
    match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(io::Error::other(format!("etcd: {e}"))),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "etcd: no answer within {} (no member reachable, or no majority)",
                dr_core::format_duration(REQUEST_TIMEOUT)
            ),
        )),
    }
}

/// A compare that holds while `key` is as it was read at `mod_revision`
/// (0: it did not exist): the condition of a read-modify-write.
pub(crate) fn unmoved(key: &str, mod_revision: i64) -> etcd_client::Compare {
    use etcd_client::{Compare, CompareOp};
    if mod_revision == 0 {
        Compare::version(key, CompareOp::Equal, 0)
    } else {
        Compare::mod_revision(key, CompareOp::Equal, mod_revision)
    }
}

/// Puts `value` at `key` bound to `lease` only if nobody holds `key`; else
/// reads who does (the `get` answer of the failed transaction).
pub(crate) fn take_if_free(key: &str, value: Vec<u8>, lease: i64) -> etcd_client::Txn {
    use etcd_client::{Compare, CompareOp, PutOptions, Txn, TxnOp};
    Txn::new()
        .when([Compare::create_revision(key, CompareOp::Equal, 0)])
        .and_then([TxnOp::put(
            key,
            value,
            Some(PutOptions::new().with_lease(lease)),
        )])
        .or_else([TxnOp::get(key, None)])
}

/// Writes `bytes` to `path` whole (a temporary file renamed into place).
fn write_whole(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    let tmp = path.with_extension(format!("fetch.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[async_trait]
impl Coordination for Etcd {
    fn describe(&self) -> String {
        let hosts: Vec<&str> = self
            .inner
            .url
            .endpoints
            .iter()
            .map(|e| e.trim_start_matches("http://"))
            .collect();
        format!(
            "etcd {} (prefix {})",
            hosts.join(","),
            self.inner.url.prefix
        )
    }

    fn is_shared(&self) -> bool {
        true
    }

    async fn lock(&self, plan: &Plan, run_id: &str) -> Result<Arc<dyn RunLock>, LockError> {
        Ok(Arc::new(
            lock::EtcdLock::acquire(self, &plan.name, run_id).await?,
        ))
    }

    async fn check_lock(&self, plan: &Plan) -> Result<(), LockError> {
        lock::check(self, &plan.name).await
    }

    async fn fetch_run(&self, run_id: &str, state_dir: &Path) -> io::Result<bool> {
        dr_core::state::check_run_id(run_id).map_err(io::Error::other)?;
        let root = self.key(&format!("runs/{run_id}/"));
        let kvs = self.list(&root).await?;
        if kvs.is_empty() {
            return Ok(false);
        }
        let dir = dr_core::state::RunDir::new(state_dir, run_id);
        let mut journal = Vec::new();
        for kv in &kvs {
            let Some(rest) = kv.key_str().ok().and_then(|k| k.strip_prefix(&root)) else {
                continue;
            };
            if rest.starts_with("j/") {
                journal.extend_from_slice(kv.value());
                journal.push(b'\n');
            } else if let Some(rel) = rest.strip_prefix("f/") {
                // Only the files a run stores: no way out of the run directory.
                if rel
                    .split('/')
                    .any(|p| p.is_empty() || p == "." || p == "..")
                {
                    continue;
                }
                write_whole(&dir.path().join(rel), kv.value())?;
            }
        }
        write_whole(&dir.journal(), &journal)?;
        Ok(true)
    }

    async fn fetch_runs(&self, state_dir: &Path) -> io::Result<usize> {
        // Keys that are no run id were not written by dr: skipped.
        let ids: Vec<String> = self
            .run_ids()
            .await?
            .into_iter()
            .filter(|id| dr_core::state::check_run_id(id).is_ok())
            .collect();
        for id in &ids {
            self.fetch_run(id, state_dir).await?;
        }
        Ok(ids.len())
    }

    async fn open_audit(&self, key: Option<&[u8]>) -> io::Result<Arc<dyn AuditLog>> {
        Ok(Arc::new(audit::EtcdAudit::open(self, key).await?))
    }

    async fn verify_audit(&self, key: Option<&[u8]>) -> io::Result<Result<VerifyReport, Tampered>> {
        audit::verify(self, key).await
    }
}
