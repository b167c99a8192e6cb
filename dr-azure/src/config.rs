//! Settings of the Azure resources and the web-app action, as a plan gives them.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use dr_core::{ConfigError, Settings};
use serde::Deserialize;

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
pub(crate) fn specific<T: serde::de::DeserializeOwned>(
    settings: &Settings,
) -> Result<T, ConfigError> {
    let mut values = settings.values().clone();
    for k in COMMON_KEYS {
        values.remove(k);
    }
    Settings::new(settings.name(), settings.provider(), values).deserialize()
}

/// How a Traffic Manager profile routes, as the plan declares it (checked against
/// the live profile on every call).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoutingMethod {
    /// `Weighted`: splits by endpoint weight.
    Weighted,
    /// `Priority`: failover only.
    Priority,
}

impl RoutingMethod {
    /// ARM's spelling (`trafficRoutingMethod`).
    pub fn as_arm(self) -> &'static str {
        match self {
            RoutingMethod::Weighted => "Weighted",
            RoutingMethod::Priority => "Priority",
        }
    }
}

/// `provider = "azure.traffic_manager"`.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficManagerConfig {
    /// The profile's name.
    pub profile: String,
    /// Target name -> `endpointType/endpointName` (`azureEndpoints/eastus-app`).
    pub targets: BTreeMap<String, String>,
    /// `weighted` (default) or `priority` (failover only).
    #[serde(default = "weighted")]
    pub routing_method: RoutingMethod,
    /// The target whose endpoint the probe reports (probe only).
    #[serde(default)]
    pub probe_target: Option<String>,
}

fn weighted() -> RoutingMethod {
    RoutingMethod::Weighted
}

/// The canonical ARM endpoint type for `kind` (`azureEndpoints` -> `AzureEndpoints`).
pub(crate) fn endpoint_type(kind: &str) -> Option<&'static str> {
    ["AzureEndpoints", "ExternalEndpoints", "NestedEndpoints"]
        .into_iter()
        .find(|t| t.eq_ignore_ascii_case(kind))
}

impl TrafficManagerConfig {
    /// A weighted profile's router over `targets` (target -> `endpointType/name`).
    pub fn new<I, K, V>(profile: impl Into<String>, targets: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        TrafficManagerConfig {
            profile: profile.into(),
            targets: targets
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            routing_method: RoutingMethod::Weighted,
            probe_target: None,
        }
    }

    /// Replaces the routing method.
    pub fn with_routing_method(mut self, method: RoutingMethod) -> Self {
        self.routing_method = method;
        self
    }

    /// Sets the target whose endpoint the probe reports.
    pub fn with_probe_target(mut self, target: impl Into<String>) -> Self {
        self.probe_target = Some(target.into());
        self
    }

    /// Reads the resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        settings.str("profile")?;
        let cfg: TrafficManagerConfig = specific(settings)?;
        if cfg.targets.is_empty() {
            return Err(ConfigError::key("targets", "at least one target is needed"));
        }
        for (t, ep) in &cfg.targets {
            let ok = ep.split_once('/').is_some_and(|(k, n)| {
                endpoint_type(k).is_some() && !n.is_empty() && !n.contains('/')
            });
            if !ok {
                return Err(ConfigError::key(
                    "targets",
                    format!(
                        "target `{t}`: expected `azureEndpoints/NAME`, `externalEndpoints/NAME` \
                         or `nestedEndpoints/NAME`"
                    ),
                ));
            }
        }
        check_probe_target(&cfg.probe_target, &cfg.targets)?;
        Ok(cfg)
    }
}

fn check_probe_target(
    probe_target: &Option<String>,
    targets: &BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    match probe_target {
        Some(t) if !targets.contains_key(t) => Err(ConfigError::key(
            "probe_target",
            format!("`{t}` is not one of `targets`"),
        )),
        _ => Ok(()),
    }
}

/// `provider = "azure.front_door"` (Front Door Standard/Premium).
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontDoorConfig {
    /// The Front Door profile.
    pub profile: String,
    /// The origin group whose origins are the targets.
    pub origin_group: String,
    /// Target name -> origin name.
    pub targets: BTreeMap<String, String>,
    /// The target whose origin the probe reports (probe only).
    #[serde(default)]
    pub probe_target: Option<String>,
}

