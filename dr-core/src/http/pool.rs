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
//!
//! Every client follows redirects by [`Redirects`]: never to another origin,
//! never with a `Referer`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::ConfigError;

/// The `User-Agent` of every request dr sends: `dr/<version>`.
pub const USER_AGENT: &str = concat!("dr/", env!("CARGO_PKG_VERSION"));

/// How long establishing a connection (TCP and TLS) may take, by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How many redirects a [`Redirects::SameOrigin`] client follows for one request.
pub const MAX_REDIRECTS: usize = 5;

/// Which redirects a client follows.
///
/// No client follows a redirect to another origin (scheme, host or port):
/// reqwest would send it every header of the request but `Authorization` and
/// cookies, so an `X-Api-Key` or a webhook's secret header would leave for
/// whatever host the `Location` names. No client sends a `Referer` (it would
/// carry the original URL, its query included). The pooled client follows no
/// redirect at all ([`Redirects::None`]): a REST call or a webhook POST
/// answered 301, 302 or 303 would be replayed as a GET whose 200 looks like
/// success, so the 3xx is the answer and
/// [`HttpClient::send`](super::HttpClient::send) fails naming it. The `http`
/// probe's client follows up to [`MAX_REDIRECTS`] within the origin of the URL
/// it was given ([`Redirects::SameOrigin`]); any other redirect is the answer
/// (an unhealthy probe naming the status).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Redirects {
    /// None: a 3xx is the answer. For REST calls and webhooks, whose 301, 302
    /// or 303 would turn a POST or PATCH into a GET.
    None,
    /// Up to [`MAX_REDIRECTS`] whose target has the scheme, host and port of
    /// the request's URL; a redirect elsewhere, or one more, is the answer.
    SameOrigin,
}

/// What selects a shared `reqwest::Client`: the settings that cannot be set per
/// request. Two clients built with equal configs share one connection pool.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolConfig {
    /// Longest time to establish a connection; `None` for no limit.
    pub connect_timeout: Option<Duration>,
    /// Keep idle connections for reuse (`false`: every request opens a new one).
    pub reuse_connections: bool,
    /// Which redirects are followed.
    pub redirects: Redirects,
}

impl PoolConfig {
    /// Pooled connections, [`DEFAULT_CONNECT_TIMEOUT`], no redirect followed:
    /// what REST clients and webhooks use.
    pub const fn pooled() -> Self {
        PoolConfig {
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            reuse_connections: true,
            redirects: Redirects::None,
        }
    }

    /// A new connection for every request and no connect timeout of its own (the
    /// caller bounds the whole call), redirects followed within the origin:
    /// what a health probe wants, so a kept-alive connection cannot hide a
    /// listener that stopped accepting.
    pub const fn fresh_connections() -> Self {
        PoolConfig {
            connect_timeout: None,
            reuse_connections: false,
            redirects: Redirects::SameOrigin,
        }
    }

    /// Replaces the connect timeout.
    pub const fn with_connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Replaces the redirect rule.
    pub const fn with_redirects(mut self, redirects: Redirects) -> Self {
        self.redirects = redirects;
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
    let mut b = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .referer(false)
        .redirect(redirect_policy(config.redirects));
    if let Some(t) = config.connect_timeout {
        b = b.connect_timeout(t);
    }
    if !config.reuse_connections {
        b = b.pool_max_idle_per_host(0);
    }
    b.build()
        .map_err(|e| ConfigError::new(format!("cannot build the HTTP client: {e}")))
}

fn redirect_policy(redirects: Redirects) -> reqwest::redirect::Policy {
    match redirects {
        Redirects::None => reqwest::redirect::Policy::none(),
        Redirects::SameOrigin => reqwest::redirect::Policy::custom(|attempt| {
            // `previous` holds the request's URL first, then each one followed.
            let follow = attempt.previous().len() <= MAX_REDIRECTS
                && attempt
                    .previous()
                    .first()
                    .is_some_and(|first| same_origin(first, attempt.url()));
            if follow {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }),
    }
}

/// Same scheme, host and port (a default port equal to its explicit form).
fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
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
        let following = config.with_redirects(Redirects::SameOrigin);
        assert!(
            !Arc::ptr_eq(&a, &cached(following).unwrap()),
            "redirects apart"
        );
        let fresh = cached(PoolConfig::fresh_connections()).unwrap();
        assert!(!Arc::ptr_eq(&a, &fresh));
        assert!(Arc::ptr_eq(
            &fresh,
            &cached(PoolConfig::fresh_connections()).unwrap()
        ));
    }

    #[test]
    fn an_origin_is_scheme_host_and_port() {
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(same_origin(
            &u("https://a.example/x?q"),
            &u("https://a.example:443/y")
        ));
        assert!(same_origin(
            &u("http://A.example:80/"),
            &u("http://a.example/z")
        ));
        for other in [
            "http://a.example/x",
            "https://b.example/x",
            "https://a.example:8443/x",
            "https://a.example.evil/x",
        ] {
            assert!(
                !same_origin(&u("https://a.example/x"), &u(other)),
                "{other}"
            );
        }
    }
}
