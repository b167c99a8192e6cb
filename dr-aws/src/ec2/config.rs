//! Settings of the `aws.ec2.start_instances` action.

use dr_core::{ConfigError, Settings, check_length};
use serde::Deserialize;

use crate::config::{own, require};

/// Action `aws.ec2.start_instances`.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StartInstancesConfig {
    /// Instance ids.
    pub instances: Vec<String>,
}

impl StartInstancesConfig {
    /// Reads and checks the step's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        require(settings, &["instances"])?;
        let c: StartInstancesConfig = own(settings)?;
        if c.instances.is_empty() {
            return Err(ConfigError::key("instances", "list at least one instance"));
        }
        // An instance id is `i-` and 8 or 17 hexadecimal digits.
        for (i, id) in c.instances.iter().enumerate() {
            check_length(&format!("instances[{i}]"), id, 1, 19)?;
        }
        Ok(c)
    }

    /// Start `instances`.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(instances: I) -> Self {
        StartInstancesConfig {
            instances: instances.into_iter().map(Into::into).collect(),
        }
    }
}
