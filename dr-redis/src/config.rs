//! The settings of a `provider = "redis"` resource.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use dr_core::{ConfigError, Settings};
use serde::{Deserialize, Deserializer};

use crate::client::{NodeAuth, RedisNode, TlsFiles};

/// Connect and command timeout when the settings give none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a planned switchover (`FAILOVER`) may take when the settings give none.
pub const DEFAULT_FAILOVER_TIMEOUT: Duration = Duration::from_secs(10);

/// The role a [`RedisProbe`](crate::RedisProbe) expects the server to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExpectRole {
    /// `role:master` in `INFO replication`.
    Primary,
    /// `role:slave` in `INFO replication`.
    Replica,
}

impl ExpectRole {
    /// `primary` or `replica`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExpectRole::Primary => "primary",
            ExpectRole::Replica => "replica",
        }
    }
}

/// How [`RedisStore::promote`](crate::RedisStore) turns a replica into a primary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromoteMode {
    /// A planned switchover (`FAILOVER`, no write lost) when the current primary
    /// is reachable and the replication link is up; otherwise an unplanned
    /// promotion (`REPLICAOF NO ONE`).
    #[default]
    Auto,
    /// Always a planned switchover; fails (retryably) when the primary cannot be
    /// reached or the replica has not caught up.
    Failover,
    /// Always `REPLICAOF NO ONE`, even when the old primary is alive: writes it
    /// accepts but has not replicated are lost.
    Force,
}

/// Settings of a Redis server resource (`provider = "redis"`).
///
/// ```
/// use dr_redis::RedisConfig;
/// let cfg = RedisConfig::new("redis://10.0.2.7:6379")
///     .with_peer("redis://10.1.2.7:6379")
///     .with_password("s3cret");
/// assert!(!format!("{cfg:?}").contains("s3cret"));
/// ```
#[non_exhaustive]
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// This server: `redis://host:port[/db]` or `rediss://` (TLS).
    pub url: String,
    /// The password (`AUTH`); overrides one in the URL. Used for `peer` too.
    #[serde(default)]
    pub password: Option<String>,
    /// The ACL user (`AUTH username password`); overrides one in the URL. Used for
    /// `peer` too. Without it the password is the `default` user's.
    #[serde(default)]
    pub username: Option<String>,
    /// A PEM bundle of the CAs to trust for `rediss://` (a private CA), instead of
    /// the system roots. Read on every connection (a rotated bundle is picked up).
    /// Used for `peer` too.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The client certificate (PEM, with its chain) for mutual TLS; needs `key_file`.
    /// Used for `peer` too.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM); needs `cert_file`. Only the path
    /// is ever shown, never the contents.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// A managed cache (Azure Cache for Redis, ElastiCache) whose service forbids
    /// `REPLICAOF`, `FAILOVER` and `CONFIG`: the resource offers role, probe and
    /// flush only, so a plan that would promote, fence, stop or reverse it is
    /// rejected before anything runs. Fail such caches over with the service's own
    /// geo-replication.
    #[serde(default)]
    pub managed: bool,
    /// The other region's server: the source of the replication link this
    /// resource observes, the new primary a fenced server follows, the old
    /// primary `reverse` turns into a replica of this one.
    #[serde(default)]
    pub peer: Option<String>,
    /// The role the probe expects; a server in another role is unhealthy.
    #[serde(default)]
    pub expect_role: Option<ExpectRole>,
    /// Connect and command timeout (default 5s).
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    /// How `promote` works (default `auto`).
    #[serde(default)]
    pub promote: PromoteMode,
    /// How long a planned switchover may take before it is abandoned (default 10s).
    #[serde(default = "default_failover_timeout", deserialize_with = "duration")]
    pub failover_timeout: Duration,
}

fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}

fn default_failover_timeout() -> Duration {
    DEFAULT_FAILOVER_TIMEOUT
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    let value = dr_core::parse_duration(&text).map_err(serde::de::Error::custom)?;
    if value.is_zero() {
        return Err(serde::de::Error::custom("must be more than 0"));
    }
    Ok(value)
}

