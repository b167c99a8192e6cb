//! `aws.cloudwatch.alarm`: a CloudWatch alarm's state as a probe.

use std::time::Instant;

use aws_sdk_cloudwatch::types::StateValue;
use dr_core::{ConfigError, Health, HealthProbe, ProviderError, Settings, async_trait};

use super::config::AlarmConfig;
use crate::client::Aws;
use crate::config::AwsCommon;
use crate::error::{from_sdk, not_found};

/// The provider name of CloudWatch alarm probes.
pub const ALARM_PROVIDER: &str = crate::names::ALARM;

/// A CloudWatch alarm, by `DescribeAlarms`: `OK` healthy, `ALARM` unhealthy,
/// `INSUFFICIENT_DATA` degraded.
#[derive(Debug)]
pub struct CloudWatchAlarmProbe {
    cfg: AlarmConfig,
    aws: Aws,
}

impl CloudWatchAlarmProbe {
    /// A probe of `cfg.alarm_name`.
    pub fn new(cfg: AlarmConfig, common: AwsCommon) -> Self {
        CloudWatchAlarmProbe {
            cfg,
            aws: Aws::new(common),
        }
    }

    /// Builds the probe from a resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        Ok(Self::new(
            AlarmConfig::from_settings(settings)?,
            AwsCommon::from_settings(settings)?,
        ))
    }
}

#[async_trait]
impl HealthProbe for CloudWatchAlarmProbe {
    async fn probe(&self) -> Result<Health, ProviderError> {
        let started = Instant::now();
        let out = self
            .aws
            .cloudwatch()
            .await
            .describe_alarms()
            .alarm_names(&self.cfg.alarm_name)
            .send()
            .await
            .map_err(|e| from_sdk("CloudWatch DescribeAlarms", e))?;
        let state = out
            .metric_alarms()
            .iter()
            .find(|a| a.alarm_name() == Some(self.cfg.alarm_name.as_str()))
            .map(|a| {
                (
                    a.state_value().cloned(),
                    a.state_reason().map(str::to_string),
                )
            })
            .or_else(|| {
                out.composite_alarms()
                    .iter()
                    .find(|a| a.alarm_name() == Some(self.cfg.alarm_name.as_str()))
                    .map(|a| {
                        (
                            a.state_value().cloned(),
                            a.state_reason().map(str::to_string),
                        )
                    })
            })
            .ok_or_else(|| {
                not_found(format!(
                    "CloudWatch has no alarm named `{}`",
                    self.cfg.alarm_name
                ))
            })?;
        let reason = state.1.unwrap_or_default();
        Ok(match state.0 {
            Some(StateValue::Ok) => Health::healthy(started.elapsed())
                .with_detail(format!("alarm `{}` is OK", self.cfg.alarm_name)),
            Some(StateValue::Alarm) => Health::unhealthy(format!(
                "alarm `{}` is in ALARM: {reason}",
                self.cfg.alarm_name
            )),
            other => Health::degraded(format!(
                "alarm `{}` is {}: {reason}",
                self.cfg.alarm_name,
                other
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "without a state".into())
            )),
        })
    }
}
