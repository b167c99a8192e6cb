//! The settings of a `provider = "postgres"` resource.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use dr_core::{ConfigError, Settings};
use serde::{Deserialize, Deserializer};
use tokio_postgres::config::{Host, SslMode};

use crate::client::PgNode;

/// Connect and statement timeout when the settings give none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long `pg_promote` may wait for the promotion when the settings give none
/// (PostgreSQL's own default).
pub const DEFAULT_PROMOTE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a reverse may take when the settings give none: `reverse_command`
/// (a `pg_rewind` or a new base backup, and a restart) and then the old
/// primary streaming from the new one.
pub const DEFAULT_REVERSE_TIMEOUT: Duration = Duration::from_secs(600);

/// The role a [`PostgresProbe`](crate::PostgresProbe) expects the server to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExpectRole {
    /// `pg_is_in_recovery()` is false and the server accepts writes.
    Primary,
    /// `pg_is_in_recovery()` is true.
    Replica,
}

/// Settings of a PostgreSQL server resource (`provider = "postgres"`).
///
/// ```
/// use dr_postgres::PostgresConfig;
/// let cfg = PostgresConfig::new("postgres://dr@10.1.0.5:5432/postgres")
///     .with_password("s3cret")
///     .with_peer("postgres://dr@10.0.0.5:5432/postgres");
/// assert!(!format!("{cfg:?}").contains("s3cret"));
/// ```
#[non_exhaustive]
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// This server: `postgres://user@host:port/dbname` (a libpq URL; `sslmode`
    /// `disable` or `prefer`: this example speaks no TLS).
    pub url: String,
    /// The password of the URL's user (overrides one in the URL); also used for
    /// `peer`. Write it as `${env:VAR}`.
    #[serde(default)]
    pub password: Option<String>,
    /// The other region's server. For a replicator, the primary this replica
    /// follows: replication lag is measured against its current WAL position.
    #[serde(default)]
    pub peer: Option<String>,
    /// The role the probe expects; a server in another role is unhealthy.
    #[serde(default)]
    pub expect_role: Option<ExpectRole>,
    /// Login roles the fence forbids to log in (`ALTER ROLE .. NOLOGIN`), on top
    /// of the read-only default every session gets. The application's roles.
    #[serde(default)]
    pub fence_roles: Vec<String>,
    /// Connect and statement timeout (default 5s).
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    /// How long `pg_promote` waits for the promotion to finish (default 60s).
    #[serde(default = "default_promote_timeout", deserialize_with = "duration")]
    pub promote_timeout: Duration,
    /// For a replicator: the program (an argv array, run without a shell on
    /// the host `dr` runs on) that makes the old primary (`peer`) a standby of
    /// the new one (`url`), e.g. `["ssh", "db-old", "/usr/local/bin/pg-rejoin"]`
    /// doing `pg_rewind`, `standby.signal` and a restart. It gets the servers in
    /// `DR_PG_NEW_PRIMARY_HOST`, `DR_PG_NEW_PRIMARY_PORT`,
    /// `DR_PG_OLD_PRIMARY_HOST` and `DR_PG_OLD_PRIMARY_PORT` (no password). Without
    /// it, `replication.reverse` is not offered.
    #[serde(default)]
    pub reverse_command: Option<Vec<String>>,
    /// How long a reverse may take: `reverse_command`, then the old primary
    /// streaming from the new one (default 10m).
    #[serde(default = "default_reverse_timeout", deserialize_with = "duration")]
    pub reverse_timeout: Duration,
}

fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}

fn default_promote_timeout() -> Duration {
    DEFAULT_PROMOTE_TIMEOUT
}

fn default_reverse_timeout() -> Duration {
    DEFAULT_REVERSE_TIMEOUT
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    let value = dr_core::parse_duration(&text).map_err(serde::de::Error::custom)?;
    if value.is_zero() {
        return Err(serde::de::Error::custom("must be more than 0"));
    }
    Ok(value)
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &redact_url(&self.url))
            .field("password", &self.password.as_ref().map(|_| "******"))
            .field("peer", &self.peer.as_deref().map(redact_url))
            .field("expect_role", &self.expect_role)
            .field("fence_roles", &self.fence_roles)
            .field("timeout", &self.timeout)
            .field("promote_timeout", &self.promote_timeout)
            .field("reverse_command", &self.reverse_command)
            .field("reverse_timeout", &self.reverse_timeout)
            .finish()
    }
}