impl RedisConfig {
    /// Settings for the server at `url`, everything else default.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            password: None,
            username: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
            managed: false,
            peer: None,
            expect_role: None,
            timeout: DEFAULT_TIMEOUT,
            promote: PromoteMode::Auto,
            failover_timeout: DEFAULT_FAILOVER_TIMEOUT,
        }
    }

    /// Reads the resource's settings table (after `${env:VAR}` interpolation).
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        settings.str("url")?;
        let cfg: RedisConfig = settings.deserialize()?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Sets the password.
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Sets the ACL user.
    pub fn with_username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Sets the CA bundle to trust for `rediss://`.
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Sets the client certificate and key for mutual TLS.
    pub fn with_client_cert(
        mut self,
        cert_file: impl Into<PathBuf>,
        key_file: impl Into<PathBuf>,
    ) -> Self {
        self.cert_file = Some(cert_file.into());
        self.key_file = Some(key_file.into());
        self
    }

    /// Marks the server as a managed cache (role, probe and flush only).
    pub fn with_managed(mut self, managed: bool) -> Self {
        self.managed = managed;
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

    /// Sets the connect and command timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets how `promote` works.
    pub fn with_promote(mut self, mode: PromoteMode) -> Self {
        self.promote = mode;
        self
    }

    /// Sets how long a planned switchover may take.
    pub fn with_failover_timeout(mut self, timeout: Duration) -> Self {
        self.failover_timeout = timeout;
        self
    }

    /// Checks the URLs (scheme, host, port) and the TLS settings without connecting
    /// or reading the files (they may exist only where the plan runs).
    pub fn validate(&self) -> Result<(), ConfigError> {
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => {
                return Err(ConfigError::key(
                    "key_file",
                    "`cert_file` needs `key_file` (the client certificate's private key)",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::key(
                    "cert_file",
                    "`key_file` needs `cert_file` (the client certificate)",
                ));
            }
            _ => {}
        }
        self.node()?;
        self.peer_node()?;
        Ok(())
    }

    /// The TLS files, when any is set.
    pub(crate) fn tls_files(&self) -> Option<TlsFiles> {
        if self.ca_file.is_none() && self.cert_file.is_none() {
            return None;
        }
        Some(TlsFiles {
            ca_file: self.ca_file.clone(),
            client: self.cert_file.clone().zip(self.key_file.clone()),
        })
    }

    /// How to reach and authenticate with a server of this resource.
    pub(crate) fn auth(&self) -> NodeAuth {
        NodeAuth {
            username: self.username.clone(),
            password: self.password.clone(),
            tls: self.tls_files(),
        }
    }

    fn node_at(&self, key: &str, url: &str) -> Result<RedisNode, ConfigError> {
        let tls_key = if self.ca_file.is_some() {
            "ca_file"
        } else {
            "cert_file"
        };
        if self.tls_files().is_some() && !url.starts_with("rediss://") {
            return Err(ConfigError::key(
                tls_key,
                format!("TLS files need a rediss:// URL, and `{key}` is not one"),
            ));
        }
        RedisNode::new(url, &self.auth(), self.timeout).map_err(|e| ConfigError::key(key, e))
    }

    pub(crate) fn node(&self) -> Result<RedisNode, ConfigError> {
        self.node_at("url", &self.url)
    }

    pub(crate) fn peer_node(&self) -> Result<Option<RedisNode>, ConfigError> {
        self.peer
            .as_deref()
            .map(|p| self.node_at("peer", p))
            .transpose()
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &crate::client::redact_url(&self.url))
            .field("password", &self.password.as_ref().map(|_| "******"))
            .field("username", &self.username)
            .field("ca_file", &self.ca_file)
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("managed", &self.managed)
            .field("peer", &self.peer.as_deref().map(crate::client::redact_url))
            .field("expect_role", &self.expect_role)
            .field("timeout", &self.timeout)
            .field("promote", &self.promote)
            .field("failover_timeout", &self.failover_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(v: serde_json::Value) -> Settings {
        Settings::from_json("cache", "redis", v)
    }

    #[test]
    fn reads_every_setting() {
        let cfg = RedisConfig::from_settings(&settings(json!({
            "url": "redis://127.0.0.1:6390",
            "password": "pw",
            "peer": "rediss://10.0.0.1:6380/2",
            "expect_role": "replica",
            "timeout": "2s",
            "promote": "failover",
            "failover_timeout": "30s",
        })))
        .unwrap();
        assert_eq!(cfg.timeout, Duration::from_secs(2));
        assert_eq!(cfg.failover_timeout, Duration::from_secs(30));
        assert_eq!(cfg.expect_role, Some(ExpectRole::Replica));
        assert_eq!(cfg.promote, PromoteMode::Failover);
        let cfg = RedisConfig::from_settings(&settings(json!({"url": "redis://h:1"}))).unwrap();
        assert_eq!(cfg.timeout, DEFAULT_TIMEOUT);
        assert_eq!(cfg.promote, PromoteMode::Auto);
        assert_eq!(cfg.peer, None);
    }

    #[test]
    fn errors_name_the_key() {
        let key = |v| RedisConfig::from_settings(&settings(v)).unwrap_err().key;
        assert_eq!(
            key(json!({"url": "redis://h:1", "pasword": "x"})).as_deref(),
            Some("pasword")
        );
        assert_eq!(
            key(json!({"url": "http://h:1"})).as_deref(),
            Some("url"),
            "only redis:// and rediss:// are accepted"
        );
        assert_eq!(
            key(json!({"url": "redis://h:1", "peer": "memcached://x"})).as_deref(),
            Some("peer")
        );
        assert_eq!(
            key(json!({"url": "redis://h:1", "timeout": "soon"})).as_deref(),
            Some("timeout")
        );
        assert_eq!(
            key(json!({"url": "redis://h:1", "timeout": "0"})).as_deref(),
            Some("timeout")
        );
        assert_eq!(
            key(json!({"url": "redis://h:1", "expect_role": "leader"})).as_deref(),
            Some("expect_role")
        );
        assert_eq!(key(json!({})).as_deref(), Some("url"));
    }

    #[test]
    fn reads_the_tls_acl_and_managed_settings() {
        let cfg = RedisConfig::from_settings(&settings(json!({
            "url": "rediss://cache.internal:6380",
            "peer": "rediss://cache.other:6380",
            "username": "dr",
            "password": "pw",
            "ca_file": "/etc/dr/redis-ca.pem",
            "cert_file": "/etc/dr/client.pem",
            "key_file": "/etc/dr/client.key",
            "managed": true,
        })))
        .unwrap();
        assert_eq!(cfg.username.as_deref(), Some("dr"));
        assert!(cfg.managed);
        let tls = cfg.tls_files().unwrap();
        assert_eq!(tls.ca_file, Some(PathBuf::from("/etc/dr/redis-ca.pem")));
        assert_eq!(
            tls.client,
            Some((
                PathBuf::from("/etc/dr/client.pem"),
                PathBuf::from("/etc/dr/client.key")
            ))
        );
        let plain = RedisConfig::from_settings(&settings(json!({"url": "rediss://h:1"}))).unwrap();
        assert!(!plain.managed, "managed defaults to false");
        assert_eq!(
            plain.tls_files(),
            None,
            "system roots, no client certificate"
        );
    }

    #[test]
    fn tls_settings_are_checked_without_reading_the_files() {
        let key = |v| RedisConfig::from_settings(&settings(v)).unwrap_err().key;
        assert_eq!(
            key(json!({"url": "rediss://h:1", "cert_file": "c.pem"})).as_deref(),
            Some("key_file")
        );
        assert_eq!(
            key(json!({"url": "rediss://h:1", "key_file": "c.key"})).as_deref(),
            Some("cert_file")
        );
        assert_eq!(
            key(json!({"url": "redis://h:1", "ca_file": "ca.pem"})).as_deref(),
            Some("ca_file"),
            "TLS files with a plain-text URL"
        );
        assert_eq!(
            key(json!({"url": "rediss://h:1", "peer": "redis://p:1", "ca_file": "ca.pem"}))
                .as_deref(),
            Some("ca_file")
        );
        assert_eq!(
            key(json!({"url": "rediss://h:1", "managed": "yes"})).as_deref(),
            Some("managed")
        );
        // Files that do not exist here are fine: they may exist where the plan runs.
        RedisConfig::from_settings(&settings(
            json!({"url": "rediss://h:1", "ca_file": "/nonexistent/ca.pem"}),
        ))
        .unwrap();
    }

    #[test]
    fn debug_shows_file_paths_and_the_user_but_no_secret() {
        let cfg = RedisConfig::new("rediss://h:1")
            .with_username("dr")
            .with_password("hunter2")
            .with_ca_file("/etc/dr/ca.pem")
            .with_client_cert("/etc/dr/client.pem", "/etc/dr/client.key");
        let text = format!("{cfg:?}");
        assert!(!text.contains("hunter2"), "{text}");
        for shown in ["\"dr\"", "/etc/dr/ca.pem", "/etc/dr/client.key"] {
            assert!(text.contains(shown), "{shown} in {text}");
        }
    }

    #[test]
    fn debug_hides_passwords_in_settings_and_urls() {
        let cfg = RedisConfig::new("redis://user:urlsecret@h:1")
            .with_password("hunter2")
            .with_peer("redis://:peersecret@p:2");
        let text = format!("{cfg:?}");
        for secret in ["hunter2", "urlsecret", "peersecret"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("******"), "{text}");
    }
}
