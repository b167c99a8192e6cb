//! Settings of the `aws.autoscaling.set_capacity` action.

use dr_core::{ConfigError, Settings, check_length};
use serde::Deserialize;

use crate::config::own;

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

impl SetCapacityConfig {
    /// Reads and checks the step's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        settings.str("group")?;
        let c: SetCapacityConfig = own(settings)?;
        // An Auto Scaling group name is 1 to 255 characters.
        check_length("group", &c.group, 1, 255)?;
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
