//! Settings of `aws.rds` (store and replicator) and `aws.aurora_global`.

use dr_core::{ConfigError, Settings, check_length};
use serde::Deserialize;

use crate::config::{non_empty, own, require};

/// `provider = "aws.rds"`.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RdsConfig {
    /// The `DBInstanceIdentifier`.
    pub instance: String,
}

impl RdsConfig {
    /// Reads and checks the resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        require(settings, &["instance"])?;
        let c: RdsConfig = own(settings)?;
        // A DBInstanceIdentifier is 1 to 63 characters.
        check_length("instance", &c.instance, 1, 63)?;
        Ok(c)
    }

    /// The DB instance `instance`.
    pub fn new(instance: impl Into<String>) -> Self {
        RdsConfig {
            instance: instance.into(),
        }
    }
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
        // A GlobalClusterIdentifier is at most 255 characters; the member cluster
        // is an identifier (63) or an ARN (at most 2048, as every ARN).
        check_length("global_cluster", &c.global_cluster, 1, 255)?;
        check_length("cluster", &c.cluster, 1, 2048)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AwsCommon;
    use serde_json::json;

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
}
