//! Settings of the Cloudflare resources and provider actions, as a plan gives them.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use dr_core::{ConfigError, Settings, check_length};
use serde::Deserialize;

/// The Cloudflare API v4 base URL used when a resource does not set `api_base`.
pub const DEFAULT_API_BASE: &str = "https://api.cloudflare.com/client/v4";

/// The environment variable read for the API token when a resource sets no `token`.
pub const TOKEN_ENV: &str = "CLOUDFLARE_API_TOKEN";

/// How long one API call may take when a resource sets no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest Cloudflare identifier (account, zone, load balancer, pool):
/// the API's `identifier` schema has `maxLength: 32`.
pub const MAX_ID: usize = 32;

/// The longest DNS record name the API accepts (`dns-records_name`, `maxLength: 255`).
pub const MAX_RECORD_NAME: usize = 255;

/// Cloudflare's load-balancing region codes, the scopes `scoped_pools` may name.
pub const REGIONS: [&str; 13] = [
    "WNAM", "ENAM", "WEU", "EEU", "NSAM", "SSAM", "OC", "ME", "NAF", "SAF", "SAS", "SEAS", "NEAS",
];

/// A Cloudflare API token. `Debug` prints `******`; the value only leaves the
/// process in the `Authorization` header, and is registered with
/// [`dr_core::hide_secret`] when read from the environment and before it is
/// first sent, so an API or proxy error that echoes the header shows `******`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct ApiToken(String);

impl ApiToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        ApiToken(token.into())
    }

    /// The token from `CLOUDFLARE_API_TOKEN`, if set and non-empty.
    pub fn from_env() -> Option<Self> {
        std::env::var(TOKEN_ENV)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .map(|t| {
                dr_core::hide_secret(&t);
                ApiToken(t)
            })
    }

    pub(crate) fn expose(&self) -> &str {
        dr_core::hide_secret(&self.0);
        &self.0
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("******")
    }
}

/// What every Cloudflare resource needs to reach the API.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// API v4 base URL (overridable for tests and proxies).
    pub api_base: String,
    /// The API token.
    pub token: ApiToken,
    /// Per-call timeout.
    pub timeout: Duration,
}

impl ApiConfig {
    /// The default API base with `token`.
    pub fn new(token: ApiToken) -> Self {
        ApiConfig {
            api_base: DEFAULT_API_BASE.to_string(),
            token,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The default API base with the token from `CLOUDFLARE_API_TOKEN`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self::new(resolve_token(None)?))
    }

    /// Replaces the API base URL.
    pub fn with_api_base(mut self, api_base: impl Into<String>) -> Self {
        self.api_base = api_base.into();
        self
    }