impl FrontDoorConfig {
    /// A router over the origins `targets` (target -> origin name) of `origin_group`.
    pub fn new<I, K, V>(
        profile: impl Into<String>,
        origin_group: impl Into<String>,
        targets: I,
    ) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        FrontDoorConfig {
            profile: profile.into(),
            origin_group: origin_group.into(),
            targets: targets
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            probe_target: None,
        }
    }

    /// Sets the target whose origin the probe reports.
    pub fn with_probe_target(mut self, target: impl Into<String>) -> Self {
        self.probe_target = Some(target.into());
        self
    }

    /// Reads the resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        settings.str("profile")?;
        settings.str("origin_group")?;
        let cfg: FrontDoorConfig = specific(settings)?;
        if cfg.targets.is_empty() {
            return Err(ConfigError::key("targets", "at least one target is needed"));
        }
        check_probe_target(&cfg.probe_target, &cfg.targets)?;
        Ok(cfg)
    }
}

/// The kind of storage account failover `promote()` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailoverType {
    /// Customer-managed unplanned failover: the account becomes LRS in the new region.
    Unplanned,
    /// Planned failover (`failoverType=Planned`): swaps the regions, stays geo-redundant.
    Planned,
}

/// `provider = "azure.storage_account"`.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageAccountConfig {
    /// The storage account's name.
    pub account: String,
    /// The region this resource stands for (`westus`).
    pub location: String,
    /// `unplanned` (default) or `planned`.
    #[serde(default = "unplanned")]
    pub failover_type: FailoverType,
    /// The SKU `replication.reverse` sets (default `Standard_RAGRS`).
    #[serde(default = "ragrs")]
    pub reverse_sku: String,
}

fn unplanned() -> FailoverType {
    FailoverType::Unplanned
}
fn ragrs() -> String {
    "Standard_RAGRS".to_string()
}

impl StorageAccountConfig {
    /// `account` as seen from `location`, with the defaults (unplanned failover,
    /// `Standard_RAGRS` on reverse).
    pub fn new(account: impl Into<String>, location: impl Into<String>) -> Self {
        StorageAccountConfig {
            account: account.into(),
            location: location.into(),
            failover_type: FailoverType::Unplanned,
            reverse_sku: ragrs(),
        }
    }

    /// Replaces the failover type.
    pub fn with_failover_type(mut self, failover_type: FailoverType) -> Self {
        self.failover_type = failover_type;
        self
    }

    /// Reads the resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        settings.str("account")?;
        settings.str("location")?;
        specific(settings)
    }
}

/// `promote_mode` of a PostgreSQL flexible server replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromoteMode {
    /// Detach the replica: it becomes a standalone read-write server.
    Standalone,
    /// Swap roles with its primary (needs virtual endpoints).
    Switchover,
}

/// `promote_option` of a PostgreSQL flexible server replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromoteOption {
    /// Wait until the replica has caught up.
    Planned,
    /// Promote at once.
    Forced,
}

/// `provider = "azure.postgres_flexible"`.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// The server this resource stands for.
    pub server: String,
    /// `standalone` (default) or `switchover`.
    #[serde(default = "standalone")]
    pub promote_mode: PromoteMode,
    /// `planned` (default) or `forced`.
    #[serde(default = "planned")]
    pub promote_option: PromoteOption,
    /// The replica `replication.reverse` creates of this server.
    #[serde(default)]
    pub reverse_replica: Option<String>,
    /// Where `reverse_replica` is created.
    #[serde(default)]
    pub reverse_location: Option<String>,
}

fn standalone() -> PromoteMode {
    PromoteMode::Standalone
}
fn planned() -> PromoteOption {
    PromoteOption::Planned
}

impl PostgresConfig {
    /// `server` with the defaults (standalone, planned; no reverse).
    pub fn new(server: impl Into<String>) -> Self {
        PostgresConfig {
            server: server.into(),
            promote_mode: PromoteMode::Standalone,
            promote_option: PromoteOption::Planned,
            reverse_replica: None,
            reverse_location: None,
        }
    }

    /// Replaces the promote option.
    pub fn with_promote_option(mut self, option: PromoteOption) -> Self {
        self.promote_option = option;
        self
    }

    /// `replication.reverse` creates `replica` in `location`.
    pub fn with_reverse(mut self, replica: impl Into<String>, location: impl Into<String>) -> Self {
        self.reverse_replica = Some(replica.into());
        self.reverse_location = Some(location.into());
        self
    }

    /// Reads the resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        settings.str("server")?;
        let cfg: PostgresConfig = specific(settings)?;
        if cfg.reverse_replica.is_some() != cfg.reverse_location.is_some() {
            return Err(ConfigError::key(
                if cfg.reverse_replica.is_some() {
                    "reverse_location"
                } else {
                    "reverse_replica"
                },
                "`reverse_replica` and `reverse_location` go together",
            ));
        }
        Ok(cfg)
    }
}

