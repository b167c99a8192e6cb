//! [`RedisReplicator`]: the replication link from `peer` (source) to `url` (target).

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use dr_core::{
    ProviderError, ReplicationState, ReplicationStatus, Replicator, ReplicatorCapabilities,
    Settings,
};

use crate::client::{NodeRole, RedisNode, ReplInfo};
use crate::config::RedisConfig;
use crate::error::{conflict, fatal, invalid, managed_forbids};

/// The replication link into the server at `url` (the target) from `peer` (the
/// source), as a [`Replicator`].
///
/// `status()` reads the target's `INFO replication`:
/// - target is a replica: `replicating` while `master_link_status:up`, else `broken`.
///   `lag_bytes` = the source's `master_repl_offset` − the target's `slave_repl_offset`
///   (read in that order, so it never under-reports), when the source can be reached.
///   `lag` is zero when no byte is missing, else `master_last_io_seconds_ago` + 1s
///   (Redis counts whole seconds) while the link is up, and
///   `master_link_down_since_seconds` + 2s once it is down (whole seconds from the
///   server's cached clock, rounded up): every write the target may lack was accepted
///   by the source within that window, when the link went down because the source
///   died. (When a network partition cut it, the replica notices only after
///   `repl-timeout`, 60s by default; writes in that time are not covered.)
/// - target is a primary that the source follows (after `reverse()`): the reversed
///   link, from the target's `slaveN` line (`state=online` is `replicating`; byte lag
///   from the offsets; `lag=` seconds since the last ACK + 1s).
/// - target is a primary nobody follows: `paused` (stopped), no lag.
///
/// `stop()` makes the target stop following (`REPLICAOF NO ONE`); `reverse()` makes
/// the source a replica of the target (`REPLICAOF target`), for failback.
#[derive(Debug)]
pub struct RedisReplicator {
    config: RedisConfig,
    target: RedisNode,
    source: Option<RedisNode>,
}

impl RedisReplicator {
    /// A replicator for the link into the server in `config` (no I/O).
    pub fn new(config: RedisConfig) -> Result<Self, dr_core::ConfigError> {
        let target = config.node()?;
        let source = config.peer_node()?;
        Ok(RedisReplicator {
            config,
            target,
            source,
        })
    }

    /// Builds the replicator from a plan resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, dr_core::ConfigError> {
        Self::new(RedisConfig::from_settings(settings)?)
    }

    /// The source the target follows: `peer` when set, else the address it reports.
    fn source_for(&self, host: &str, port: u16) -> Option<RedisNode> {
        if let Some(s) = &self.source {
            return Some(s.clone());
        }
        let scheme = if self.config.url.starts_with("rediss://") {
            "rediss"
        } else {
            "redis"
        };
        RedisNode::new(
            &format!("{scheme}://{host}:{port}"),
            &self.config.auth(),
            self.target.timeout(),
        )
        .ok()
    }

    async fn status_inner(&self) -> Result<ReplicationStatus, ProviderError> {
        let target = self.target.replication().await?;
        let status = match &target.role {
            NodeRole::Replica(side) => {
                // The source first: its offset read before the target's can only be
                // smaller than the one that matches, so the byte lag is never too low.
                let source_offset = match self.source_for(&side.master_host, side.master_port) {
                    Some(source) => match source.replication().await {
                        Ok(info) if info.is_master() => Some(info.master_repl_offset),
                        _ => None,
                    },
                    None => None,
                };
                let target = if source_offset.is_some() {
                    self.target.replication().await?
                } else {
                    target.clone()
                };
                let Some(side) = target.replica() else {
                    // Promoted in between; report what it is now.
                    return Box::pin(self.status_inner()).await;
                };
                let lag_bytes = source_offset.map(|o| o.saturating_sub(side.offset));
                link_status(
                    side.link_up,
                    lag_bytes,
                    if side.link_up {
                        side.last_io_secs
                    } else {
                        // Redis computes the down time from its cached clock (updated
                        // ten times a second) in whole seconds: one more second keeps
                        // the window an upper bound.
                        side.down_since_secs.map(|s| s.saturating_add(1))
                    },
                )
            }
            NodeRole::Master { replicas } => {
                let follower = replicas.iter().find(|r| match &self.source {
                    Some(s) => s.is(&r.ip, r.port),
                    None => true,
                });
                match follower {
                    Some(r) => {
                        // The follower's own offset is current; the one in `slaveN` is
                        // from its last ACK (once a second). Follower first, then the
                        // target, so the byte lag is never too low.
                        let own = match &self.source {
                            Some(s) => match s.replication().await {
                                Ok(info) => info.replica().map(|side| side.offset),
                                Err(_) => None,
                            },
                            None => None,
                        };
                        let (offset, primary_offset) = match own {
                            Some(o) => (o, self.target.replication().await?.master_repl_offset),
                            None => (r.offset, target.master_repl_offset),
                        };
                        link_status(
                            r.state == "online",
                            Some(primary_offset.saturating_sub(offset)),
                            r.lag_secs,
                        )
                    }
                    None => ReplicationStatus::new(ReplicationState::Paused, None),
                }
            }
        };
        Ok(status)
    }

    async fn stop_inner(&self) -> Result<(), ProviderError> {
        if self.config.managed {
            return Err(managed_forbids(&self.target.addr(), "REPLICAOF"));
        }
        let mut conn = self.target.connect().await?;
        let info = self.target.info(&mut conn).await?;
        if info.replica().is_some() {
            let _: String = self
                .target
                .query(&mut conn, redis::cmd("REPLICAOF").arg("NO").arg("ONE"))
                .await?;
            let info = self.target.info(&mut conn).await?;
            if !info.is_master() {
                return Err(fatal(format!(
                    "{} still follows a primary after REPLICAOF NO ONE",
                    self.target.addr()
                )));
            }
        } else if self.reversed(&info) {
            return Err(conflict(format!(
                "the link is reversed ({} follows {}); stopping it would leave two primaries",
                self.source
                    .as_ref()
                    .map(RedisNode::addr)
                    .unwrap_or_default(),
                self.target.addr()
            )));
        }
        Ok(())
    }

    /// Whether the source follows the target (the link after `reverse()`).
    fn reversed(&self, target: &ReplInfo) -> bool {
        match &self.source {
            Some(s) => target.replicas().iter().any(|r| s.is(&r.ip, r.port)),
            None => false,
        }
    }

    /// What a reverse would discard on the old primary (`peer`): the bytes of
    /// its history past the point where the new primary left it. The new
    /// primary's `master_replid2` is the history it followed and
    /// `second_repl_offset` one past the last byte of it that it has; when the
    /// old primary still writes that history (`master_replid` equal), its
    /// `master_repl_offset` beyond that point is what only it has. 0 when the
    /// old primary already follows the new one; unknown when the histories
    /// cannot be matched (the old primary restarted, or was never the source).
    async fn divergence_inner(&self) -> Result<Option<u64>, ProviderError> {
        let Some(source) = &self.source else {
            return Ok(None);
        };
        let target = self.target.replication().await?;
        if !target.is_master() {
            return Err(conflict(format!(
                "{} is still a replica: promote it (or stop the link) before reversing",
                self.target.addr()
            )));
        }
        let old = source.replication().await?;
        if let Some(side) = old.replica() {
            let follows =
                side.master_port == self.target.port() && side.master_host == self.target.host();
            return Ok(follows.then_some(0));
        }
        Ok(target.divergence_of(&old))
    }

    async fn reverse_inner(&self) -> Result<(), ProviderError> {
        if self.config.managed {
            return Err(managed_forbids(&self.target.addr(), "REPLICAOF"));
        }
        let source = self
            .source
            .as_ref()
            .ok_or_else(|| invalid("reverse needs `peer` (the old primary) in the settings"))?;
        let target = self.target.replication().await?;
        if !target.is_master() {
            return Err(conflict(format!(
                "{} is still a replica: promote it (or stop the link) before reversing",
                self.target.addr()
            )));
        }
        let mut conn = source.connect().await?;
        let info = source.info(&mut conn).await?;
        let follows_target = |info: &ReplInfo| {
            info.replica().is_some_and(|s| {
                s.master_port == self.target.port() && s.master_host == self.target.host()
            })
        };
        if !follows_target(&info) {
            let _: String = source
                .query(
                    &mut conn,
                    redis::cmd("REPLICAOF")
                        .arg(self.target.host())
                        .arg(self.target.port()),
                )
                .await?;
            let info = source.info(&mut conn).await?;
            if !follows_target(&info) {
                return Err(fatal(format!(
                    "{} does not follow {} after REPLICAOF",
                    source.addr(),
                    self.target.addr()
                )));
            }
        }
        Ok(())
    }
}

