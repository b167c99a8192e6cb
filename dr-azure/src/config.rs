//! The settings every ARM resource shares ([`ArmConfig`]: subscription, resource
//! group, endpoint, timeouts) and the defaults. Each service's own keys are read
//! by the `config.rs` of its module, through `specific`.

use std::time::Duration;

use dr_core::{ConfigError, Settings};

/// The Azure Resource Manager endpoint used when a resource sets no `arm_endpoint`.
pub const DEFAULT_ARM_ENDPOINT: &str = "https://management.azure.com";
/// How long one ARM call may take when a resource sets no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a long-running operation may take when a resource sets no
/// `operation_timeout` (a storage account failover can take most of an hour).
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// How often a long-running operation is polled when ARM sends no `Retry-After`
/// and the resource sets no `poll_interval`.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(10);

/// What every `azure.*` resource needs to reach ARM: the keys common to all of them.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct ArmConfig {
    /// Subscription id.
    pub subscription: String,
    /// Resource group.
    pub resource_group: String,
    /// ARM base URL (tests point it at a stand-in).
    pub arm_endpoint: String,
    /// Per-call timeout.
    pub timeout: Duration,
    /// Deadline of a long-running operation.
    pub operation_timeout: Duration,
    /// Pause between two polls when ARM does not say (`Retry-After`).
    pub poll_interval: Duration,
}

impl ArmConfig {
    /// The defaults for `subscription` and `resource_group`.
    pub fn new(subscription: impl Into<String>, resource_group: impl Into<String>) -> Self {
        ArmConfig {
            subscription: subscription.into(),
            resource_group: resource_group.into(),
            arm_endpoint: DEFAULT_ARM_ENDPOINT.to_string(),
            timeout: DEFAULT_TIMEOUT,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
    }

    /// Replaces the ARM endpoint.
    pub fn with_arm_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.arm_endpoint = endpoint.into();
        self
    }

    /// Replaces the polling interval of long-running operations.
    pub fn with_poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every;
        self
    }

    /// Reads the common keys (and only those) from a resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let subscription = settings.str("subscription")?;
        let resource_group = settings.str("resource_group")?;
        for (key, v) in [
            ("subscription", subscription),
            ("resource_group", resource_group),
        ] {
            if v.trim().is_empty() || v.contains('/') {
                return Err(ConfigError::key(
                    key,
                    "must be a non-empty name without `/`",
                ));
            }
        }
        let mut cfg = ArmConfig::new(subscription, resource_group);
        if let Some(e) = settings.opt_str("arm_endpoint")? {
            let url = url::Url::parse(e)
                .map_err(|err| ConfigError::key("arm_endpoint", format!("not a URL: {err}")))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(ConfigError::key("arm_endpoint", "must be an http(s) URL"));
            }
            cfg.arm_endpoint = e.trim_end_matches('/').to_string();
        }
        if let Some(t) = settings.duration("timeout")? {
            cfg.timeout = t;
        }
        if let Some(t) = settings.duration("operation_timeout")? {
            cfg.operation_timeout = t;
        }
        if let Some(t) = settings.duration("poll_interval")? {
            cfg.poll_interval = t;
        }
        Ok(cfg)
    }
}

/// The keys [`ArmConfig`] reads, which every resource table may hold.
#[cfg(any(
    feature = "traffic_manager",
    feature = "front_door",
    feature = "storage_account",
    feature = "postgres_flexible",
    feature = "web_app"
))]
pub(crate) const COMMON_KEYS: [&str; 6] = [
    "subscription",
    "resource_group",
    "arm_endpoint",
    "timeout",
    "operation_timeout",
    "poll_interval",
];

/// Deserializes the resource-specific keys of `settings` (the common ones removed)
/// into `T`, which denies unknown fields so a misspelt key is reported.
#[cfg(any(
    feature = "traffic_manager",
    feature = "front_door",
    feature = "storage_account",
    feature = "postgres_flexible",
    feature = "web_app"
))]
pub(crate) fn specific<T: serde::de::DeserializeOwned>(
    settings: &Settings,
) -> Result<T, ConfigError> {
    let mut values = settings.values().clone();
    for k in COMMON_KEYS {
        values.remove(k);
    }
    Settings::new(settings.name(), settings.provider(), values).deserialize()
}
