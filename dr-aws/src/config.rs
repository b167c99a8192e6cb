//! Settings of every `aws.*` resource and action, as a plan gives them.
//!
//! Every resource and action takes the common keys of [`AwsCommon`] (`region`,
//! `endpoint_url`, `profile`) next to its own. Credentials are never a setting:
//! they come from the standard AWS chain (see [`crate::client`]).

use std::collections::BTreeMap;
use std::time::Duration;

use dr_core::{ConfigError, Settings};
use serde::Deserialize;

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
pub(crate) fn own<T: serde::de::DeserializeOwned>(settings: &Settings) -> Result<T, ConfigError> {
    let mut values = settings.values().clone();
    for k in COMMON_KEYS {
        values.remove(*k);
    }
    Settings::new(settings.name(), settings.provider(), values).deserialize()
}

fn non_empty(key: &str, v: &str) -> Result<(), ConfigError> {
    if v.trim().is_empty() {
        return Err(ConfigError::key(key, "must not be empty"));
    }
    Ok(())
}

fn non_empty_targets(targets: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    if targets.is_empty() {
        return Err(ConfigError::key("targets", "name at least one target"));
    }
    for (t, v) in targets {
        non_empty(&format!("targets.{t}"), v)?;
    }
    Ok(())
}

/// `provider = "aws.route53"`: weighted or failover record sets of one name.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Route53Config {
    /// The hosted zone (`Z123..`, a `/hostedzone/` prefix is accepted).
    pub hosted_zone_id: String,
    /// The record name; a trailing dot is optional.
    pub record_name: String,
    /// The record type (default `A`).
    #[serde(default = "default_record_type")]
    pub record_type: String,
    /// Target name -> the record set's `SetIdentifier`.
    pub targets: BTreeMap<String, String>,
}

fn default_record_type() -> String {
    "A".to_string()
}

impl Route53Config {
    /// Reads and checks the resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        settings.str("hosted_zone_id")?;
        settings.str("record_name")?;
        let mut c: Route53Config = own(settings)?;
        c.hosted_zone_id = c
            .hosted_zone_id
            .trim_start_matches("/hostedzone/")
            .to_string();
        non_empty("hosted_zone_id", &c.hosted_zone_id)?;
        non_empty("record_name", &c.record_name)?;
        if !c.record_name.ends_with('.') {
            c.record_name.push('.');
        }
        non_empty_targets(&c.targets)?;
        Ok(c)
    }
}

/// `provider = "aws.route53_health_check"`.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// The health check's id.
    pub health_check_id: String,
}

/// `provider = "aws.cloudwatch.alarm"`.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AlarmConfig {
    /// The alarm's name.
    pub alarm_name: String,
}

/// `provider = "aws.arc_routing_control"`.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ArcConfig {
    /// The cluster's endpoints, tried in turn.
    pub cluster_endpoints: Vec<ArcEndpoint>,
    /// Target name -> routing control ARN.
    pub targets: BTreeMap<String, String>,
    /// Safety rules (ARNs) to override in every `UpdateRoutingControlStates` of
    /// this resource; logged and named in every change this router makes (a
    /// traffic step cannot carry provider keys, see the crate README).
    #[serde(default)]
    pub override_safety_rules: Vec<String>,
}

/// One ARC cluster endpoint with its region.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ArcEndpoint {
    /// `https://host.example/v1` as `DescribeCluster` lists it.
    pub endpoint: String,
    /// Its region (signs the request).
    pub region: String,
}

/// `provider = "aws.rds"`.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RdsConfig {
    /// The `DBInstanceIdentifier`.
    pub instance: String,
}

/// How an `aws.aurora_global` store is promoted.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuroraMode {
    /// `SwitchoverGlobalCluster`: planned, no data loss (needs a healthy writer).
    #[default]
    Switchover,
    /// `FailoverGlobalCluster` with `AllowDataLoss`: the writer region is lost.
    Failover,
}

/// `provider = "aws.aurora_global"`.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AuroraConfig {
    /// The global cluster's identifier.
    pub global_cluster: String,
    /// The member cluster this resource stands for (identifier or ARN).
    pub cluster: String,
    /// `switchover` (default) or `failover`.
    #[serde(default)]
    pub mode: AuroraMode,
    /// The plan's consent to lose data, required with `mode = "failover"`.
    #[serde(default)]
    pub allow_data_loss: bool,
}

impl AuroraConfig {
    /// Reads and checks the resource's settings: `mode = "failover"` is refused
    /// unless `allow_data_loss = true` says the plan accepts losing data.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let c: AuroraConfig = own(settings)?;
        non_empty("global_cluster", &c.global_cluster)?;
        non_empty("cluster", &c.cluster)?;
        if c.mode == AuroraMode::Failover && !c.allow_data_loss {
            return Err(ConfigError::key(
                "mode",
                "`failover` (FailoverGlobalCluster with AllowDataLoss) loses the writes the \
                 secondary has not received: set `allow_data_loss = true` to accept that, or \
                 use `switchover`",
            ));
        }
        Ok(c)
    }
}