/// A link's status from whether it is up, its byte lag (if known) and the seconds
/// Redis reports for it (since the last I/O while up, since it went down otherwise).
fn link_status(up: bool, lag_bytes: Option<u64>, secs: Option<u64>) -> ReplicationStatus {
    let lag = if up && lag_bytes == Some(0) {
        Some(Duration::ZERO)
    } else {
        // Whole seconds, truncated by Redis: round up.
        secs.map(|s| Duration::from_secs(s.saturating_add(1)))
    };
    let state = if up {
        ReplicationState::Replicating
    } else {
        ReplicationState::Broken
    };
    ReplicationStatus {
        state,
        lag,
        lag_bytes,
        last_sync: lag.and_then(|l| chrono::Duration::from_std(l).ok().map(|l| Utc::now() - l)),
        detail: None,
    }
}

#[async_trait]
impl Replicator for RedisReplicator {
    fn capabilities(&self) -> ReplicatorCapabilities {
        if self.config.managed {
            // The service forbids REPLICAOF: observe only.
            return ReplicatorCapabilities::observe_only();
        }
        let mut caps = ReplicatorCapabilities::full();
        caps.reverse = self.source.is_some();
        caps.discards = true;
        caps
    }

    async fn status(&self) -> Result<ReplicationStatus, ProviderError> {
        self.status_inner().await
    }

    async fn stop(&self) -> Result<(), ProviderError> {
        self.stop_inner().await
    }

    async fn reverse(&self) -> Result<(), ProviderError> {
        self.reverse_inner().await
    }

    async fn divergence(&self) -> Result<Option<u64>, ProviderError> {
        self.divergence_inner().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_up_link_in_sync_has_no_lag() {
        let s = link_status(true, Some(0), Some(7));
        assert_eq!(s.state, ReplicationState::Replicating);
        assert_eq!(s.lag, Some(Duration::ZERO));
        assert_eq!(s.lag_bytes, Some(0));
    }

    #[test]
    fn a_behind_link_rounds_seconds_up() {
        let s = link_status(true, Some(4096), Some(0));
        assert_eq!(s.lag, Some(Duration::from_secs(1)));
        let s = link_status(true, None, Some(2));
        assert_eq!(s.lag, Some(Duration::from_secs(3)));
        assert_eq!(s.lag_bytes, None);
    }

    #[test]
    fn a_down_link_is_broken_with_the_down_time_as_lag() {
        let s = link_status(false, None, Some(5));
        assert_eq!(s.state, ReplicationState::Broken);
        assert_eq!(s.lag, Some(Duration::from_secs(6)));
        assert!(s.last_sync.is_some());
        let never = link_status(false, None, None);
        assert_eq!(never.lag, None, "never connected: no lag to report");
    }
}
