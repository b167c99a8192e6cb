//! [`PostgresStore`]: a server's role, its promotion and its fence.

use std::time::Duration;

use async_trait::async_trait;
use dr_core::poll::{self, CancellationToken, Poll};
use dr_core::{DataStore, Promotion, ProviderError, Role, RunMode, Settings, StoreCapabilities};
use tokio::time::Instant;

use crate::client::{PgNode, ServerState, quote_ident};
use crate::config::PostgresConfig;
use crate::error::{fatal, from_poll, invalid};

/// How often a wait looks again. The waits use [`poll::until`] with a token that
/// never fires: the executor cancels a provider call by dropping its future.
const POLL: Duration = Duration::from_millis(25);

/// A PostgreSQL server as a [`DataStore`].
///
/// - `role()`: `pg_is_in_recovery()` true is `Replica { of: "host:port" }` (the
///   WAL sender it streams from, when it streams), false is `Primary`.
/// - `writable()`: not in recovery, `default_transaction_read_only` off for a new
///   session, and every role of `fence_roles` may log in. Nothing is written to
///   find out.
/// - `promote()`: `SELECT pg_promote(wait => true, wait_seconds => promote_timeout)`
///   on a standby; in a graceful run with `peer` set, first waits (within
///   `promote_timeout`) until the standby has replayed everything the peer (the
///   primary) had written, and fails without changing anything when the peer
///   does not answer; an ungraceful run (or no `peer`) promotes at once; then lifts a fence this crate left (the server may have been a
///   fenced primary before it followed the other region), and checks from a new
///   session that the server takes writes. A primary is left as it is.
/// - `fence()`: see [the crate docs](crate#the-fence).
/// - `flush()`: not offered (a database is not a cache): `invalid_request`.
#[derive(Debug)]
pub struct PostgresStore {
    config: PostgresConfig,
    node: PgNode,
    /// The other region's server (`peer`): a graceful promote waits until this
    /// standby has replayed everything it had written.
    peer: Option<PgNode>,
}

impl PostgresStore {
    /// A store for the server in `config`.
    pub fn new(config: PostgresConfig) -> Result<Self, dr_core::ConfigError> {
        let node = config.node()?;
        let peer = config.peer_node()?;
        Ok(PostgresStore { config, node, peer })
    }

    /// Reads the resource's settings (see [`PostgresConfig`]).
    pub fn from_settings(settings: &Settings) -> Result<Self, dr_core::ConfigError> {
        Self::new(PostgresConfig::from_settings(settings)?)
    }

    async fn state(&self) -> Result<ServerState, ProviderError> {
        self.node
            .connect()
            .await?
            .state(&self.config.fence_roles)
            .await
    }

    /// Waits until a new session sees `done` (a reload reaches new sessions once
    /// the postmaster has read the configuration again, a moment after
    /// `pg_reload_conf()` returns).
    async fn wait_for(
        &self,
        what: &str,
        done: impl Fn(&ServerState) -> bool,
    ) -> Result<ServerState, ProviderError> {
        let what = format!("{}: {what}", self.node.addr());
        let deadline = Instant::now() + self.config.timeout;
        let done = &done;
        poll::until(
            &what,
            deadline,
            POLL,
            &CancellationToken::new(),
            || async move {
                let state = self.state().await?;
                Ok(if done(&state) {
                    Poll::Ready(state)
                } else {
                    Poll::Pending
                })
            },
        )
        .await
        .map_err(from_poll)
    }

    /// A graceful promote's wait: the primary (`peer`) must answer, and this
    /// standby replays everything it had written (within `promote_timeout`).
    async fn catch_up(&self, primary: &PgNode) -> Result<(), ProviderError> {
        if crate::catchup::catch_up(&self.node, primary, self.config.promote_timeout).await? {
            return Ok(());
        }
        Err(crate::error::error(
            dr_core::ErrorKind::Conflict,
            format!(
                "{}: a graceful promote waits until this standby has replayed everything \
                 the primary {} wrote, and the primary does not answer (or is not a primary); \
                 nothing was changed. An ungraceful run promotes without it (`dr resume \
                 RUN_ID --ungraceful`), losing what the standby has not received",
                self.node.addr(),
                primary.addr()
            ),
        ))
    }

