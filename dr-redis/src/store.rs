//! [`RedisStore`]: role, promote, fence and flush of one Redis server.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use dr_core::poll::{self, CancellationToken, Poll, PollError};
use dr_core::{DataStore, Promotion, ProviderError, Role, RunMode, Settings, StoreCapabilities};
use redis::aio::MultiplexedConnection;
use tokio::time::Instant;

use crate::client::{FENCE_MIN_REPLICAS, RedisNode, ReplInfo, ReplicaEntry, ReplicaSide};
use crate::config::{PromoteMode, RedisConfig};
use crate::error::{
    conflict, error, fatal, from_poll, from_redis, from_redis_in, invalid, managed_forbids,
    refuses_writes, transient,
};

/// How often a planned switchover is polled.
///
/// The waits use [`poll::until`] with a cancellation token that never fires: the
/// executor cancels a provider call by dropping its future.
const POLL: Duration = Duration::from_millis(50);

/// A Redis server as a [`DataStore`].
///
/// - `role()`: `role:master` is `Primary`, `role:slave` is `Replica { of: "host:port" }`.
/// - `writable()`: a primary whose `min-replicas-to-write` guard is met; never a replica.
///   Nothing is written to find out.
/// - `promote()`: a replica becomes a writable primary. With [`PromoteMode::Auto`]
///   (the default) that is a planned switchover (`FAILOVER TO`, sent to the current
///   primary, which waits until this replica has every write and then becomes its
///   replica) when the primary is reachable and the link is up, and an unplanned one
///   (`REPLICAOF NO ONE`) otherwise. A fence left by `fence()` is lifted.
///   That is a graceful run's promote; in an ungraceful run (`promote_with`
///   with [`RunMode::Ungraceful`]) it is always `REPLICAOF NO ONE`, whatever
///   `promote` says: the old primary is not asked, and what it accepted but
///   did not replicate is lost.
/// - `fence()`: a primary stops accepting writes: it becomes a replica of `peer`
///   when `peer` is a reachable primary (`REPLICAOF`), else `min-replicas-to-write`
///   is set to an unreachable number so every write fails with `NOREPLICAS`. A server
///   that cannot be reached is an error (kind `transient`), never a silent success.
/// - `flush()`: `FLUSHALL` on a primary (the rebuilt cache); a replica refuses it
///   (kind `conflict`).
///
/// With `managed = true` (Azure Cache for Redis, ElastiCache: the service forbids
/// `REPLICAOF`, `FAILOVER`, `CONFIG`) only `role()`, `writable()` and `flush()` are
/// offered; promote and fence fail at once (kind `invalid_request`). Without it, a
/// command the server refuses as unknown fails the same way, naming the command.
///
/// Every call reads the state back and fails when it is not what was asked for.
#[derive(Debug)]
pub struct RedisStore {
    config: RedisConfig,
    node: RedisNode,
    peer: Option<RedisNode>,
}

impl RedisStore {
    /// A store for the server in `config` (no I/O).
    pub fn new(config: RedisConfig) -> Result<Self, dr_core::ConfigError> {
        let node = config.node()?;
        let peer = config.peer_node()?;
        Ok(RedisStore { config, node, peer })
    }

