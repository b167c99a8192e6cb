//! The Front Door probe: the health of one origin (`probe_target`).
//!
//! Front Door exposes origin health as the Azure Monitor metric
//! `OriginHealthPercentage` (dimension `Origin`): 100 healthy, above 0 degraded,
//! 0 unhealthy, no data in the last 15 minutes degraded. An ARM error is an error
//! (the probe cannot decide), not an unhealthy origin.

use std::sync::Arc;
use std::time::Instant;

use dr_core::{ConfigError, Health, HealthProbe, ProviderError, Settings, async_trait};

use super::FRONT_DOOR;
use super::config::FrontDoorConfig;
use crate::client::Arm;
use crate::config::ArmConfig;
use crate::credential::TokenSource;
use crate::routing::probe_target;

/// The health of one Front Door origin (`probe_target`), from Azure Monitor.
#[derive(Debug)]
pub struct FrontDoorProbe {
    arm: Arm,
    profile_id: String,
    origin: String,
}

impl FrontDoorProbe {
    /// Builds the probe from a resource's settings.
    pub fn from_settings(s: &Settings, token: Arc<dyn TokenSource>) -> Result<Self, ConfigError> {
        let arm_cfg = ArmConfig::from_settings(s)?;
        let cfg = FrontDoorConfig::from_settings(s)?;
        let target = probe_target(&cfg.probe_target, cfg.targets.keys().next())?;
        let arm = Arm::new(FRONT_DOOR, s.name(), arm_cfg, token)?;
        let profile_id = arm.path(&format!("Microsoft.Cdn/profiles/{}", cfg.profile));
        Ok(FrontDoorProbe {
            arm,
            profile_id,
            origin: cfg.targets[&target].clone(),
        })
    }
}

#[async_trait]
impl HealthProbe for FrontDoorProbe {
    async fn probe(&self) -> Result<Health, ProviderError> {
        let started = Instant::now();
        let filter = format!("Origin eq '{}'", self.origin);
        let latest = self
            .arm
            .latest_metric(
                &self.profile_id,
                "OriginHealthPercentage",
                "Average",
                Some(&filter),
            )
            .await?;
        let label = format!("origin {}", self.origin);
        Ok(match latest {
            None => Health::degraded(format!(
                "{label}: no OriginHealthPercentage data in 15 minutes"
            )),
            Some((p, _)) if p >= 100.0 => Health::healthy(started.elapsed())
                .with_detail(format!("{label}: 100% of health probes succeed")),
            Some((p, _)) if p > 0.0 => {
                Health::degraded(format!("{label}: {p:.0}% of health probes succeed"))
            }
            Some(_) => Health::unhealthy(format!("{label}: every health probe fails")),
        })
    }
}