    /// Undoes what [`fence`](DataStore::fence) did: the read-only default set by
    /// `ALTER SYSTEM`, and `NOLOGIN` on the fence's roles.
    async fn lift_fence(&self, state: &ServerState) -> Result<(), ProviderError> {
        let conn = self.node.connect().await?;
        if state.read_only_default {
            conn.exec(
                "lift the read-only default",
                "ALTER SYSTEM RESET default_transaction_read_only",
            )
            .await?;
            conn.exec("reload the configuration", "SELECT pg_reload_conf()")
                .await?;
        }
        for role in &self.config.fence_roles {
            conn.exec(
                &format!("let role {role} log in"),
                &format!(
                    "BEGIN READ WRITE; ALTER ROLE {} LOGIN; COMMIT",
                    quote_ident(role)
                ),
            )
            .await?;
        }
        let after = self
            .wait_for("the server to take writes from new sessions", |s| {
                !s.read_only_default || s.in_recovery
            })
            .await?;
        if !after.writable() {
            return Err(fatal(format!(
                "{} was promoted but still refuses writes: default_transaction_read_only is \
                 set outside ALTER SYSTEM (postgresql.conf, ALTER DATABASE or ALTER ROLE), or \
                 a role of `fence_roles` cannot log in",
                self.node.addr()
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl DataStore for PostgresStore {
    fn capabilities(&self) -> StoreCapabilities {
        let mut caps = StoreCapabilities::promote_and_fence();
        caps.modes = self.peer.is_some();
        caps
    }

    async fn role(&self) -> Result<Role, ProviderError> {
        let state = self.state().await?;
        Ok(if state.in_recovery {
            Role::Replica { of: state.upstream }
        } else {
            Role::Primary
        })
    }

    async fn writable(&self) -> Result<bool, ProviderError> {
        Ok(self.state().await?.writable())
    }

    async fn promote(&self) -> Result<(), ProviderError> {
        self.promote_with(Promotion::new(RunMode::Graceful)).await
    }

    async fn promote_with(&self, how: Promotion) -> Result<(), ProviderError> {
        let state = self.state().await?;
        if state.in_recovery {
            if let (RunMode::Graceful, Some(primary)) = (how.mode, &self.peer) {
                self.catch_up(primary).await?;
            }
            let conn = self.node.connect().await?;
            let wait_seconds =
                i32::try_from(self.config.promote_timeout.as_secs().max(1)).unwrap_or(i32::MAX);
            let limit = self.config.promote_timeout + self.config.timeout;
            let row = conn
                .within_for(
                    "pg_promote",
                    limit,
                    conn.client()
                        .query_one("SELECT pg_promote(true, $1)", &[&wait_seconds]),
                )
                .await?;
            let promoted: bool = row.get(0);
            if !promoted {
                return Err(crate::error::timeout(
                    self.node.addr(),
                    "pg_promote (the promotion did not finish)",
                    self.config.promote_timeout,
                ));
            }
        }
        let state = self.state().await?;
        if state.in_recovery {
            return Err(fatal(format!(
                "{}: pg_promote returned but the server is still in recovery",
                self.node.addr()
            )));
        }
        if !state.writable() {
            self.lift_fence(&state).await?;
        }
        Ok(())
    }

    async fn fence(&self) -> Result<(), ProviderError> {
        let state = self.state().await?;
        if state.in_recovery {
            // A standby refuses every write already.
            return Ok(());
        }
        let conn = self.node.connect().await?;
        if !state.read_only_default {
            conn.exec(
                "make read-only the default",
                "ALTER SYSTEM SET default_transaction_read_only = on",
            )
            .await?;
            conn.exec("reload the configuration", "SELECT pg_reload_conf()")
                .await?;
        }
        for role in &self.config.fence_roles {
            conn.exec(
                &format!("forbid role {role} to log in"),
                // Read-write on purpose: a fence resumed after the read-only default
                // took effect must still finish.
                &format!(
                    "BEGIN READ WRITE; ALTER ROLE {} NOLOGIN; COMMIT",
                    quote_ident(role)
                ),
            )
            .await?;
        }
        // New sessions must see the read-only default before the old ones go, or
        // a client that reconnects at once could still write.
        self.wait_for("new sessions to be read-only", |s| {
            s.read_only_default || s.in_recovery
        })
        .await?;
        let wait_ms = i64::try_from(self.config.timeout.as_millis()).unwrap_or(i64::MAX);
        conn.rows(
            "end the ordinary sessions",
            "SELECT pg_terminate_backend(a.pid, $1) \
               FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid \
              WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid() \
                AND NOT r.rolsuper",
            &[&wait_ms],
        )
        .await?;
        let after = self.state().await?;
        if after.writable() {
            return Err(fatal(format!(
                "{}: fenced, but a new session still takes writes",
                self.node.addr()
            )));
        }
        Ok(())
    }

    async fn flush(&self) -> Result<(), ProviderError> {
        Err(invalid(
            "flush is not offered by provider `postgres`: a database is not a cache",
        ))
    }
}