/// `provider = "aws.s3_replication"`.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct S3ReplicationConfig {
    /// The source bucket.
    pub bucket: String,
    /// The destination bucket.
    pub destination_bucket: String,
    /// The IAM role S3 assumes for the reverse rule (destination -> source).
    #[serde(default)]
    pub role_arn: Option<String>,
    /// An object key to measure lag with: written to the source, read from the destination.
    #[serde(default)]
    pub canary_key: Option<String>,
    /// The destination bucket's region when it differs from `region`.
    #[serde(default)]
    pub destination_region: Option<String>,
}

/// Action `aws.ec2.start_instances`.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StartInstancesConfig {
    /// Instance ids.
    pub instances: Vec<String>,
}

/// Action `aws.autoscaling.set_capacity`.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SetCapacityConfig {
    /// The Auto Scaling group's name.
    pub group: String,
    /// The desired capacity.
    pub desired: i32,
    /// The minimum size, when it changes too.
    #[serde(default)]
    pub min: Option<i32>,
    /// The maximum size, when it changes too.
    #[serde(default)]
    pub max: Option<i32>,
}

macro_rules! simple_from_settings {
    ($t:ty, $($key:literal),*) => {
        impl $t {
            /// Reads and checks the resource's settings.
            pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
                $( settings.get($key).ok_or_else(|| ConfigError::key($key, "missing required setting"))?; )*
                own(settings)
            }
        }
    };
}

simple_from_settings!(HealthCheckConfig, "health_check_id");
simple_from_settings!(AlarmConfig, "alarm_name");
simple_from_settings!(RdsConfig, "instance");
simple_from_settings!(S3ReplicationConfig, "bucket", "destination_bucket");

impl ArcConfig {
    /// Reads and checks the resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        settings
            .get("cluster_endpoints")
            .ok_or_else(|| ConfigError::key("cluster_endpoints", "missing required setting"))?;
        let c: ArcConfig = own(settings)?;
        if c.cluster_endpoints.is_empty() {
            return Err(ConfigError::key(
                "cluster_endpoints",
                "list at least one cluster endpoint",
            ));
        }
        non_empty_targets(&c.targets)?;
        Ok(c)
    }
}

impl StartInstancesConfig {
    /// Reads and checks the step's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        settings
            .get("instances")
            .ok_or_else(|| ConfigError::key("instances", "missing required setting"))?;
        let c: StartInstancesConfig = own(settings)?;
        if c.instances.is_empty() {
            return Err(ConfigError::key("instances", "list at least one instance"));
        }
        Ok(c)
    }
}

impl SetCapacityConfig {
    /// Reads and checks the step's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        settings.str("group")?;
        let c: SetCapacityConfig = own(settings)?;
        if c.desired < 0 {
            return Err(ConfigError::key("desired", "must not be negative"));
        }
        if let Some(min) = c.min
            && min > c.desired
        {
            return Err(ConfigError::key("min", "must not exceed `desired`"));
        }
        if let Some(max) = c.max
            && max < c.desired
        {
            return Err(ConfigError::key("max", "must not be below `desired`"));
        }
        Ok(c)
    }
}

fn targets_of<I, K, V>(targets: I) -> BTreeMap<String, String>
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

impl Route53Config {
    /// Record sets of `record_name` (type `A`) in `hosted_zone_id`, a target per
    /// `SetIdentifier`: `Route53Config::new("Z1", "app.example.com.", [("east", "east")])`.
    pub fn new<I, K, V>(
        hosted_zone_id: impl Into<String>,
        record_name: impl Into<String>,
        targets: I,
    ) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Route53Config {
            hosted_zone_id: hosted_zone_id.into(),
            record_name: record_name.into(),
            record_type: default_record_type(),
            targets: targets_of(targets),
        }
    }

    /// Sets the record type.
    pub fn with_record_type(mut self, record_type: impl Into<String>) -> Self {
        self.record_type = record_type.into();
        self
    }
}

impl HealthCheckConfig {
    /// The health check `id`.
    pub fn new(id: impl Into<String>) -> Self {
        HealthCheckConfig {
            health_check_id: id.into(),
        }
    }
}

impl AlarmConfig {
    /// The alarm `name`.
    pub fn new(name: impl Into<String>) -> Self {
        AlarmConfig {
            alarm_name: name.into(),
        }
    }
}

impl ArcEndpoint {
    /// A cluster endpoint and its region.
    pub fn new(endpoint: impl Into<String>, region: impl Into<String>) -> Self {
        ArcEndpoint {
            endpoint: endpoint.into(),
            region: region.into(),
        }
    }
}

impl ArcConfig {
    /// Routing controls (target -> ARN) behind `cluster_endpoints`.
    pub fn new<I, K, V>(cluster_endpoints: Vec<ArcEndpoint>, targets: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        ArcConfig {
            cluster_endpoints,
            targets: targets_of(targets),
            override_safety_rules: Vec::new(),
        }
    }