/// A connection string value: `Debug` prints `******`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretValue(String);

impl SecretValue {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        SecretValue(value.into())
    }
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("******")
    }
}

/// Settings of the action `azure.web_app.set_connection_string`.
///
/// ```
/// use dr_azure::SecretValue;
/// assert_eq!(format!("{:?}", SecretValue::new("Server=db;Password=s3cret")), "******");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionStringConfig {
    /// The web app.
    pub app: String,
    /// A deployment slot, else the production slot.
    #[serde(default)]
    pub slot: Option<String>,
    /// The connection string's name.
    pub name: String,
    /// Its value (a secret).
    pub value: SecretValue,
    /// Its type (`PostgreSQL`, `SQLAzure`, `Custom`, ...; default `Custom`).
    #[serde(default = "custom", rename = "type")]
    pub kind: String,
}

fn custom() -> String {
    "Custom".to_string()
}

impl ConnectionStringConfig {
    /// Connection string `name` of `app` set to `value`, type `Custom`.
    pub fn new(app: impl Into<String>, name: impl Into<String>, value: SecretValue) -> Self {
        ConnectionStringConfig {
            app: app.into(),
            slot: None,
            name: name.into(),
            value,
            kind: custom(),
        }
    }

    /// Replaces the type (`PostgreSQL`, `SQLAzure`, ...).
    pub fn with_type(mut self, kind: impl Into<String>) -> Self {
        self.kind = kind.into();
        self
    }

    /// Targets a deployment slot.
    pub fn with_slot(mut self, slot: impl Into<String>) -> Self {
        self.slot = Some(slot.into());
        self
    }

    /// Reads the step's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        for k in ["app", "name", "value"] {
            settings.str(k)?;
        }
        let cfg: ConnectionStringConfig = specific(settings)?;
        const TYPES: [&str; 11] = [
            "MySql",
            "SQLServer",
            "SQLAzure",
            "Custom",
            "NotificationHub",
            "ServiceBus",
            "EventHub",
            "ApiHub",
            "DocDb",
            "RedisCache",
            "PostgreSQL",
        ];
        if !TYPES.contains(&cfg.kind.as_str()) {
            return Err(ConfigError::key(
                "type",
                format!("expected one of {}", TYPES.join(", ")),
            ));
        }
        Ok(cfg)
    }
}

/// `provider = "azure.blob_canary"`.
#[non_exhaustive]
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobCanaryConfig {
    /// The account's blob endpoint (`https://acct.blob.core.windows.net`), optionally
    /// with a SAS query string.
    pub primary_url: String,
    /// The `-secondary` endpoint of the RA-GRS account, optionally with a SAS.
    pub secondary_url: String,
    /// The container of the canary blob.
    pub container: String,
    /// The canary blob's name.
    pub blob: String,
    /// Per-call timeout (default 30 s).
    #[serde(default)]
    pub timeout: Option<String>,
}

impl fmt::Debug for BlobCanaryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobCanaryConfig")
            .field("primary_url", &redact_query(&self.primary_url))
            .field("secondary_url", &redact_query(&self.secondary_url))
            .field("container", &self.container)
            .field("blob", &self.blob)
            .finish()
    }
}

/// `url` without its query string (a SAS), for `Debug` and messages.
pub(crate) fn redact_query(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?******"),
        None => url.to_string(),
    }
}

impl BlobCanaryConfig {
    /// Reads the resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        for k in ["primary_url", "secondary_url", "container", "blob"] {
            settings.str(k)?;
        }
        let cfg: BlobCanaryConfig = settings.deserialize()?;
        for (k, v) in [
            ("primary_url", &cfg.primary_url),
            ("secondary_url", &cfg.secondary_url),
        ] {
            let u =
                url::Url::parse(v).map_err(|e| ConfigError::key(k, format!("not a URL: {e}")))?;
            if !matches!(u.scheme(), "http" | "https") {
                return Err(ConfigError::key(k, "must be an http(s) URL"));
            }
        }
        if let Some(t) = &cfg.timeout {
            dr_core::parse_duration(t).map_err(|e| ConfigError::key("timeout", e))?;
        }
        Ok(cfg)
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
            .as_deref()
            .and_then(|t| dr_core::parse_duration(t).ok())
            .unwrap_or(DEFAULT_TIMEOUT)
    }
}
