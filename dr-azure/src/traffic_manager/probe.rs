//! The Traffic Manager probe: the health of one endpoint (`probe_target`).
//!
//! Traffic Manager monitors its endpoints itself: the endpoint's
//! `endpointMonitorStatus` is `Online` (healthy), `Degraded` or `CheckingEndpoint`
//! (degraded), or `Disabled`, `Inactive`, `Stopped`, `Unmonitored` (unhealthy). An
//! ARM error is an error (the probe cannot decide), not an unhealthy endpoint.

use std::sync::Arc;
use std::time::Instant;

use dr_core::{ConfigError, Health, HealthProbe, ProviderError, Settings, async_trait};

use super::TRAFFIC_MANAGER;
use super::config::{TrafficManagerConfig, endpoint_type};
use crate::client::{Arm, api, str_at};
use crate::config::ArmConfig;
use crate::credential::TokenSource;
use crate::routing::probe_target;

/// The health of one Traffic Manager endpoint (`probe_target`).
#[derive(Debug)]
pub struct TrafficManagerProbe {
    arm: Arm,
    path: String,
    label: String,
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
