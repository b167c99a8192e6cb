//! `aws.route53_health_check`: a Route 53 health check's status as a probe.

use std::time::Instant;

use dr_core::{ConfigError, Health, HealthProbe, ProviderError, Settings, async_trait};

use super::config::HealthCheckConfig;
use crate::client::Aws;
use crate::config::AwsCommon;
use crate::error::from_sdk;

/// The provider name of Route 53 health-check probes.
pub const HEALTH_CHECK_PROVIDER: &str = crate::names::HEALTH_CHECK;

/// Route 53 considers an endpoint healthy when more than this share of its
/// checkers report success.
const HEALTHY_SHARE: f64 = 0.18;

/// A Route 53 health check, by `GetHealthCheckStatus`: healthy when more than
/// 18 % of the checkers report success (Route 53's own rule), degraded when some
/// of them fail, unhealthy otherwise.
#[derive(Debug)]
pub struct Route53HealthCheckProbe {
    cfg: HealthCheckConfig,
    aws: Aws,
}

impl Route53HealthCheckProbe {
    /// A probe of `cfg.health_check_id`.
    pub fn new(cfg: HealthCheckConfig, common: AwsCommon) -> Self {
        Route53HealthCheckProbe {
            cfg,
            aws: Aws::new(common),
        }
    }

    /// Builds the probe from a resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        Ok(Self::new(
            HealthCheckConfig::from_settings(settings)?,
            AwsCommon::from_settings(settings)?,
        ))
    }
}

/// The verdict of `successes` out of `total` checkers.
pub(crate) fn verdict(successes: usize, total: usize, latency: std::time::Duration) -> Health {
    if total == 0 {
        return Health::unhealthy("no Route 53 checker has reported yet");
    }
    let share = successes as f64 / total as f64;
    let detail = format!("{successes} of {total} Route 53 checkers report success");
    if share <= HEALTHY_SHARE {
        Health::unhealthy(format!("{detail} (healthy needs more than 18 %)"))
    } else if successes < total {
        Health::degraded(detail)
    } else {
        Health::healthy(latency).with_detail(detail)
    }
}

#[async_trait]
impl HealthProbe for Route53HealthCheckProbe {
    async fn probe(&self) -> Result<Health, ProviderError> {
        let started = Instant::now();
        let out = self
            .aws
            .route53()
            .await
            .get_health_check_status()
            .health_check_id(&self.cfg.health_check_id)
            .send()
            .await
            .map_err(|e| from_sdk("Route 53 GetHealthCheckStatus", e))?;
        let observations = out.health_check_observations();
        let successes = observations
            .iter()
            .filter(|o| {
                o.status_report()
                    .and_then(|r| r.status())
                    .is_some_and(|s| s.starts_with("Success"))
            })
            .count();
        Ok(verdict(successes, observations.len(), started.elapsed()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dr_core::HealthStatus;
    use std::time::Duration;

    #[test]
    fn the_18_percent_rule() {
        let z = Duration::ZERO;
        assert_eq!(verdict(16, 16, z).status, HealthStatus::Healthy);
        assert_eq!(verdict(4, 16, z).status, HealthStatus::Degraded);
        assert_eq!(verdict(3, 16, z).status, HealthStatus::Degraded); // 18.75 %
        assert_eq!(verdict(2, 16, z).status, HealthStatus::Unhealthy); // 12.5 %
        assert_eq!(verdict(0, 0, z).status, HealthStatus::Unhealthy);
    }
}
