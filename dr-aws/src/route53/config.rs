//! Settings of `aws.route53` (record sets) and `aws.route53_health_check`.

use std::collections::BTreeMap;

use dr_core::{ConfigError, Settings, check_length};
use serde::Deserialize;

use crate::config::{non_empty, non_empty_targets, own, require, targets_of};

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
        // Route 53's documented limits: a hosted zone id of at most 32
        // characters, a DNS name of at most 1024, a SetIdentifier of 1 to 128.
        check_length("hosted_zone_id", &c.hosted_zone_id, 1, 32)?;
        check_length("record_name", &c.record_name, 1, 1024)?;
        if !c.record_name.ends_with('.') {
            c.record_name.push('.');
        }
        non_empty_targets(&c.targets)?;
        for (t, id) in &c.targets {
            check_length(&format!("targets.{t}"), id, 1, 128)?;
        }
        Ok(c)
    }

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

/// `provider = "aws.route53_health_check"`.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// The health check's id.
    pub health_check_id: String,
}

impl HealthCheckConfig {
    /// Reads and checks the resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        require(settings, &["health_check_id"])?;
        let c: HealthCheckConfig = own(settings)?;
        check_length("health_check_id", &c.health_check_id, 1, 64)?;
        Ok(c)
    }

    /// The health check `id`.
    pub fn new(id: impl Into<String>) -> Self {
        HealthCheckConfig {
            health_check_id: id.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AwsCommon;
    use serde_json::json;
    use std::time::Duration;

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
    fn settings_longer_than_route53_allows_fail_validation_by_key() {
        let base = json!({"hosted_zone_id": "Z1", "record_name": "app.example.com",
                          "targets": {"east": "e"}});
        for (key, value, want) in [
            (
                "hosted_zone_id",
                json!("Z".repeat(100_000)),
                "hosted_zone_id",
            ),
            ("record_name", json!("a".repeat(1025)), "record_name"),
            ("targets", json!({"east": "e".repeat(129)}), "targets.east"),
        ] {
            let mut v = base.clone();
            v[key] = value;
            let e = Route53Config::from_settings(&Settings::from_json("front", "aws.route53", v))
                .unwrap_err();
            assert_eq!(e.key.as_deref(), Some(want), "{e}");
            assert!(e.message.contains("at most"), "{e}");
        }
        let e = HealthCheckConfig::from_settings(&Settings::from_json(
            "hc",
            "aws.route53_health_check",
            json!({"health_check_id": "h".repeat(65)}),
        ))
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("health_check_id"));
    }
}