    /// Builds the store from a plan resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, dr_core::ConfigError> {
        Self::new(RedisConfig::from_settings(settings)?)
    }

    /// The primary a replica follows: `peer` when set, else the address it reports.
    fn primary_of(&self, side: &ReplicaSide) -> Result<RedisNode, String> {
        if let Some(peer) = &self.peer {
            return Ok(peer.clone());
        }
        let scheme = if self.config.url.starts_with("rediss://") {
            "rediss"
        } else {
            "redis"
        };
        RedisNode::new(
            &format!("{scheme}://{}:{}", side.master_host, side.master_port),
            &self.config.auth(),
            self.node.timeout(),
        )
    }

    async fn role_inner(&self) -> Result<Role, ProviderError> {
        let info = self.node.replication().await?;
        Ok(match info.replica() {
            Some(side) => Role::Replica {
                of: Some(format!("{}:{}", side.master_host, side.master_port)),
            },
            None => Role::Primary,
        })
    }

    async fn writable_inner(&self) -> Result<bool, ProviderError> {
        let mut conn = self.node.connect().await?;
        let info = self.node.info(&mut conn).await?;
        self.node.writable(&mut conn, &info).await
    }

    /// A managed cache refuses promote and fence before anything is sent.
    fn refuse_if_managed(&self, command: &str) -> Result<(), ProviderError> {
        if self.config.managed {
            return Err(managed_forbids(&self.node.addr(), command));
        }
        Ok(())
    }

    async fn promote_inner(&self, mode: RunMode) -> Result<(), ProviderError> {
        self.refuse_if_managed("REPLICAOF")?;
        let mut conn = self.node.connect().await?;
        let info = self.node.info(&mut conn).await?;
        if let Some(side) = info.replica() {
            // An ungraceful run forces the promotion whatever `promote` says.
            let how = match mode {
                RunMode::Ungraceful => PromoteMode::Force,
                RunMode::Graceful => self.config.promote,
            };
            match how {
                PromoteMode::Force => self.replicaof_no_one(&mut conn).await?,
                PromoteMode::Failover => {
                    let primary = self.primary_of(side).map_err(invalid)?;
                    self.switchover(&primary).await?
                }
                PromoteMode::Auto => {
                    let primary = self.primary_of(side).map_err(invalid)?;
                    let reachable = side.link_up
                        && matches!(primary.replication().await, Ok(p) if p.is_master());
                    if reachable {
                        self.switchover(&primary).await?
                    } else {
                        tracing::info!(
                            server = %self.node.addr(),
                            primary = %primary.addr(),
                            "primary unreachable or link down: unplanned promotion"
                        );
                        self.replicaof_no_one(&mut conn).await?
                    }
                }
            }
        }
        // A switchover may have dropped our connection; start afresh.
        let mut conn = self.node.connect().await?;
        let info = self.node.info(&mut conn).await?;
        if !info.is_master() {
            return Err(fatal(format!(
                "{} is still a replica after promotion",
                self.node.addr()
            )));
        }
        self.unfence(&mut conn, &info).await?;
        let info = self.node.info(&mut conn).await?;
        if !self.node.writable(&mut conn, &info).await? {
            return Err(fatal(format!(
                "{} is a primary but still refuses writes (min-replicas-to-write is set and not met)",
                self.node.addr()
            )));
        }
        Ok(())
    }

    async fn replicaof_no_one(
        &self,
        conn: &mut MultiplexedConnection,
    ) -> Result<(), ProviderError> {
        let _: String = self
            .node
            .query(conn, redis::cmd("REPLICAOF").arg("NO").arg("ONE"))
            .await?;
        Ok(())
    }

    /// Lifts the `min-replicas-to-write` fence that [`fence`](DataStore::fence) sets
    /// (and only that value; a guard the operator configured is left alone).
    async fn unfence(
        &self,
        conn: &mut MultiplexedConnection,
        info: &ReplInfo,
    ) -> Result<(), ProviderError> {
        if info.min_slaves_good_slaves.is_none() {
            return Ok(());
        }
        if self.node.config_u64(conn, "min-replicas-to-write").await? == FENCE_MIN_REPLICAS {
            let _: String = self
                .node
                .query(
                    conn,
                    redis::cmd("CONFIG")
                        .arg("SET")
                        .arg("min-replicas-to-write")
                        .arg(0),
                )
                .await?;
        }
        Ok(())
    }

    /// A planned switchover: `FAILOVER TO <this server>` on its primary, then wait
    /// until this server is the primary.
    async fn switchover(&self, primary: &RedisNode) -> Result<(), ProviderError> {
        let mut pconn = primary.connect().await?;
        let pinfo = primary.info(&mut pconn).await?;
        if !pinfo.is_master() {
            return Err(conflict(format!(
                "planned switchover: {} is not a primary, so it cannot hand over to {}",
                primary.addr(),
                self.node.addr()
            )));
        }
        let in_progress = pinfo
            .failover_state
            .as_deref()
            .is_some_and(|s| s != "no-failover");
        if !in_progress {
            let me = self.wait_online(primary, &mut pconn, pinfo).await?;
            let timeout_ms = self.config.failover_timeout.as_millis() as u64;
            let sent = RedisNode::try_query::<String>(
                &mut pconn,
                redis::cmd("FAILOVER")
                    .arg("TO")
                    .arg(&me.ip)
                    .arg(me.port)
                    .arg("TIMEOUT")
                    .arg(timeout_ms),
            )
            .await;
            if let Err(e) = sent {
                let not_ready = e.detail().is_some_and(|d| d.contains("not online"));
                let mut err = from_redis_in(e, &primary.addr(), "FAILOVER");
                if not_ready {
                    err = transient(format!(
                        "planned switchover: {} is still syncing from {}",
                        self.node.addr(),
                        primary.addr()
                    ));
                }
                return Err(err);
            }
        }
        // Done when this server reports `role:master`; abandoned when the primary
        // is still a primary with no failover in progress (FAILOVER gave up).
        let what = format!(
            "planned switchover from {} to {}",
            primary.addr(),
            self.node.addr()
        );
        let deadline = Instant::now() + self.config.failover_timeout + self.node.timeout();
        let node = &self.node;
        let failover_timeout = self.config.failover_timeout;
        poll::until(&what, deadline, POLL, &CancellationToken::new(), || async move {
            if let Ok(info) = node.replication().await
                && info.is_master()
            {
                return Ok(Poll::Ready(()));
            }
            if let Ok(p) = primary.replication().await
                && p.is_master()
                && p.failover_state.as_deref() == Some("no-failover")
            {
                return Err(transient(format!(
                    "planned switchover: {} abandoned FAILOVER (the replica {} did not catch up \
                     within {:?}); it is still the primary",
                    primary.addr(),
                    node.addr(),
                    failover_timeout
                )));
            }
            Ok(Poll::Pending)
        })
        .await
        .map_err(from_poll)?;
        Ok(())
    }

    /// This server's `slaveN` entry on `primary`, once it is `online` (a replica
    /// that just finished a sync is not online until its first ACK, up to a second
    /// later, and `FAILOVER` refuses a replica that is not online).
    async fn wait_online(
        &self,
        primary: &RedisNode,
        pconn: &mut MultiplexedConnection,
        pinfo: ReplInfo,
    ) -> Result<ReplicaEntry, ProviderError> {
        let deadline = Instant::now() + self.config.failover_timeout;
        let what = format!(
            "{} to be an online replica of {}",
            self.node.addr(),
            primary.addr()
        );
        // The first look reads the INFO the caller already has; later looks ask again.
        let mut given = Some(pinfo);
        let last_state = Mutex::new(String::from("not connected"));
        let found = poll::until(&what, deadline, POLL, &CancellationToken::new(), || {
            let given = given.take();
            let mut conn = pconn.clone();
            let last_state = &last_state;
            async move {
                let pinfo = match given {
                    Some(p) => p,
                    None => primary.info(&mut conn).await?,
                };
                let replicas = pinfo.replicas();
                let me = replicas.iter().find(|r| self.node.is(&r.ip, r.port)).or(
                    if replicas.len() == 1 {
                        replicas.first()
                    } else {
                        None
                    },
                );
                match me {
                    Some(me) if me.state == "online" => Ok(Poll::Ready(me.clone())),
                    _ => {
                        *last_state.lock().unwrap_or_else(|p| p.into_inner()) = me
                            .map(|m| m.state.clone())
                            .unwrap_or_else(|| "not connected".into());
                        Ok(Poll::Pending)
                    }
                }
            }
        })
        .await;
        match found {
            Ok(me) => Ok(me),
            Err(PollError::TimedOut(_)) => Err(transient(format!(
                "planned switchover: {} is not an online replica of {} (state {})",
                self.node.addr(),
                primary.addr(),
                last_state.into_inner().unwrap_or_else(|p| p.into_inner())
            ))),
            Err(e) => Err(from_poll(e)),
        }
    }

    async fn fence_inner(&self) -> Result<(), ProviderError> {
        self.refuse_if_managed("REPLICAOF")?;
        let mut conn = self.node.connect().await.map_err(|e| {
            error(
                e.kind().clone(),
                format!(
                    "cannot fence {}: {}; it may still accept writes from clients that reach it",
                    self.node.addr(),
                    e.message()
                ),
            )
        })?;
        let info = self.node.info(&mut conn).await?;
        if self.node.writable(&mut conn, &info).await? {
            // Following the peer throws away what only this server has: only
            // when the peer has all of it (it left this server's history at or
            // past this server's offset) or there is nothing to lose (an empty
            // server); otherwise the guard refuses writes and keeps them, for
            // the failback's reverse to measure.
            let peer_has_all = match &self.peer {
                Some(peer) => match peer.replication().await {
                    Ok(p) if p.is_master() => {
                        p.divergence_of(&info) == Some(0)
                            || self.node.holds_nothing(&mut conn).await?
                    }
                    _ => false,
                },
                None => false,
            };
            match &self.peer {
                Some(peer) if peer_has_all => {
                    let _: String = self
                        .node
                        .query(
                            &mut conn,
                            redis::cmd("REPLICAOF").arg(peer.host()).arg(peer.port()),
                        )
                        .await?;
                }
                _ => self.min_replicas_fence(&mut conn).await?,
            }
        }
        let info = self.node.info(&mut conn).await?;
        if self.node.writable(&mut conn, &info).await? {
            return Err(fatal(format!(
                "{} still accepts writes after fencing",
                self.node.addr()
            )));
        }
        Ok(())
    }

    async fn min_replicas_fence(
        &self,
        conn: &mut MultiplexedConnection,
    ) -> Result<(), ProviderError> {
        // The guard is off while min-replicas-max-lag is 0.
        if self.node.config_u64(conn, "min-replicas-max-lag").await? == 0 {
            let _: String = self
                .node
                .query(
                    conn,
                    redis::cmd("CONFIG")
                        .arg("SET")
                        .arg("min-replicas-max-lag")
                        .arg(10),
                )
                .await?;
        }
        let _: String = self
            .node
            .query(
                conn,
                redis::cmd("CONFIG")
                    .arg("SET")
                    .arg("min-replicas-to-write")
                    .arg(FENCE_MIN_REPLICAS),
            )
            .await?;
        Ok(())
    }

    async fn flush_inner(&self) -> Result<(), ProviderError> {
        let mut conn = self.node.connect().await?;
        let info = self.node.info(&mut conn).await?;
        if info.is_master()
            && info.min_slaves_good_slaves.is_some()
            && self
                .node
                .config_u64(&mut conn, "min-replicas-to-write")
                .await?
                == FENCE_MIN_REPLICAS
        {
            return self.flush_fenced(&mut conn).await;
        }
        match RedisNode::try_query::<String>(&mut conn, &redis::cmd("FLUSHALL")).await {
            Ok(_) => Ok(()),
            Err(e) if refuses_writes(&e) => Err(conflict(format!(
                "{} refuses FLUSHALL ({}): flush the primary, its replicas follow",
                self.node.addr(),
                e.code().unwrap_or("READONLY")
            ))),
            Err(e) => Err(from_redis(e, &self.node.addr())),
        }
    }
}

