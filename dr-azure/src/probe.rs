//! Traffic Manager endpoint and Front Door origin health as [`HealthProbe`]s.
//!
//! Traffic Manager monitors its endpoints itself: the endpoint's
//! `endpointMonitorStatus` is `Online` (healthy), `Degraded` or `CheckingEndpoint`
//! (degraded), or `Disabled`, `Inactive`, `Stopped`, `Unmonitored` (unhealthy).
//! Front Door exposes origin health as the Azure Monitor metric
//! `OriginHealthPercentage` (dimension `Origin`): 100 healthy, above 0 degraded,
//! 0 unhealthy, no data in the last 15 minutes degraded. An ARM error is an error
//! (the probe cannot decide), not an unhealthy endpoint.

use std::sync::Arc;
use std::time::Instant;

use dr_core::{ConfigError, Health, HealthProbe, ProviderError, Settings, async_trait};

use crate::client::{Arm, api, str_at};
use crate::config::{ArmConfig, FrontDoorConfig, TrafficManagerConfig, endpoint_type};
use crate::credential::TokenSource;
use crate::router::{FRONT_DOOR, TRAFFIC_MANAGER};

/// The health of one Traffic Manager endpoint (`probe_target`).
#[derive(Debug)]
pub struct TrafficManagerProbe {
    arm: Arm,
    path: String,
    label: String,
}

/// The first target when `probe_target` is unset.
fn probe_target(
    probe_target: &Option<String>,
    first: Option<&String>,
) -> Result<String, ConfigError> {
    probe_target
        .clone()
        .or_else(|| first.cloned())
        .ok_or_else(|| ConfigError::key("probe_target", "no target to probe"))
}

impl TrafficManagerProbe {
    /// Builds the probe from a resource's settings.
    pub fn from_settings(s: &Settings, token: Arc<dyn TokenSource>) -> Result<Self, ConfigError> {
        let arm_cfg = ArmConfig::from_settings(s)?;
        let cfg = TrafficManagerConfig::from_settings(s)?;
        let target = probe_target(&cfg.probe_target, cfg.targets.keys().next())?;
        let (kind, name) = cfg.targets[&target].split_once('/').unwrap_or_default();
        let arm = Arm::new(TRAFFIC_MANAGER, s.name(), arm_cfg, token)?;
        let path = arm.path(&format!(
            "Microsoft.Network/trafficmanagerprofiles/{}/{}/{name}",
            cfg.profile,
            endpoint_type(kind).unwrap_or(kind)
        ));
        Ok(TrafficManagerProbe {
            arm,
            path,
            label: format!("endpoint {} ({target})", cfg.targets[&target]),
        })
    }
}

/// Judges `endpointMonitorStatus`.
pub(crate) fn judge_monitor_status(
    label: &str,
    status: &str,
    latency: std::time::Duration,
) -> Health {
    match status {
        "Online" => Health::healthy(latency).with_detail(format!("{label}: Online")),
        "Degraded" | "CheckingEndpoint" => Health::degraded(format!("{label}: {status}")),
        "" => Health::unhealthy(format!("{label}: no endpointMonitorStatus")),
        other => Health::unhealthy(format!("{label}: {other}")),
    }
}

#[async_trait]
impl HealthProbe for TrafficManagerProbe {
    async fn probe(&self) -> Result<Health, ProviderError> {
        let started = Instant::now();
        let ep = self.arm.get(&self.path, api::TRAFFIC_MANAGER, &[]).await?;
        let status = str_at(&ep, &["properties", "endpointMonitorStatus"]).unwrap_or("");
        Ok(judge_monitor_status(&self.label, status, started.elapsed()))
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use dr_core::HealthStatus;
    use std::time::Duration;

    #[test]
    fn monitor_status_mapping() {
        let z = Duration::ZERO;
        assert_eq!(
            judge_monitor_status("e", "Online", z).status,
            HealthStatus::Healthy
        );
        for s in ["Degraded", "CheckingEndpoint"] {
            assert_eq!(
                judge_monitor_status("e", s, z).status,
                HealthStatus::Degraded
            );
        }
        for s in ["Disabled", "Inactive", "Stopped", "Unmonitored", ""] {
            assert_eq!(
                judge_monitor_status("e", s, z).status,
                HealthStatus::Unhealthy
            );
        }
    }
}