    /// Sets the safety rules overridden by every change.
    pub fn with_override_safety_rules(mut self, rules: Vec<String>) -> Self {
        self.override_safety_rules = rules;
        self
    }
}

impl RdsConfig {
    /// The DB instance `instance`.
    pub fn new(instance: impl Into<String>) -> Self {
        RdsConfig {
            instance: instance.into(),
        }
    }
}

impl AuroraConfig {
    /// Member `cluster` of `global_cluster`, promoted by switchover.
    pub fn new(global_cluster: impl Into<String>, cluster: impl Into<String>) -> Self {
        AuroraConfig {
            global_cluster: global_cluster.into(),
            cluster: cluster.into(),
            mode: AuroraMode::Switchover,
            allow_data_loss: false,
        }
    }

    /// Promotes by `FailoverGlobalCluster` with `AllowDataLoss`: the consent to lose data.
    pub fn with_failover_allowing_data_loss(mut self) -> Self {
        self.mode = AuroraMode::Failover;
        self.allow_data_loss = true;
        self
    }
}

impl S3ReplicationConfig {
    /// Replication from `bucket` to `destination_bucket`.
    pub fn new(bucket: impl Into<String>, destination_bucket: impl Into<String>) -> Self {
        S3ReplicationConfig {
            bucket: bucket.into(),
            destination_bucket: destination_bucket.into(),
            role_arn: None,
            canary_key: None,
            destination_region: None,
        }
    }

    /// Sets the role for the reverse rule (enables `reverse`).
    pub fn with_role_arn(mut self, arn: impl Into<String>) -> Self {
        self.role_arn = Some(arn.into());
        self
    }

    /// Measures lag with a canary object at `key`.
    pub fn with_canary_key(mut self, key: impl Into<String>) -> Self {
        self.canary_key = Some(key.into());
        self
    }
}

impl StartInstancesConfig {
    /// Start `instances`.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(instances: I) -> Self {
        StartInstancesConfig {
            instances: instances.into_iter().map(Into::into).collect(),
        }
    }
}

impl SetCapacityConfig {
    /// Set `group` to `desired` (min/max widened only as needed).
    pub fn new(group: impl Into<String>, desired: i32) -> Self {
        SetCapacityConfig {
            group: group.into(),
            desired,
            min: None,
            max: None,
        }
    }

    /// Sets the minimum and maximum sizes too.
    pub fn with_bounds(mut self, min: i32, max: i32) -> Self {
        self.min = Some(min);
        self.max = Some(max);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn common_keys_and_a_record_name_are_read() {
        let s = Settings::from_json(
            "front",
            "aws.route53",
            json!({"hosted_zone_id": "/hostedzone/Z1", "record_name": "app.example.com",
                   "targets": {"east": "e"}, "region": "us-east-1", "timeout": "5s"}),
        );
        let c = Route53Config::from_settings(&s).unwrap();
        assert_eq!(c.hosted_zone_id, "Z1");
        assert_eq!(c.record_name, "app.example.com.");
        assert_eq!(c.record_type, "A");
        let common = AwsCommon::from_settings(&s).unwrap();
        assert_eq!(common.region.as_deref(), Some("us-east-1"));
        assert_eq!(common.timeout, Duration::from_secs(5));
    }

    #[test]
    fn wrong_keys_are_named() {
        let s = Settings::from_json("db", "aws.rds", json!({"instance": "db", "instanse": 1}));
        assert_eq!(
            RdsConfig::from_settings(&s).unwrap_err().key.as_deref(),
            Some("instanse")
        );
        let s = Settings::from_json("db", "aws.rds", json!({}));
        assert_eq!(
            RdsConfig::from_settings(&s).unwrap_err().key.as_deref(),
            Some("instance")
        );
        let s = Settings::from_json(
            "db",
            "aws.rds",
            json!({"instance": "x", "endpoint_url": "x"}),
        );
        assert_eq!(
            AwsCommon::from_settings(&s).unwrap_err().key.as_deref(),
            Some("endpoint_url")
        );
    }

    #[test]
    fn aurora_failover_needs_consent_to_lose_data() {
        let s = Settings::from_json(
            "g",
            "aws.aurora_global",
            json!({"global_cluster": "g", "cluster": "c", "mode": "failover"}),
        );
        let e = AuroraConfig::from_settings(&s).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("mode"));
        assert!(e.message.contains("allow_data_loss"));
        let s = Settings::from_json(
            "g",
            "aws.aurora_global",
            json!({"global_cluster": "g", "cluster": "c", "mode": "failover", "allow_data_loss": true}),
        );
        assert_eq!(
            AuroraConfig::from_settings(&s).unwrap().mode,
            AuroraMode::Failover
        );
    }

    #[test]
    fn capacity_bounds_are_checked() {
        let s = Settings::from_json(
            "s",
            "aws.autoscaling.set_capacity",
            json!({"group": "g", "desired": 2, "max": 1}),
        );
        assert_eq!(
            SetCapacityConfig::from_settings(&s)
                .unwrap_err()
                .key
                .as_deref(),
            Some("max")
        );
    }
}
