//! One `reqwest::Client` (one connection pool, one TLS setup) per process and
//! connection policy.
//!
//! Provider objects are built by registry factories from a plan's settings, with
//! nothing handed down from the program, so a client cannot be passed around;
//! instead every [`HttpClient`](super::HttpClient) takes its `reqwest::Client` from
//! this process-wide cache, keyed by [`PoolConfig`]. Everything that differs per
//! resource (total timeout, credentials, request-id headers) is applied per
//! request, so it does not split the pool: in practice a process holds two
//! clients, the pooled one every REST provider and `notify` share, and the
//! fresh-connection one of the `http` probe.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::ConfigError;

/// The `User-Agent` of every request dr sends: `dr/<version>`.
pub const USER_AGENT: &str = concat!("dr/", env!("CARGO_PKG_VERSION"));

/// How long establishing a connection (TCP and TLS) may take, by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What selects a shared `reqwest::Client`: the settings that cannot be set per
/// request. Two clients built with equal configs share one connection pool.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolConfig {
    /// Longest time to establish a connection; `None` for no limit.
    pub connect_timeout: Option<Duration>,
    /// Keep idle connections for reuse (`false`: every request opens a new one).
    pub reuse_connections: bool,
}

impl PoolConfig {
    /// Pooled connections, [`DEFAULT_CONNECT_TIMEOUT`]: what REST clients use.
    pub const fn pooled() -> Self {
        PoolConfig {
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            reuse_connections: true,
        }
    }

    /// A new connection for every request and no connect timeout of its own (the
    /// caller bounds the whole call): what a health probe wants, so a kept-alive
    /// connection cannot hide a listener that stopped accepting.
    pub const fn fresh_connections() -> Self {
        PoolConfig {
            connect_timeout: None,
            reuse_connections: false,
        }
    }

    /// Replaces the connect timeout.
    pub const fn with_connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self::pooled()
    }
}

/// The process's `reqwest::Client` for `config`, built on first use. Clones of a
/// `reqwest::Client` share its pool, so callers may keep the clone they get.
pub fn shared_client(config: PoolConfig) -> Result<reqwest::Client, ConfigError> {
    Ok(cached(config)?.as_ref().clone())
}

pub(super) fn cached(config: PoolConfig) -> Result<Arc<reqwest::Client>, ConfigError> {
    static CLIENTS: OnceLock<Mutex<HashMap<PoolConfig, Arc<reqwest::Client>>>> = OnceLock::new();
    let mut map = CLIENTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(client) = map.get(&config) {
        return Ok(client.clone());
    }
    let client = Arc::new(build(config)?);
    map.insert(config, client.clone());
    Ok(client)
}

fn build(config: PoolConfig) -> Result<reqwest::Client, ConfigError> {
    let mut b = reqwest::Client::builder().user_agent(USER_AGENT);
    if let Some(t) = config.connect_timeout {
        b = b.connect_timeout(t);
    }
    if !config.reuse_connections {
        b = b.pool_max_idle_per_host(0);
    }
    b.build()
        .map_err(|e| ConfigError::new(format!("cannot build the HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_client_per_config_for_the_whole_process() {
        // A connect timeout no other test uses, so this config is new to the cache.
        let config = PoolConfig::pooled().with_connect_timeout(Some(Duration::from_millis(4321)));
        let a = cached(config).unwrap();
        let b = cached(config).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "the same client, so the same pool");

        let other = cached(config.with_connect_timeout(Some(Duration::from_millis(4322)))).unwrap();
        assert!(!Arc::ptr_eq(&a, &other), "another config, another client");
        let fresh = cached(PoolConfig::fresh_connections()).unwrap();
        assert!(!Arc::ptr_eq(&a, &fresh));
        assert!(Arc::ptr_eq(
            &fresh,
            &cached(PoolConfig::fresh_connections()).unwrap()
        ));
    }
}
