//! The plan lock: a lease-bound key, its create revision the fencing token.

use std::io;
use std::time::Duration;

use async_trait::async_trait;
use dr_core::coord::{Fenced, RunLock};
use dr_core::lock::{LockError, LockHolder};
use etcd_client::{Compare, CompareOp, Txn, TxnOp, TxnOpResponse};
use tokio::time::Instant;

use crate::lease::Lease;
use crate::{Etcd, bounded, take_if_free};

/// A plan lock held in etcd, its lease kept alive in the background.
pub(crate) struct EtcdLock {
    etcd: Etcd,
    plan: String,
    run_id: String,
    key: String,
    token: i64,
    lease: Lease,
}

impl std::fmt::Debug for EtcdLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdLock")
            .field("key", &self.key)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

fn unavailable(plan: &str, e: &io::Error) -> LockError {
    LockError::Unavailable {
        plan: plan.to_string(),
        message: e.to_string(),
    }
}

fn holder_of(plan: &str, kv: &etcd_client::KeyValue) -> LockError {
    match serde_json::from_slice::<LockHolder>(kv.value()) {
        Ok(mut holder) => {
            holder.token = kv.create_revision().to_string();
            LockError::Held {
                plan: plan.to_string(),
                holder: Box::new(holder),
            }
        }
        Err(_) => LockError::Unavailable {
            plan: plan.to_string(),
            message: format!(
                "the lock key {} holds no lock holder (written by something else?)",
                kv.key_str().unwrap_or("?")
            ),
        },
    }
}

/// `Ok` when `plan`'s lock is free, else who holds it.
pub(crate) async fn check(etcd: &Etcd, plan: &str) -> Result<(), LockError> {
    let key = etcd.key(&format!("locks/{plan}"));
    let mut c = etcd.client();
    let resp = bounded(c.get(key.as_str(), None))
        .await
        .map_err(|e| unavailable(plan, &e))?;
    match resp.kvs().first() {
        None => Ok(()),
        Some(kv) => Err(holder_of(plan, kv)),
    }
}

impl EtcdLock {
    /// Takes `plan`'s lock for `run_id` in one transaction.
    pub(crate) async fn acquire(etcd: &Etcd, plan: &str, run_id: &str) -> Result<Self, LockError> {
        let key = etcd.key(&format!("locks/{plan}"));
        let mut c = etcd.client();
        let lease = Lease::grant(etcd)
            .await
            .map_err(|e| unavailable(plan, &e))?;
        let me = LockHolder {
            run_id: run_id.to_string(),
            pid: std::process::id(),
            host: dr_core::lock::host(),
            started_at: chrono::Utc::now(),
            token: String::new(),
        };
        let body = serde_json::to_vec(&me).expect("a holder serializes");
        let resp = match bounded(c.txn(take_if_free(&key, body, lease.id()))).await {
            Ok(r) => r,
            Err(e) => {
                lease.revoke().await;
                return Err(unavailable(plan, &e));
            }
        };
        if !resp.succeeded() {
            lease.revoke().await;
            let held = resp.op_responses().into_iter().find_map(|r| match r {
                TxnOpResponse::Get(g) => g.kvs().first().map(|kv| holder_of(plan, kv)),
                _ => None,
            });
            // Freed between the compare and the get: say so, the caller retries.
            return Err(held.unwrap_or_else(|| LockError::Unavailable {
                plan: plan.to_string(),
                message: "the lock changed hands while it was taken; retry".into(),
            }));
        }
        let token = resp.header().map(|h| h.revision()).unwrap_or_default();
        Ok(EtcdLock {
            etcd: etcd.clone(),
            plan: plan.to_string(),
            run_id: run_id.to_string(),
            key,
            token,
            lease,
        })
    }

    /// A transaction that applies `ops` only while the lock is this run's.
    async fn fenced(&self, ops: Vec<TxnOp>) -> Result<(), Fenced> {
        if self.lease.lost() {
            return Err(self.lost_lease());
        }
        let mut c = self.etcd.client();
        loop {
            let txn = Txn::new()
                .when([Compare::create_revision(
                    self.key.as_str(),
                    CompareOp::Equal,
                    self.token,
                )])
                .and_then(ops.clone());
            match bounded(c.txn(txn)).await {
                Ok(r) if r.succeeded() => return Ok(()),
                Ok(_) => {
                    self.lease.mark_lost();
                    return Err(Fenced(format!(
                        "the lock key {} is no longer this run's (fencing token {}): its lease \
                         expired, and another run may hold it now",
                        self.key, self.token
                    )));
                }
                Err(e) => {
                    if Instant::now() >= self.lease.expires() {
                        self.lease.mark_lost();
                        return Err(Fenced(format!(
                            "etcd did not confirm the lock (fencing token {}) before its lease \
                             of {} ran out: {e}",
                            self.token,
                            dr_core::format_duration(self.lease.ttl())
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn lost_lease(&self) -> Fenced {
        Fenced(format!(
            "the lease of the lock key {} (fencing token {}) expired or could not be renewed \
             within {}",
            self.key,
            self.token,
            dr_core::format_duration(self.lease.ttl())
        ))
    }
}

#[async_trait]
impl RunLock for EtcdLock {
    fn token(&self) -> u64 {
        u64::try_from(self.token).unwrap_or_default()
    }

    fn append(&self, run_id: &str, seq: u64, line: &[u8]) -> Result<(), Fenced> {
        let key = self.etcd.key(&format!("runs/{run_id}/j/{seq:012}"));
        let mut ops = vec![TxnOp::put(key, line.to_vec(), None)];
        // The index of runs in flight, which a leading watch looks at to take
        // over a run whose process died.
        let open = self.etcd.key(&format!("open/{}/{run_id}", self.plan));
        match record_type(line).as_deref() {
            Some("run_started" | "resumed") => {
                let by = serde_json::json!({ "from": self.etcd.carrier() });
                ops.push(TxnOp::put(open, by.to_string(), None));
            }
            Some("run_finished") => ops.push(TxnOp::delete(open, None)),
            _ => {}
        }
        self.etcd.handle().block_on(self.fenced(ops))
    }

    fn put_file(&self, run_id: &str, rel: &str, bytes: &[u8]) -> io::Result<()> {
        let key = self.etcd.key(&format!("runs/{run_id}/f/{rel}"));
        self.etcd
            .handle()
            .block_on(self.fenced(vec![TxnOp::put(key, bytes.to_vec(), None)]))
            .map_err(io::Error::other)
    }

    async fn release(&self) {
        // Revoking the lease deletes the key, if it is still this run's.
        tracing::debug!(plan = %self.plan, run = %self.run_id, "releasing the lock");
        self.lease.revoke().await;
    }
}

/// The `type` of a journal line.
fn record_type(line: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Typed {
        #[serde(rename = "type")]
        kind: String,
    }
    serde_json::from_slice::<Typed>(line).ok().map(|t| t.kind)
}