/// `url` with the password of its user info replaced by `******`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:******@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl PostgresConfig {
    /// Settings for the server at `url`, everything else default.
    pub fn new(url: impl Into<String>) -> Self {
        PostgresConfig {
            url: url.into(),
            password: None,
            peer: None,
            expect_role: None,
            fence_roles: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            promote_timeout: DEFAULT_PROMOTE_TIMEOUT,
            reverse_command: None,
            reverse_timeout: DEFAULT_REVERSE_TIMEOUT,
        }
    }

    /// Reads the resource's settings table (after `${env:VAR}` interpolation).
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        settings.str("url")?;
        let cfg: PostgresConfig = settings.deserialize()?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Sets the password.
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Sets the peer (the other region's server).
    pub fn with_peer(mut self, peer: impl Into<String>) -> Self {
        self.peer = Some(peer.into());
        self
    }

    /// Sets the role the probe expects.
    pub fn with_expect_role(mut self, role: ExpectRole) -> Self {
        self.expect_role = Some(role);
        self
    }

    /// Sets the roles the fence forbids to log in.
    pub fn with_fence_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.fence_roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the connect and statement timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the program that makes the old primary a standby of the new one
    /// (see [`reverse_command`](Self::reverse_command)).
    pub fn with_reverse_command<I, S>(mut self, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.reverse_command = Some(argv.into_iter().map(Into::into).collect());
        self
    }

    /// Sets how long a reverse may take.
    pub fn with_reverse_timeout(mut self, timeout: Duration) -> Self {
        self.reverse_timeout = timeout;
        self
    }

    /// Checks the URLs (scheme, host, port, `sslmode`) and `reverse_command`
    /// without connecting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.node()?;
        self.peer_node()?;
        for role in &self.fence_roles {
            if role.is_empty() {
                return Err(ConfigError::key("fence_roles", "a role name is empty"));
            }
        }
        if let Some(argv) = &self.reverse_command {
            if argv.first().is_none_or(|program| program.trim().is_empty()) {
                return Err(ConfigError::key(
                    "reverse_command",
                    "an argv array whose first element is the program, e.g. \
                     [\"ssh\", \"db-old\", \"/usr/local/bin/pg-rejoin\"]",
                ));
            }
            if self.peer.is_none() {
                return Err(ConfigError::key(
                    "reverse_command",
                    "needs `peer`, the old primary it makes a standby of `url`",
                ));
            }
        }
        Ok(())
    }

    /// This server.
    pub(crate) fn node(&self) -> Result<PgNode, ConfigError> {
        self.parse("url", &self.url)
    }

    /// The peer, when set.
    pub(crate) fn peer_node(&self) -> Result<Option<PgNode>, ConfigError> {
        self.peer
            .as_deref()
            .map(|peer| self.parse("peer", peer))
            .transpose()
    }

    fn parse(&self, key: &str, url: &str) -> Result<PgNode, ConfigError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConfigError::key(
                key,
                format!(
                    "`{}` is not a postgres:// URL",
                    redact_url(url).chars().take(80).collect::<String>()
                ),
            ));
        }
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| ConfigError::key(key, format!("not a PostgreSQL URL: {e}")))?;
        if config.get_ssl_mode() == SslMode::Require {
            return Err(ConfigError::key(
                key,
                "`sslmode=require`: this example plugin speaks no TLS (use it on a private \
                 network, or add a TLS connector such as tokio-postgres-rustls)",
            ));
        }
        let host = match config.get_hosts() {
            [Host::Tcp(host)] => host.clone(),
            [] => return Err(ConfigError::key(key, "the URL names no host")),
            _ => {
                return Err(ConfigError::key(
                    key,
                    "one TCP host per resource: a failover plan must know which server it talks to",
                ));
            }
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        if config.get_user().is_none() {
            return Err(ConfigError::key(
                key,
                "the URL names no user (`postgres://USER@host`)",
            ));
        }
        if let Some(password) = &self.password {
            config.password(password.as_bytes());
        }
        config.connect_timeout(self.timeout);
        config.application_name("dr");
        Ok(PgNode::new(config, host, port, self.timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_passwords_in_settings_and_urls() {
        let cfg = PostgresConfig::new("postgres://dr:urlpw@127.0.0.1:5432/postgres")
            .with_password("s3cret")
            .with_peer("postgres://dr:peerpw@127.0.0.1:5433/postgres");
        let shown = format!("{cfg:?}");
        for secret in ["s3cret", "urlpw", "peerpw"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("127.0.0.1:5433"), "{shown}");
    }

    #[test]
    fn urls_are_checked_without_connecting() {
        let bad = [
            ("redis://127.0.0.1:5432", "not a postgres:// URL"),
            ("postgres://127.0.0.1:5432/db", "no user"),
            ("postgres://u@h1,h2/db", "one TCP host"),
            ("postgres://u@h/db?sslmode=require", "no TLS"),
        ];
        for (url, expected) in bad {
            let err = PostgresConfig::new(url).validate().unwrap_err();
            assert!(err.to_string().contains(expected), "{url}: {err}");
        }
        PostgresConfig::new("postgres://u@127.0.0.1:5432/db")
            .validate()
            .unwrap();
    }
}
