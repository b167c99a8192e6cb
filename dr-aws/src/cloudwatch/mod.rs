//! CloudWatch: an alarm's state as a probe (`aws.cloudwatch.alarm`, feature
//! `cloudwatch`), and the one place that reads CloudWatch metrics (`metric.rs`).
//! The RDS replicator reads `ReplicaLag` with it, so feature `rds` compiles this
//! module too (the client and `metric.rs`, not the alarm probe); the alarm probe
//! reads no metric, so `metric.rs` is compiled with `rds` only.

#[cfg(feature = "cloudwatch")]
mod config;
#[cfg(feature = "rds")]
pub(crate) mod metric;
#[cfg(feature = "cloudwatch")]
mod probe;

#[cfg(feature = "cloudwatch")]
pub use config::AlarmConfig;
#[cfg(feature = "cloudwatch")]
pub use probe::{ALARM_PROVIDER, CloudWatchAlarmProbe};

use crate::client::Aws;

impl Aws {
    /// The CloudWatch client.
    pub(crate) async fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(self.sdk().await)
    }
}

/// Registers `aws.cloudwatch.alarm` (probe).
#[cfg(feature = "cloudwatch")]
pub(crate) fn register(registry: &mut dr_core::Registry) {
    registry.probe(ALARM_PROVIDER, |s| {
        Ok(std::sync::Arc::new(CloudWatchAlarmProbe::from_settings(s)?))
    });
}
