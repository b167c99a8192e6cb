//! Reading a CloudWatch metric: the newest `Maximum` of one metric of one
//! dimension. The RDS replicator reads `AWS/RDS` `ReplicaLag` with it; it is
//! compiled with feature `rds` (which brings `aws-sdk-cloudwatch`), and a future
//! metric reader of the `cloudwatch` service adds its feature to the `cfg` in
//! `cloudwatch/mod.rs`.

use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::types::{Dimension, Statistic};
use aws_smithy_types::DateTime;
use dr_core::ProviderError;

use crate::client::Aws;
use crate::error::from_sdk;

/// The granularity asked of `GetMetricStatistics`, in seconds.
const PERIOD_SECONDS: i32 = 60;

/// The newest `Maximum` of `namespace`/`metric` for `dimension` (name, value)
/// over the last `window`, by `GetMetricStatistics`; `None` without a datapoint.
pub(crate) async fn newest_maximum(
    aws: &Aws,
    namespace: &str,
    metric: &str,
    dimension: (&str, &str),
    window: Duration,
) -> Result<Option<f64>, ProviderError> {
    let now = SystemTime::now();
    let out = aws
        .cloudwatch()
        .await
        .get_metric_statistics()
        .namespace(namespace)
        .metric_name(metric)
        .dimensions(
            Dimension::builder()
                .name(dimension.0)
                .value(dimension.1)
                .build(),
        )
        .start_time(DateTime::from(now - window))
        .end_time(DateTime::from(now))
        .period(PERIOD_SECONDS)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .map_err(|e| from_sdk("CloudWatch GetMetricStatistics", e))?;
    let newest = out
        .datapoints()
        .iter()
        .filter(|d| d.maximum().is_some())
        .max_by_key(|d| d.timestamp().map(|t| (t.secs(), t.subsec_nanos())));
    Ok(newest.and_then(|d| d.maximum()))
}
