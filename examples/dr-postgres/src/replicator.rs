//! [`PostgresReplicator`]: a streaming replication link, seen from the standby.

use std::time::Duration;

use async_trait::async_trait;
use dr_core::poll::{self, CancellationToken, Poll};
use dr_core::{
    ProviderError, ReplicationState, ReplicationStatus, Replicator, ReplicatorCapabilities,
    Settings,
};
use tokio::time::Instant;

use crate::client::PgNode;
use crate::config::PostgresConfig;
use crate::error::{from_poll, invalid};

const POLL: Duration = Duration::from_millis(25);

/// The link from `peer` (the primary) into `url` (its streaming standby), as a
/// [`Replicator`].
///
/// - `status()`: on the standby, `pg_stat_wal_receiver.status = 'streaming'` is
///   `replicating`; no WAL receiver with an empty `primary_conninfo` is `paused`
///   (stopped by [`stop`](Replicator::stop)); no WAL receiver otherwise is
///   `broken` (the primary is unreachable); a server out of recovery is `broken`
///   (promoted: the link is gone). Lag: see [the crate docs](crate#replication-lag).
/// - `stop()`: first, when the primary can be reached, waits (up to `timeout`)
///   until the standby has replayed the primary's WAL up to where it was when
///   the stop began, so that a stop after a fence loses no acknowledged write;
///   then `ALTER SYSTEM SET primary_conninfo = ''` and a reload on the standby:
///   PostgreSQL (13 and later) ends the WAL receiver, and the standby stays in
///   recovery, ready to be promoted. Stopping a stopped or promoted link is `Ok`.
///   The primary's replication slot, if any, is left alone (it keeps WAL for a
///   failback; drop it if the old primary is abandoned).
/// - `reverse()`: not offered. Making the old primary a standby of the new one
///   needs a `standby.signal` file and a restart (after `pg_rewind`, or a new
///   `pg_basebackup`): files and processes on that host, out of SQL's reach. Do
///   it with an `exec` step.
#[derive(Debug)]
pub struct PostgresReplicator {
    config: PostgresConfig,
    node: PgNode,
    primary: PgNode,
}

/// What the standby says about its link.
struct StandbyState {
    in_recovery: bool,
    receiver: Option<String>,
    conninfo_empty: bool,
    replay_lsn: Option<String>,
    replay_age: Option<f64>,
}

impl PostgresReplicator {
    /// The link into the standby of `config` from its `peer`.
    pub fn new(config: PostgresConfig) -> Result<Self, dr_core::ConfigError> {
        let node = config.node()?;
        let primary = config.peer_node()?.ok_or_else(|| {
            dr_core::ConfigError::key(
                "peer",
                "a postgres replicator needs `peer`, the primary its standby (`url`) follows: \
                 lag is measured against the primary's WAL position",
            )
        })?;
        Ok(PostgresReplicator {
            config,
            node,
            primary,
        })
    }

    /// Reads the resource's settings (see [`PostgresConfig`]).
    pub fn from_settings(settings: &Settings) -> Result<Self, dr_core::ConfigError> {
        Self::new(PostgresConfig::from_settings(settings)?)
    }

    async fn standby(&self) -> Result<StandbyState, ProviderError> {
        let conn = self.node.connect().await?;
        let row = conn
            .row(
                "read the replication link",
                "SELECT pg_is_in_recovery(), \
                        (SELECT status FROM pg_stat_wal_receiver LIMIT 1), \
                        current_setting('primary_conninfo') = '', \
                        pg_last_wal_replay_lsn()::text, \
                        EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8",
                &[],
            )
            .await?;
        Ok(StandbyState {
            in_recovery: row.get(0),
            receiver: row.get(1),
            conninfo_empty: row.get(2),
            replay_lsn: row.get(3),
            replay_age: row.get(4),
        })
    }

    /// Before the link is cut: when the primary can be reached, waits until the
    /// standby has replayed everything the primary had written when the stop
    /// began, so that stopping a link loses nothing it had already accepted
    /// (after a fence, nothing at all). A primary that cannot be reached sends
    /// nothing more: there is nothing to wait for.
    async fn drain(&self) -> Result<(), ProviderError> {
        crate::catchup::catch_up(&self.node, &self.primary, self.config.timeout)
            .await
            .map(|_| ())
    }

    /// Bytes of WAL the primary has that the standby has not replayed, or `None`
    /// when the primary cannot be asked.
    async fn bytes_behind(&self, replay_lsn: &str) -> Option<i64> {
        let conn = self.primary.connect().await.ok()?;
        let row = conn
            .row(
                "read the primary's WAL position",
                "SELECT pg_wal_lsn_diff( \
                     CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
                          ELSE pg_current_wal_lsn() END, \
                     $1::text::pg_lsn)::bigint",
                &[&replay_lsn],
            )
            .await
            .ok()?;
        row.get::<_, Option<i64>>(0)
    }
}

#[async_trait]
impl Replicator for PostgresReplicator {
    fn capabilities(&self) -> ReplicatorCapabilities {
        let mut caps = ReplicatorCapabilities::observe_only();
        caps.stop = true;
        caps
    }

    async fn status(&self) -> Result<ReplicationStatus, ProviderError> {
        let standby = self.standby().await?;
        if !standby.in_recovery {
            return Ok(ReplicationStatus::new(ReplicationState::Broken, None));
        }
        let state = match (&standby.receiver, standby.conninfo_empty) {
            (Some(status), _) if status == "streaming" => ReplicationState::Replicating,
            (None, true) => ReplicationState::Paused,
            _ => ReplicationState::Broken,
        };
        let behind = match &standby.replay_lsn {
            Some(lsn) => self.bytes_behind(lsn).await,
            None => None,
        };
        let lag = match behind {
            Some(bytes) if bytes <= 0 => Some(Duration::ZERO),
            // Behind: the newest replayed commit is this old, an upper bound on
            // the writes a promotion now would lose.
            Some(_) => standby.replay_age.and_then(dr_core::lag_from_secs),
            None => None,
        };
        let mut status = ReplicationStatus::new(state, lag);
        status.lag_bytes = behind.map(|b| u64::try_from(b.max(0)).unwrap_or(0));
        Ok(status)
    }

    async fn stop(&self) -> Result<(), ProviderError> {
        let standby = self.standby().await?;
        if !standby.in_recovery || (standby.receiver.is_none() && standby.conninfo_empty) {
            return Ok(());
        }
        self.drain().await?;
        let conn = self.node.connect().await?;
        conn.exec(
            "forget the primary",
            "ALTER SYSTEM SET primary_conninfo = ''",
        )
        .await?;
        conn.exec("reload the configuration", "SELECT pg_reload_conf()")
            .await?;
        let what = format!("{}: the WAL receiver to stop", self.node.addr());
        let deadline = Instant::now() + self.config.timeout;
        poll::until(&what, deadline, POLL, &CancellationToken::new(), || async {
            let s = self.standby().await?;
            Ok(if s.receiver.is_none() || !s.in_recovery {
                Poll::Ready(())
            } else {
                Poll::Pending
            })
        })
        .await
        .map_err(from_poll)
    }

    async fn reverse(&self) -> Result<(), ProviderError> {
        Err(invalid(
            "replication.reverse is not offered by provider `postgres`: making the old \
             primary a standby needs standby.signal and a restart (after pg_rewind or \
             pg_basebackup) on its host; use an `exec` step",
        ))
    }
}
