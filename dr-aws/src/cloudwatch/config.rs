//! Settings of `aws.cloudwatch.alarm`.

use dr_core::{ConfigError, Settings};
use serde::Deserialize;

use crate::config::{own, require};

/// `provider = "aws.cloudwatch.alarm"`.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AlarmConfig {
    /// The alarm's name.
    pub alarm_name: String,
}

impl AlarmConfig {
    /// Reads and checks the resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        require(settings, &["alarm_name"])?;
        own(settings)
    }

    /// The alarm `name`.
    pub fn new(name: impl Into<String>) -> Self {
        AlarmConfig {
            alarm_name: name.into(),
        }
    }
}
