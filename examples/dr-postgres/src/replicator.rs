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
use crate::error::{conflict, fatal, from_poll, invalid};
use crate::timeline::{self, Position};

const POLL: Duration = Duration::from_millis(25);

/// The link from `peer` (the primary) into `url` (its streaming standby), as a
/// [`Replicator`]. After a failover, `url` is the new primary and `peer` the
/// old one; [`reverse`](Replicator::reverse) makes the old one a standby of the
/// new one.
///
/// - `status()`: on the standby, `pg_stat_wal_receiver.status = 'streaming'` is
///   `replicating`; no WAL receiver with an empty `primary_conninfo` is `paused`
///   (stopped by [`stop`](Replicator::stop)); no WAL receiver otherwise is
///   `broken` (the primary is unreachable). Lag: see [the crate
///   docs](crate#replication-lag). Once `url` is out of recovery (promoted): the
///   reversed link when `peer` streams from it on its timeline (`replicating`,
///   lag = `url`'s `pg_current_wal_lsn()` minus `peer`'s replay position), else
///   `broken` (the link is gone).
/// - `stop()`: first, when the primary can be reached, waits (up to `timeout`)
///   until the standby has replayed the primary's WAL up to where it was when
///   the stop began, so that a stop after a fence loses no acknowledged write;
///   then `ALTER SYSTEM SET primary_conninfo = ''` and a reload on the standby:
///   PostgreSQL (13 and later) ends the WAL receiver, and the standby stays in
///   recovery, ready to be promoted. Stopping a stopped or promoted link is `Ok`;
///   stopping a reversed one is a `conflict`. The primary's replication slot, if
///   any, is left alone (it keeps WAL for a failback; drop it if the old primary
///   is abandoned).
/// - `divergence()`: what a reverse would throw away on the old primary, in
///   bytes: how far its `pg_current_wal_lsn()` is past the point where the new
///   primary's timeline left the old one's (the switchpoint in the new
///   primary's timeline history file, `pg_wal/%08X.history`, read with
///   `pg_read_file`), by `pg_wal_lsn_diff`. `Some(0)` once the old primary
///   streams from the new one (reversed). Unknown (`None`, never 0) when the old
///   primary cannot be reached, the history file cannot be read (the role is
///   no superuser and has no `EXECUTE` on `pg_read_file`), or the two
///   histories do not meet. It counts WAL, not rows: a standby snapshot the old primary's
///   background writer logs on its own (15 s after its last write) counts too.
///   A `conflict` while `url` is still in recovery (not promoted).
/// - `reverse()`: offered with `reverse_command` only. When `peer` streams from
///   `url` on `url`'s timeline already, `Ok` and nothing runs. Else runs
///   `reverse_command` on this host (the servers in `DR_PG_NEW_PRIMARY_HOST`,
///   `DR_PG_NEW_PRIMARY_PORT`, `DR_PG_OLD_PRIMARY_HOST`,
///   `DR_PG_OLD_PRIMARY_PORT`), which must make `peer` a standby of `url` (a
///   `pg_rewind`, or a new base backup; `standby.signal`; a restart); then waits
///   until `peer` is in recovery and its WAL receiver streams on `url`'s
///   timeline. The command and the wait share `reverse_timeout`. A failing
///   command is a `fatal` error with its exit status and the end of its stderr.
///   A `conflict` while `url` is still in recovery.
#[derive(Debug)]
pub struct PostgresReplicator {
    config: PostgresConfig,
    node: PgNode,
    primary: PgNode,
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

    /// `url` after a failover, with its timeline; a `conflict` while it is
    /// still in recovery (nothing was promoted, there is nothing to reverse).
    async fn new_primary(&self) -> Result<u32, ProviderError> {
        let new = timeline::position(&self.node).await?;
        if new.in_recovery {
            return Err(conflict(format!(
                "{} is still a standby: promote it before reversing the link (the old \
                 primary {} cannot follow a server that follows it)",
                self.node.addr(),
                self.primary.addr()
            )));
        }
        new.timeline.ok_or_else(|| {
            fatal(format!(
                "{}: no timeline in pg_walfile_name(pg_current_wal_lsn())",
                self.node.addr()
            ))
        })
    }

    /// The old primary's position, or `None` when it cannot be reached.
    async fn old_primary(&self) -> Option<Position> {
        timeline::position(&self.primary).await.ok()
    }

    /// The status of a link whose standby (`url`) was promoted: the reversed
    /// link when the old primary streams from it, else broken.
    async fn promoted_status(&self, new: &Position) -> Result<ReplicationStatus, ProviderError> {
        let broken = ReplicationStatus::new(ReplicationState::Broken, None);
        let Some(tli) = new.timeline else {
            return Ok(broken);
        };
        // The follower first, then the primary: the byte lag is never too low.
        let Some(old) = self.old_primary().await else {
            return Ok(broken);
        };
        if !old.streams_on(tli) {
            return Ok(broken);
        }
        let behind = match &old.replay_lsn {
            Some(lsn) => self.node.connect().await?.written_past(lsn).await?,
            None => None,
        };
        Ok(lag_status(
            ReplicationState::Replicating,
            behind,
            old.replay_age,
        ))
    }

