//! Settings of `aws.cloudwatch.alarm`.

use dr_core::{ConfigError, Settings, check_length};
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
        let c: AlarmConfig = own(settings)?;
        // An alarm name is 1 to 255 characters.
        check_length("alarm_name", &c.alarm_name, 1, 255)?;
        Ok(c)
    }

    /// The alarm `name`.
    pub fn new(name: impl Into<String>) -> Self {
        AlarmConfig {
            alarm_name: name.into(),
        }
    }
}