    /// Replaces the per-call timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn resolve(
        api_base: Option<String>,
        token: Option<ApiToken>,
        timeout: Option<String>,
    ) -> Result<Self, ConfigError> {
        let api_base = api_base.unwrap_or_else(|| DEFAULT_API_BASE.to_string());
        let parsed = reqwest::Url::parse(&api_base)
            .map_err(|e| ConfigError::key("api_base", format!("not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ConfigError::key("api_base", "must be an http(s) URL"));
        }
        let timeout = match timeout {
            None => DEFAULT_TIMEOUT,
            Some(t) => dr_core::parse_duration(&t).map_err(|e| ConfigError::key("timeout", e))?,
        };
        Ok(ApiConfig {
            api_base,
            token: resolve_token(token)?,
            timeout,
        })
    }
}

/// The token from the settings, else from `CLOUDFLARE_API_TOKEN`.
fn resolve_token(token: Option<ApiToken>) -> Result<ApiToken, ConfigError> {
    resolve_token_from(token, ApiToken::from_env)
}

fn resolve_token_from(
    token: Option<ApiToken>,
    env: impl FnOnce() -> Option<ApiToken>,
) -> Result<ApiToken, ConfigError> {
    match token {
        Some(t) if !t.0.trim().is_empty() => Ok(t),
        Some(_) => Err(ConfigError::key("token", "the API token is empty")),
        None => env().ok_or_else(|| {
            ConfigError::key(
                "token",
                format!(
                    "no Cloudflare API token: set `token` or the {TOKEN_ENV} environment variable"
                ),
            )
        }),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoadBalancer {
    account_id: String,
    zone_id: String,
    load_balancer: String,
    pools: BTreeMap<String, String>,
    #[serde(default)]
    scoped_pools: BTreeMap<String, String>,
    #[serde(default)]
    probe_pool: Option<String>,
    #[serde(default)]
    api_base: Option<String>,
    #[serde(default)]
    token: Option<ApiToken>,
    #[serde(default)]
    timeout: Option<String>,
}

/// Settings of `provider = "cloudflare.load_balancer"`.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct LoadBalancerConfig {
    /// The account that owns the pools.
    pub account_id: String,
    /// The zone of the load balancer.
    pub zone_id: String,
    /// The load balancer id.
    pub load_balancer: String,
    /// Target name → pool id (the router's targets).
    pub pools: BTreeMap<String, String>,
    /// Region code → a pre-created pool the provider fills for a weighted split of that region.
    pub scoped_pools: BTreeMap<String, String>,
    /// The target whose pool the probe role reports on.
    pub probe_pool: Option<String>,
    /// API access.
    pub api: ApiConfig,
}

impl LoadBalancerConfig {
    /// A load balancer with no targets yet.
    pub fn new(
        account_id: impl Into<String>,
        zone_id: impl Into<String>,
        load_balancer: impl Into<String>,
        api: ApiConfig,
    ) -> Self {
        LoadBalancerConfig {
            account_id: account_id.into(),
            zone_id: zone_id.into(),
            load_balancer: load_balancer.into(),
            pools: BTreeMap::new(),
            scoped_pools: BTreeMap::new(),
            probe_pool: None,
            api,
        }
    }

    /// Adds the target `name` served by pool `pool_id`.
    pub fn with_pool(mut self, name: impl Into<String>, pool_id: impl Into<String>) -> Self {
        self.pools.insert(name.into(), pool_id.into());
        self
    }

    /// Adds the scoped pool for region `region`.
    pub fn with_scoped_pool(
        mut self,
        region: impl Into<String>,
        pool_id: impl Into<String>,
    ) -> Self {
        self.scoped_pools.insert(region.into(), pool_id.into());
        self
    }

    /// Sets the target the probe role reports on.
    pub fn with_probe_pool(mut self, target: impl Into<String>) -> Self {
        self.probe_pool = Some(target.into());
        self
    }

    /// Reads and checks a resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let raw: RawLoadBalancer = settings.deserialize()?;
        let cfg = LoadBalancerConfig {
            account_id: raw.account_id,
            zone_id: raw.zone_id,
            load_balancer: raw.load_balancer,
            pools: raw.pools,
            scoped_pools: raw.scoped_pools,
            probe_pool: raw.probe_pool,
            api: ApiConfig::resolve(raw.api_base, raw.token, raw.timeout)?,
        };
        cfg.check()?;
        Ok(cfg)
    }

    /// Checks the invariants the router relies on.
    pub fn check(&self) -> Result<(), ConfigError> {
        for (key, v) in [
            ("account_id", &self.account_id),
            ("zone_id", &self.zone_id),
            ("load_balancer", &self.load_balancer),
        ] {
            check_length(key, v, 1, MAX_ID)?;
        }
        for (target, id) in &self.pools {
            check_length(&format!("pools.{target}"), id, 1, MAX_ID)?;
        }
        for (region, id) in &self.scoped_pools {
            check_length(&format!("scoped_pools.{region}"), id, 1, MAX_ID)?;
        }
        if self.pools.is_empty() {
            return Err(ConfigError::key("pools", "name at least one target pool"));
        }
        let mut seen = BTreeMap::new();
        for (target, id) in &self.pools {
            if let Some(other) = seen.insert(id.as_str(), target.as_str()) {
                return Err(ConfigError::key(
                    format!("pools.{target}"),
                    format!("pool `{id}` is also target `{other}`"),
                ));
            }
        }
        for (region, id) in &self.scoped_pools {
            if !REGIONS.contains(&region.as_str()) {
                return Err(ConfigError::key(
                    format!("scoped_pools.{region}"),
                    format!("unknown region code (known: {})", REGIONS.join(", ")),
                ));
            }
            if let Some(target) = seen.get(id.as_str()) {
                return Err(ConfigError::key(
                    format!("scoped_pools.{region}"),
                    format!(
                        "pool `{id}` is target `{target}`; a scoped pool must be a pool of its own"
                    ),
                ));
            }
        }
        if let Some(p) = &self.probe_pool
            && !self.pools.contains_key(p)
        {
            return Err(ConfigError::key(
                "probe_pool",
                format!("`{p}` is not a target in `pools`"),
            ));
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDnsRecord {
    zone_id: String,
    record: String,
    targets: BTreeMap<String, String>,
    #[serde(default)]
    api_base: Option<String>,
    #[serde(default)]
    token: Option<ApiToken>,
    #[serde(default)]
    timeout: Option<String>,
}

/// Settings of `provider = "cloudflare.dns_record"`.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct DnsRecordConfig {
    /// The zone of the record.
    pub zone_id: String,
    /// The DNS record id.
    pub record: String,
    /// Target name → record content (an IPv4/IPv6 address or a hostname).
    pub targets: BTreeMap<String, String>,
    /// API access.
    pub api: ApiConfig,
}

impl DnsRecordConfig {
    /// Reads and checks a resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let raw: RawDnsRecord = settings.deserialize()?;
        if raw.targets.is_empty() {
            return Err(ConfigError::key("targets", "name at least one target"));
        }
        check_length("zone_id", &raw.zone_id, 1, MAX_ID)?;
        check_length("record", &raw.record, 1, MAX_RECORD_NAME)?;
        for (t, c) in &raw.targets {
            if c.trim().is_empty() {
                return Err(ConfigError::key(
                    format!("targets.{t}"),
                    "must not be empty",
                ));
            }
        }
        Ok(DnsRecordConfig {
            zone_id: raw.zone_id,
            record: raw.record,
            targets: raw.targets,
            api: ApiConfig::resolve(raw.api_base, raw.token, raw.timeout)?,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPoolOrigin {
    account_id: String,
    pool: String,
    origin: String,
    #[serde(default)]
    api_base: Option<String>,
    #[serde(default)]
    token: Option<ApiToken>,
}

/// Step settings of `cloudflare.pool.disable_origin` / `cloudflare.pool.enable_origin`.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct PoolOriginConfig {
    /// The account that owns the pool.
    pub account_id: String,
    /// The pool id.
    pub pool: String,
    /// The origin's `name` inside the pool.
    pub origin: String,
    /// API access.
    pub api: ApiConfig,
}

impl PoolOriginConfig {
    /// Reads and checks a step's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let raw: RawPoolOrigin = settings.deserialize()?;
        for (key, v) in [("account_id", &raw.account_id), ("pool", &raw.pool)] {
            check_length(key, v, 1, MAX_ID)?;
        }
        if raw.origin.trim().is_empty() {
            return Err(ConfigError::key("origin", "must not be empty"));
        }
        Ok(PoolOriginConfig {
            account_id: raw.account_id,
            pool: raw.pool,
            origin: raw.origin,
            api: ApiConfig::resolve(raw.api_base, raw.token, None)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lb(extra: serde_json::Value) -> Settings {
        let mut v = json!({
            "account_id": "acc", "zone_id": "zone", "load_balancer": "lb",
            "pools": { "east": "p-east", "west": "p-west" },
            "token": "secret-token-value",
        });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        Settings::from_json("edge", "cloudflare.load_balancer", v)
    }

    #[test]
    fn identifiers_longer_than_the_api_allows_fail_by_key() {
        for (key, value, want) in [
            ("zone_id", json!("z".repeat(100_000)), "zone_id"),
            ("load_balancer", json!("l".repeat(33)), "load_balancer"),
            ("pools", json!({"east": "p".repeat(33)}), "pools.east"),
        ] {
            let e = LoadBalancerConfig::from_settings(&lb(json!({ key: value }))).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(want), "{e}");
            assert!(e.message.contains("at most 32"), "{e}");
        }
    }

    #[test]
    fn debug_hides_the_token() {
        let cfg = LoadBalancerConfig::from_settings(&lb(json!({}))).unwrap();
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("secret-token-value"), "{dbg}");
        assert!(dbg.contains("******"));
    }

    #[test]
    fn rejects_unknown_keys_regions_and_probe_pools() {
        let e = LoadBalancerConfig::from_settings(&lb(json!({"poolz": {}}))).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("poolz"));
        let e = LoadBalancerConfig::from_settings(&lb(json!({"scoped_pools": {"MARS": "p"}})))
            .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("scoped_pools.MARS"));
        let e = LoadBalancerConfig::from_settings(&lb(json!({"scoped_pools": {"WNAM": "p-west"}})))
            .unwrap_err();
        assert!(e.message.contains("pool of its own"), "{e}");
        let e = LoadBalancerConfig::from_settings(&lb(json!({"probe_pool": "north"}))).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("probe_pool"));
        let e = LoadBalancerConfig::from_settings(&lb(json!({"timeout": "soon"}))).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("timeout"));
        let e = LoadBalancerConfig::from_settings(&lb(json!({"api_base": "ftp://x"}))).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("api_base"));
    }

    #[test]
    fn a_missing_token_names_the_setting_and_the_variable() {
        let e = resolve_token_from(None, || None).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("token"));
        assert!(e.message.contains(TOKEN_ENV), "{e}");
        let t = resolve_token_from(None, || Some(ApiToken::new("from-env"))).unwrap();
        assert_eq!(t.expose(), "from-env");
        let e = resolve_token_from(Some(ApiToken::new(" ")), || None).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("token"));
    }
}