    async fn divergence_inner(&self) -> Result<Option<u64>, ProviderError> {
        let new_tli = self.new_primary().await?;
        let Some(old) = self.old_primary().await else {
            return Ok(None);
        };
        if old.in_recovery {
            // Following the new primary: what only it had is gone already.
            return Ok(old.streams_on(new_tli).then_some(0));
        }
        let Some(old_tli) = old.timeline.filter(|t| *t != new_tli) else {
            return Ok(None);
        };
        let Some(fork) = timeline::fork_from(&self.node, new_tli, old_tli).await? else {
            return Ok(None);
        };
        // Measured after the fork point is known: a write in between is
        // counted, not missed.
        let Ok(conn) = self.primary.connect().await else {
            return Ok(None);
        };
        let past = conn.written_past(&fork).await?;
        Ok(past.map(|bytes| u64::try_from(bytes.max(0)).unwrap_or(0)))
    }

    async fn reverse_inner(&self) -> Result<(), ProviderError> {
        let Some(argv) = &self.config.reverse_command else {
            return Err(invalid(
                "replication.reverse is not offered by provider `postgres` without \
                 `reverse_command`: making the old primary a standby needs standby.signal \
                 and a restart (after pg_rewind or pg_basebackup) on its host",
            ));
        };
        let started = Instant::now();
        let tli = self.new_primary().await?;
        if self
            .old_primary()
            .await
            .is_some_and(|old| old.streams_on(tli))
        {
            return Ok(());
        }
        let env = [
            ("DR_PG_NEW_PRIMARY_HOST", self.node.host().to_string()),
            ("DR_PG_NEW_PRIMARY_PORT", self.node.port().to_string()),
            ("DR_PG_OLD_PRIMARY_HOST", self.primary.host().to_string()),
            ("DR_PG_OLD_PRIMARY_PORT", self.primary.port().to_string()),
        ];
        let limit = self.config.reverse_timeout;
        crate::rejoin::run(argv, &env, limit, &self.secrets()).await?;
        self.wait_reversed(tli, started + limit).await
    }

    /// After `reverse_command`: waits until the old primary is in recovery and
    /// streams on the new primary's timeline. The server may be restarting:
    /// a failed connection is a look that found nothing yet.
    async fn wait_reversed(&self, tli: u32, deadline: Instant) -> Result<(), ProviderError> {
        let last = std::sync::Mutex::new(String::from("not reached"));
        let what = format!(
            "{} to stream from {} on timeline {tli}",
            self.primary.addr(),
            self.node.addr()
        );
        let last = &last;
        let waited = poll::until(
            &what,
            deadline,
            POLL,
            &CancellationToken::new(),
            || async move {
                let seen = match timeline::position(&self.primary).await {
                    Ok(p) if p.streams_on(tli) => return Ok(Poll::Ready(())),
                    Ok(p) => p.describe(),
                    Err(e) => e.message().to_string(),
                };
                if let Ok(mut l) = last.lock() {
                    *l = seen;
                }
                Ok(Poll::Pending)
            },
        )
        .await;
        waited.map_err(|_| {
            let seen = last.lock().map(|l| l.clone()).unwrap_or_default();
            fatal(format!(
                "reverse_command succeeded, but {} does not stream from {} on timeline {tli} \
                 within `reverse_timeout` ({:?}); last seen: {seen}",
                self.primary.addr(),
                self.node.addr(),
                self.config.reverse_timeout
            ))
        })
    }

    /// The passwords this replicator knows, to keep out of a command's output.
    fn secrets(&self) -> Vec<String> {
        let mut secrets: Vec<String> = [self.node.password(), self.primary.password()]
            .into_iter()
            .flatten()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        secrets.extend(self.config.password.clone());
        secrets
    }
}

/// A status in `state` from the bytes behind (`None`: unknown) and the age of
/// the newest replayed commit.
fn lag_status(
    state: ReplicationState,
    behind: Option<i64>,
    replay_age: Option<f64>,
) -> ReplicationStatus {
    let lag = match behind {
        Some(bytes) if bytes <= 0 => Some(Duration::ZERO),
        // Behind: the newest replayed commit is this old, an upper bound on
        // the writes a promotion now would lose.
        Some(_) => replay_age.and_then(dr_core::lag_from_secs),
        None => None,
    };
    let mut status = ReplicationStatus::new(state, lag);
    status.lag_bytes = behind.map(|b| u64::try_from(b.max(0)).unwrap_or(0));
    status
}

#[async_trait]
impl Replicator for PostgresReplicator {
    fn capabilities(&self) -> ReplicatorCapabilities {
        let mut caps = ReplicatorCapabilities::observe_only();
        caps.stop = true;
        caps.reverse = self.config.reverse_command.is_some();
        caps.discards = true;
        caps
    }

    async fn status(&self) -> Result<ReplicationStatus, ProviderError> {
        let standby = timeline::position(&self.node).await?;
        if !standby.in_recovery {
            return self.promoted_status(&standby).await;
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
        Ok(lag_status(state, behind, standby.replay_age))
    }

    async fn stop(&self) -> Result<(), ProviderError> {
        let standby = timeline::position(&self.node).await?;
        if !standby.in_recovery {
            let reversed = match standby.timeline {
                Some(tli) => self
                    .old_primary()
                    .await
                    .is_some_and(|old| old.streams_on(tli)),
                None => false,
            };
            if reversed {
                return Err(conflict(format!(
                    "the link is reversed ({} streams from {}): stopping it would need \
                     the resource whose `url` is {}, the standby now",
                    self.primary.addr(),
                    self.node.addr(),
                    self.primary.addr()
                )));
            }
            return Ok(());
        }
        if standby.receiver.is_none() && standby.conninfo_empty {
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
            let s = timeline::position(&self.node).await?;
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
        self.reverse_inner().await
    }

    async fn divergence(&self) -> Result<Option<u64>, ProviderError> {
        self.divergence_inner().await
    }
}
