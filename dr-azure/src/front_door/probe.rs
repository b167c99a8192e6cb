//! The Front Door probe: the health of one origin (`probe_target`).
//!
//! Front Door exposes origin health as the Azure Monitor metric
//! `OriginHealthPercentage` of the profile, with dimensions `OriginGroup` (the
//! origin group's name) and `Origin` (the origin's host name, `properties.hostName`,
//! not its resource name). The probe lists the origin group's origins (following
//! `nextLink`) for their host names, reads the metric split by origin within the
//! origin group (`$filter=OriginGroup eq '{group}' and Origin eq '*'`) and takes the
//! series of the target's host name: 100 healthy, above 0 degraded, 0 unhealthy, no
//! data in the last 15 minutes degraded. A series whose `Origin` is no origin of
//! the group is an error naming the values seen, never a healthy origin; so is an
//! ARM error (the probe cannot decide).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use dr_core::{ConfigError, ErrorKind, Health, HealthProbe, ProviderError, Settings, async_trait};
use serde_json::Value;

use super::FRONT_DOOR;
use super::config::FrontDoorConfig;
use super::router::origins_path;
use crate::client::{Arm, api, str_at};
use crate::config::ArmConfig;
use crate::credential::TokenSource;
use crate::routing::probe_target;

/// The health of one Front Door origin (`probe_target`), from Azure Monitor.
#[derive(Debug)]
pub struct FrontDoorProbe {
    arm: Arm,
    profile_id: String,
    origins_path: String,
    origin_group: String,
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
            origins_path: origins_path(&arm, &cfg),
            profile_id,
            origin_group: cfg.origin_group.clone(),
            origin: cfg.targets[&target].clone(),
            arm,
        })
    }

    /// Host name (lower-case) -> origin name, of every origin of the group.
    async fn hosts(&self) -> Result<BTreeMap<String, String>, ProviderError> {
        let origins = self.arm.list(&self.origins_path, api::FRONT_DOOR).await?;
        Ok(origins
            .iter()
            .filter_map(|o| {
                let name = o.get("name").and_then(Value::as_str)?;
                let host = str_at(o, &["properties", "hostName"])?;
                Some((host.to_ascii_lowercase(), name.to_string()))
            })
            .collect())
    }
}

#[async_trait]
impl HealthProbe for FrontDoorProbe {
    async fn probe(&self) -> Result<Health, ProviderError> {
        let started = Instant::now();
        let hosts = self.hosts().await?;
        let Some(host) = hosts
            .iter()
            .find(|(_, name)| **name == self.origin)
            .map(|(h, _)| h.clone())
        else {
            return Err(self.arm.answer(
                ErrorKind::NotFound,
                format!(
                    "origin group `{}` has no origin `{}` with a host name",
                    self.origin_group, self.origin
                ),
            ));
        };
        let filter = format!(
            "OriginGroup eq '{}' and Origin eq '*'",
            self.origin_group.replace('\'', "''")
        );
        let series = self
            .arm
            .latest_metric_by(
                &self.profile_id,
                "OriginHealthPercentage",
                "Average",
                &filter,
                "Origin",
            )
            .await?;
        let unknown: Vec<String> = series
            .iter()
            .filter(|(v, _)| {
                v.as_ref()
                    .is_none_or(|v| !hosts.contains_key(&v.to_ascii_lowercase()))
            })
            .map(|(v, _)| v.clone().unwrap_or_else(|| "(none)".into()))
            .collect();
        if !unknown.is_empty() {
            let seen: Vec<String> = series
                .iter()
                .map(|(v, _)| v.clone().unwrap_or_else(|| "(none)".into()))
                .collect();
            return Err(self.arm.answer(
                ErrorKind::Fatal,
                format!(
                    "OriginHealthPercentage of origin group `{}`: Origin {} is no origin of the \
                     group (values seen: {}; the group's host names: {}); the origin's health \
                     cannot be told",
                    self.origin_group,
                    unknown.join(", "),
                    seen.join(", "),
                    hosts.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        let latest = series
            .into_iter()
            .filter(|(v, _)| v.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(&host)))
            .filter_map(|(_, p)| p)
            .max_by(|a, b| a.1.cmp(&b.1));
        let label = format!("origin {} ({host})", self.origin);
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
