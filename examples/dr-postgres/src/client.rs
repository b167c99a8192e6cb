//! How this crate talks to a server: one fresh connection per operation, with a
//! deadline on connecting and on every statement, and the few queries every
//! trait file shares.

use std::fmt;
use std::time::Duration;

use dr_core::ProviderError;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row};

use crate::error::{self, from_pg};

/// One PostgreSQL server, as a resource's settings name it.
#[derive(Clone)]
pub(crate) struct PgNode {
    config: tokio_postgres::Config,
    host: String,
    port: u16,
    addr: String,
    timeout: Duration,
}

impl fmt::Debug for PgNode {
    // The config holds the password; show the address only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgNode").field("addr", &self.addr).finish()
    }
}

/// What a server says about itself: the facts `role()`, `writable()` and the
/// probe decide on, read in one query.
#[derive(Debug, Clone)]
pub(crate) struct ServerState {
    /// `pg_is_in_recovery()`: a standby.
    pub in_recovery: bool,
    /// The WAL sender this standby streams from (`sender_host:sender_port` of
    /// `pg_stat_wal_receiver`), when it streams.
    pub upstream: Option<String>,
    /// `default_transaction_read_only` as a new session sees it.
    pub read_only_default: bool,
    /// How many of the fence's roles may not log in.
    pub fenced_roles: i64,
}

impl ServerState {
    /// A primary that accepts writes from a new ordinary session.
    pub fn writable(&self) -> bool {
        !self.in_recovery && !self.read_only_default && self.fenced_roles == 0
    }
}

/// A connection, closed when dropped.
pub(crate) struct Conn<'a> {
    client: Client,
    node: &'a PgNode,
}

impl PgNode {
    pub fn new(config: tokio_postgres::Config, host: String, port: u16, timeout: Duration) -> Self {
        PgNode {
            config,
            addr: format!("{host}:{port}"),
            host,
            port,
            timeout,
        }
    }

    /// `host:port`, for messages.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The host, as the settings name it.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The password the connection sends, if any (to keep it out of messages).
    pub fn password(&self) -> Option<&[u8]> {
        self.config.get_password()
    }

    /// Connects afresh: a failover restarts and promotes servers, and a cached
    /// connection would describe the past.
    pub async fn connect(&self) -> Result<Conn<'_>, ProviderError> {
        let connecting = self.config.connect(NoTls);
        let (client, connection) = match tokio::time::timeout(self.timeout, connecting).await {
            Err(_) => return Err(error::timeout(&self.addr, "connect", self.timeout)),
            Ok(Err(e)) => return Err(from_pg(&self.addr, "connect", &e)),
            Ok(Ok(pair)) => pair,
        };
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("postgres connection ended: {e}");
            }
        });
        Ok(Conn { client, node: self })
    }
}

impl Conn<'_> {
    /// One row of `sql`; `what` names the statement in errors.
    pub async fn row(
        &self,
        what: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, ProviderError> {
        self.within(what, self.client.query_one(sql, params)).await
    }

    /// One row of `sql`, a PostgreSQL error coming back as it is for the
    /// caller to judge (only the deadline is this crate's error).
    pub async fn row_or_pg_error(
        &self,
        what: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Result<Row, tokio_postgres::Error>, ProviderError> {
        tokio::time::timeout(self.node.timeout, self.client.query_one(sql, params))
            .await
            .map_err(|_| error::timeout(&self.node.addr, what, self.node.timeout))
    }

    /// Every row of `sql`.
    pub async fn rows(
        &self,
        what: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, ProviderError> {
        self.within(what, self.client.query(sql, params)).await
    }

    /// Runs `sql` (one statement, or several without parameters).
    pub async fn exec(&self, what: &str, sql: &str) -> Result<(), ProviderError> {
        self.within(what, self.client.batch_execute(sql)).await
    }

    /// Runs `fut` under the statement deadline, mapping its error.
    pub async fn within<T>(
        &self,
        what: &str,
        fut: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, ProviderError> {
        self.within_for(what, self.node.timeout, fut).await
    }

    /// Runs `fut` under `limit`, mapping its error.
    pub async fn within_for<T>(
        &self,
        what: &str,
        limit: Duration,
        fut: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, ProviderError> {
        match tokio::time::timeout(limit, fut).await {
            Err(_) => Err(error::timeout(&self.node.addr, what, limit)),
            Ok(Err(e)) => Err(from_pg(&self.node.addr, what, &e)),
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// The server's role and fence state (see [`ServerState`]).
    pub async fn state(&self, fence_roles: &[String]) -> Result<ServerState, ProviderError> {
        let row = self
            .row(
                "read the server's role",
                "SELECT pg_is_in_recovery(), \
                        (SELECT sender_host || ':' || sender_port FROM pg_stat_wal_receiver \
                          WHERE status = 'streaming' LIMIT 1), \
                        current_setting('default_transaction_read_only') = 'on', \
                        (SELECT count(*) FROM pg_roles WHERE rolname = ANY($1) AND NOT rolcanlogin)",
                &[&fence_roles],
            )
            .await?;
        Ok(ServerState {
            in_recovery: row.get(0),
            upstream: row.get(1),
            read_only_default: row.get(2),
            fenced_roles: row.get(3),
        })
    }

    /// The client, for a statement with its own deadline ([`within_for`](Self::within_for)).
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// `name` as a quoted SQL identifier (`"app"`, `"we""ird"`).
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("app"), "\"app\"");
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
    }
}
