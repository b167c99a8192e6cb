//! `dr watch` instances of a plan on several machines: sightings, the leader,
//! runs left without a process, and the shared hold-down.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dr_core::watch::hold::{Claim, TriggerLog, TriggerRecord};
use dr_core::watch::peers::{Orphan, Peers, Sighting};
use etcd_client::{GetOptions, PutOptions, SortOrder, SortTarget, Txn, TxnOp};
use tokio::sync::Mutex;

use crate::lease::Lease;
use crate::{Etcd, bounded, take_if_free, unmoved};

/// The instances of `dr watch` of one plan, as etcd shares them.
pub struct EtcdPeers {
    etcd: Etcd,
    plan: String,
    instance: String,
    /// This instance's lease (its sighting and, leading, the leader key);
    /// granted again after it was lost.
    lease: Mutex<Option<Lease>>,
}

impl std::fmt::Debug for EtcdPeers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdPeers")
            .field("plan", &self.plan)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl EtcdPeers {
    /// Instance `instance` of the watches of `plan`.
    pub fn new(etcd: &Etcd, plan: &str, instance: &str) -> EtcdPeers {
        EtcdPeers {
            etcd: etcd.with_instance(instance),
            plan: plan.to_string(),
            instance: instance.to_string(),
            lease: Mutex::new(None),
        }
    }

    /// This instance's live lease id (granting a new one if it has none).
    async fn lease(&self) -> io::Result<i64> {
        let mut held = self.lease.lock().await;
        if held.as_ref().is_some_and(Lease::lost) {
            *held = None;
        }
        if held.is_none() {
            *held = Some(Lease::grant(&self.etcd).await?);
        }
        Ok(held.as_ref().map(Lease::id).unwrap_or_default())
    }

    fn key(&self, rest: &str) -> String {
        self.etcd.key(&format!("watch/{}/{rest}", self.plan))
    }

    /// When run `run_id` last journaled.
    async fn last_entry_at(&self, run_id: &str) -> io::Result<Option<DateTime<Utc>>> {
        let mut c = self.etcd.client();
        let opts = GetOptions::new()
            .with_prefix()
            .with_sort(SortTarget::Key, SortOrder::Descend)
            .with_limit(1);
        let resp = bounded(c.get(self.etcd.key(&format!("runs/{run_id}/j/")), Some(opts))).await?;
        Ok(resp.kvs().first().and_then(|kv| {
            serde_json::from_slice::<serde_json::Value>(kv.value())
                .ok()?
                .get("ts")?
                .as_str()?
                .parse()
                .ok()
        }))
    }
}

#[async_trait]
impl Peers for EtcdPeers {
    fn instance(&self) -> &str {
        &self.instance
    }

    async fn publish(&self, sighting: &Sighting) -> io::Result<()> {
        let lease = self.lease().await?;
        let body = serde_json::to_vec(sighting).map_err(io::Error::other)?;
        let mut c = self.etcd.client();
        bounded(c.put(
            self.key(&format!("i/{}", self.instance)),
            body,
            Some(PutOptions::new().with_lease(lease)),
        ))
        .await?;
        Ok(())
    }

    async fn sightings(&self) -> io::Result<Vec<Sighting>> {
        Ok(self
            .etcd
            .list(&self.key("i/"))
            .await?
            .iter()
            .filter_map(|kv| serde_json::from_slice(kv.value()).ok())
            .collect())
    }

    async fn lead(&self) -> io::Result<bool> {
        let lease = self.lease().await?;
        let key = self.key("leader");
        let mut c = self.etcd.client();
        // Take it when nobody holds it; else see whether this lease does.
        let txn = take_if_free(&key, self.instance.as_bytes().to_vec(), lease);
        let resp = bounded(c.txn(txn)).await?;
        if resp.succeeded() {
            return Ok(true);
        }
        Ok(resp.op_responses().into_iter().any(|r| match r {
            etcd_client::TxnOpResponse::Get(g) => g
                .kvs()
                .first()
                .is_some_and(|kv| kv.lease() == lease && kv.value() == self.instance.as_bytes()),
            _ => false,
        }))
    }

    async fn orphans(&self) -> io::Result<Vec<Orphan>> {
        let mut c = self.etcd.client();
        let lock = bounded(c.get(self.etcd.key(&format!("locks/{}", self.plan)), None)).await?;
        if !lock.kvs().is_empty() {
            // A live run holds the plan: nothing is left without a process.
            return Ok(Vec::new());
        }
        let root = self.etcd.key(&format!("open/{}/", self.plan));
        let mut out = Vec::new();
        for kv in self.etcd.list(&root).await? {
            let Some(run_id) = kv.key_str().ok().and_then(|k| k.strip_prefix(&root)) else {
                continue;
            };
            let from = serde_json::from_slice::<serde_json::Value>(kv.value())
                .ok()
                .and_then(|v| v.get("from")?.as_str().map(String::from))
                .unwrap_or_else(|| "unknown".into());
            let last_entry_at = self.last_entry_at(run_id).await?.unwrap_or_else(Utc::now);
            out.push(Orphan {
                run_id: run_id.to_string(),
                from,
                last_entry_at,
            });
        }
        Ok(out)
    }

    fn triggers(&self) -> Arc<dyn TriggerLog> {
        Arc::new(EtcdTriggers {
            etcd: self.etcd.clone(),
        })
    }
}

/// The shared hold-down in etcd: `watch/PLAN/trigger`, claimed in one
/// transaction (compare its revision, put).
#[derive(Debug)]
struct EtcdTriggers {
    etcd: Etcd,
}

impl EtcdTriggers {
    fn key(&self, plan: &str) -> String {
        self.etcd.key(&format!("watch/{plan}/trigger"))
    }

    async fn last_with_revision(&self, plan: &str) -> io::Result<(Option<TriggerRecord>, i64)> {
        let mut c = self.etcd.client();
        let resp = bounded(c.get(self.key(plan), None)).await?;
        Ok(match resp.kvs().first() {
            Some(kv) => (serde_json::from_slice(kv.value()).ok(), kv.mod_revision()),
            None => (None, 0),
        })
    }

    async fn claim_async(&self, trigger: &TriggerRecord, hold_down: Duration) -> io::Result<Claim> {
        let key = self.key(&trigger.plan);
        let mut c = self.etcd.client();
        loop {
            let (last, revision) = self.last_with_revision(&trigger.plan).await?;
            if let Some(last) = last
                && last.remaining(hold_down, trigger.triggered_at).is_some()
            {
                return Ok(Claim::Held(last));
            }
            let body = serde_json::to_vec(trigger).map_err(io::Error::other)?;
            let txn = Txn::new()
                .when([unmoved(&key, revision)])
                .and_then([TxnOp::put(key.as_str(), body, None)]);
            if bounded(c.txn(txn)).await?.succeeded() {
                return Ok(Claim::Won);
            }
        }
    }
}

/// Runs `fut` to its end from synchronous code on the runtime's threads.
fn block_on<T>(etcd: &Etcd, fut: impl std::future::Future<Output = T>) -> T {
    tokio::task::block_in_place(|| etcd.handle().block_on(fut))
}

impl TriggerLog for EtcdTriggers {
    fn last(&self, plan: &str) -> io::Result<Option<TriggerRecord>> {
        block_on(&self.etcd, self.last_with_revision(plan)).map(|(r, _)| r)
    }

    fn claim(&self, trigger: &TriggerRecord, hold_down: Duration) -> io::Result<Claim> {
        block_on(&self.etcd, self.claim_async(trigger, hold_down))
    }
}
