//! The settings every `aws.*` resource and action shares, and the helpers each
//! service's `config.rs` reads its own keys with.
//!
//! Every resource and action takes the common keys of [`AwsCommon`] (`region`,
//! `endpoint_url`, `profile`) next to its own. Credentials are never a setting:
//! they come from the standard AWS chain (see `client.rs`). The settings of
//! each resource and action live in its service module (`route53/config.rs`, ..).

#[cfg(any(feature = "route53", feature = "arc"))]
use std::collections::BTreeMap;
use std::time::Duration;

use dr_core::{ConfigError, Settings};

/// How long one SDK call may take, all of it (connect, send, read); the SDK's
/// retries are off, so this bounds one attempt of the executor.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long `apply`, `promote` and the actions wait for AWS to finish (`GetChange`
/// `INSYNC`, an instance `available`/`running`) unless the resource says otherwise.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(15 * 60);

/// How often a wait looks again unless the resource says otherwise (`poll_every`).
pub const DEFAULT_POLL: Duration = Duration::from_secs(5);

/// The keys every `aws.*` resource and action accepts.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsCommon {
    /// The region (else the default chain's: `AWS_REGION`, the profile's `region`).
    pub region: Option<String>,
    /// An endpoint override (else `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>`,
    /// which aws-config reads). With an override, S3 uses path-style addressing.
    pub endpoint_url: Option<String>,
    /// A named profile of the shared config files.
    pub profile: Option<String>,
    /// Per-call timeout.
    pub timeout: Duration,
    /// The longest wait for AWS to finish a change.
    pub wait: Duration,
    /// How often a wait looks again.
    pub poll_every: Duration,
}

impl AwsCommon {
    /// The defaults: the chain's region, no endpoint override, the default profile.
    pub fn new() -> Self {
        AwsCommon {
            timeout: DEFAULT_TIMEOUT,
            wait: DEFAULT_WAIT,
            poll_every: DEFAULT_POLL,
            ..Default::default()
        }
    }

    /// Sets the region.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sets the endpoint override (moto in tests).
    pub fn with_endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Sets how often waits look again.
    pub fn with_poll_every(mut self, every: Duration) -> Self {
        self.poll_every = every;
        self
    }

    /// Sets the named profile.
    pub fn with_profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// Sets the per-call timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the longest wait for AWS to finish a change.
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Reads the common keys of a resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let mut c = AwsCommon::new();
        c.region = settings.opt_str("region")?.map(str::to_string);
        c.endpoint_url = settings.opt_str("endpoint_url")?.map(str::to_string);
        c.profile = settings.opt_str("profile")?.map(str::to_string);
        if let Some(url) = &c.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::key(
                "endpoint_url",
                "expected an http:// or https:// URL",
            ));
        }
        if let Some(t) = settings.duration("timeout")? {
            c.timeout = t;
        }
        if let Some(t) = settings.duration("wait")? {
            c.wait = t;
        }
        if let Some(t) = settings.duration("poll_every")? {
            c.poll_every = t;
        }
        Ok(c)
    }
}

/// The keys of [`AwsCommon`], which each resource's own struct skips.
#[cfg(any(
    feature = "route53",
    feature = "arc",
    feature = "rds",
    feature = "s3",
    feature = "ec2",
    feature = "autoscaling",
    feature = "cloudwatch"
))]
pub(crate) const COMMON_KEYS: &[&str] = &[
    "provider",
    "region",
    "endpoint_url",
    "profile",
    "timeout",
    "wait",
    "poll_every",
];

/// Deserializes a resource's own keys (the common ones removed), naming a wrong key.
#[cfg(any(
    feature = "route53",
    feature = "arc",
    feature = "rds",
    feature = "s3",
    feature = "ec2",
    feature = "autoscaling",
    feature = "cloudwatch"
))]
pub(crate) fn own<T: serde::de::DeserializeOwned>(settings: &Settings) -> Result<T, ConfigError> {
    let mut values = settings.values().clone();
    for k in COMMON_KEYS {
        values.remove(*k);
    }
    Settings::new(settings.name(), settings.provider(), values).deserialize()
}

/// Fails naming the first of `keys` that `settings` lacks.
#[cfg(any(
    feature = "route53",
    feature = "arc",
    feature = "rds",
    feature = "s3",
    feature = "ec2",
    feature = "cloudwatch"
))]
pub(crate) fn require(settings: &Settings, keys: &[&str]) -> Result<(), ConfigError> {
    for key in keys {
        settings
            .get(key)
            .ok_or_else(|| ConfigError::key(*key, "missing required setting"))?;
    }
    Ok(())
}

/// Fails when `v` is blank, naming `key`.
#[cfg(any(feature = "route53", feature = "arc", feature = "rds"))]
pub(crate) fn non_empty(key: &str, v: &str) -> Result<(), ConfigError> {
    if v.trim().is_empty() {
        return Err(ConfigError::key(key, "must not be empty"));
    }
    Ok(())
}

/// Fails when no target is named or one maps to a blank value.
#[cfg(any(feature = "route53", feature = "arc"))]
pub(crate) fn non_empty_targets(targets: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    if targets.is_empty() {
        return Err(ConfigError::key("targets", "name at least one target"));
    }
    for (t, v) in targets {
        non_empty(&format!("targets.{t}"), v)?;
    }
    Ok(())
}

/// `(target, value)` pairs as a `targets` map.
#[cfg(any(feature = "route53", feature = "arc"))]
pub(crate) fn targets_of<I, K, V>(targets: I) -> BTreeMap<String, String>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    targets
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}