impl RedisStore {
    /// `FLUSHALL` on a primary fenced by `fence()`: the guard is lifted, the data
    /// flushed and the guard set again in one pipeline, which the server runs back to
    /// back (it executes a client's buffered commands before serving another client).
    async fn flush_fenced(&self, conn: &mut MultiplexedConnection) -> Result<(), ProviderError> {
        let mut pipe = redis::pipe();
        pipe.cmd("CONFIG")
            .arg("SET")
            .arg("min-replicas-to-write")
            .arg(0)
            .ignore()
            .cmd("FLUSHALL")
            .ignore()
            .cmd("CONFIG")
            .arg("SET")
            .arg("min-replicas-to-write")
            .arg(FENCE_MIN_REPLICAS)
            .ignore();
        let result: redis::RedisResult<()> = pipe.query_async(conn).await;
        result.map_err(|e| from_redis_in(e, &self.node.addr(), "CONFIG"))?;
        let info = self.node.info(conn).await?;
        if self.node.writable(conn, &info).await? {
            return Err(fatal(format!(
                "{} accepts writes after a fenced flush; fence it again",
                self.node.addr()
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl DataStore for RedisStore {
    fn capabilities(&self) -> StoreCapabilities {
        if self.config.managed {
            // The service forbids REPLICAOF, FAILOVER and CONFIG.
            let mut caps = StoreCapabilities::full();
            caps.promote = false;
            caps.fence = false;
            caps
        } else {
            let mut caps = StoreCapabilities::full();
            caps.modes = true;
            caps
        }
    }

    async fn role(&self) -> Result<Role, ProviderError> {
        self.role_inner().await
    }

    async fn writable(&self) -> Result<bool, ProviderError> {
        self.writable_inner().await
    }

    async fn promote(&self) -> Result<(), ProviderError> {
        self.promote_inner(RunMode::Graceful).await
    }

    async fn promote_with(&self, how: Promotion) -> Result<(), ProviderError> {
        self.promote_inner(how.mode).await
    }

    async fn fence(&self) -> Result<(), ProviderError> {
        self.fence_inner().await
    }

    async fn flush(&self) -> Result<(), ProviderError> {
        self.flush_inner().await
    }
}
