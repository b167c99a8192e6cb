//! A lease kept alive in the background: the plan lock's, and each watch
//! instance's.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::{Etcd, bounded};

/// A granted lease, renewed every third of its TTL until revoked or dropped.
pub(crate) struct Lease {
    etcd: Etcd,
    id: i64,
    state: Arc<LeaseState>,
    task: JoinHandle<()>,
    revoked: AtomicBool,
}

/// What the keep-alive task knows of the lease.
struct LeaseState {
    /// The lease expired (etcd said so) or could not be renewed in time.
    lost: AtomicBool,
    /// When etcd last confirmed the lease: it runs at least `ttl` from then.
    renewed: Mutex<Instant>,
    ttl: Duration,
}

impl LeaseState {
    fn expires(&self) -> Instant {
        *self.renewed.lock().unwrap_or_else(|p| p.into_inner()) + self.ttl
    }
}

impl Lease {
    /// Grants a lease of the coordination's `lease_ttl` and keeps it alive.
    pub(crate) async fn grant(etcd: &Etcd) -> io::Result<Lease> {
        let ttl = etcd.lease_ttl();
        let mut c = etcd.client();
        let asked = Instant::now();
        let id = bounded(c.lease_grant(ttl.as_secs() as i64, None))
            .await?
            .id();
        let state = Arc::new(LeaseState {
            lost: AtomicBool::new(false),
            renewed: Mutex::new(asked),
            ttl,
        });
        let task = tokio::spawn(keep_alive(etcd.clone(), id, state.clone()));
        Ok(Lease {
            etcd: etcd.clone(),
            id,
            state,
            task,
            revoked: AtomicBool::new(false),
        })
    }

    pub(crate) fn id(&self) -> i64 {
        self.id
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.state.ttl
    }

    /// The lease expired, or could not be renewed within its TTL.
    pub(crate) fn lost(&self) -> bool {
        self.state.lost.load(Ordering::SeqCst)
    }

    pub(crate) fn mark_lost(&self) {
        self.state.lost.store(true, Ordering::SeqCst);
    }

    /// The latest instant the lease surely runs to.
    pub(crate) fn expires(&self) -> Instant {
        self.state.expires()
    }

    /// Revokes it (deleting its keys), once.
    pub(crate) async fn revoke(&self) {
        if self.revoked.swap(true, Ordering::SeqCst) {
            return;
        }
        self.task.abort();
        let mut c = self.etcd.client();
        if let Err(e) = bounded(c.lease_revoke(self.id)).await {
            tracing::warn!(
                "could not revoke etcd lease {:x} ({e}); it expires on its own",
                self.id
            );
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.task.abort();
        if !self.revoked.swap(true, Ordering::SeqCst) {
            let (mut c, id) = (self.etcd.client(), self.id);
            self.etcd.handle().spawn(async move {
                let _ = bounded(c.lease_revoke(id)).await;
            });
        }
    }
}

/// Renews the lease every third of its TTL; marks it lost when etcd says it
/// expired, or when no renewal succeeded for a whole TTL.
async fn keep_alive(etcd: Etcd, lease: i64, state: Arc<LeaseState>) {
    let every = state.ttl / 3;
    let mut c = etcd.client();
    loop {
        if let Ok(Ok((mut keeper, mut stream))) =
            tokio::time::timeout(every, c.lease_keep_alive(lease)).await
        {
            loop {
                let sent = Instant::now();
                if tokio::time::timeout(every, keeper.keep_alive())
                    .await
                    .map_or(true, |r| r.is_err())
                {
                    break;
                }
                match tokio::time::timeout(every, stream.message()).await {
                    Ok(Ok(Some(r))) if r.ttl() > 0 => {
                        *state.renewed.lock().unwrap_or_else(|p| p.into_inner()) = sent;
                    }
                    Ok(Ok(Some(_))) => {
                        // etcd: this lease no longer exists.
                        state.lost.store(true, Ordering::SeqCst);
                        return;
                    }
                    _ => break,
                }
                tokio::time::sleep_until(sent + every).await;
            }
        }
        if Instant::now() >= state.expires() {
            state.lost.store(true, Ordering::SeqCst);
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
