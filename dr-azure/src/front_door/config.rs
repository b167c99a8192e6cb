//! Settings of `provider = "azure.front_door"`.

use std::collections::BTreeMap;

use dr_core::{ConfigError, Settings};
use serde::Deserialize;

use crate::config::specific;
use crate::routing::check_probe_target;

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
