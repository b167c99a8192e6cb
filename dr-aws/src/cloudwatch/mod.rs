//! CloudWatch (feature `cloudwatch`): an alarm's state as a probe
//! (`aws.cloudwatch.alarm`), and the metric reader ([`metric`]) that the RDS
//! replicator shares (compiled with feature `rds` too).

mod config;
pub(crate) mod metric;
mod probe;

pub use config::AlarmConfig;
pub use probe::{ALARM_PROVIDER, CloudWatchAlarmProbe};

use crate::client::Aws;

impl Aws {
    /// The CloudWatch client.
    pub(crate) async fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(self.sdk().await)
    }
}
