//! The Azure Monitor metrics reader, shared by the Front Door probe
//! (`OriginHealthPercentage`) and the PostgreSQL replicator's lag
//! (`physical_replication_delay_in_seconds`).

use dr_core::ProviderError;
use serde_json::Value;

use super::{Arm, api};

/// How far back a metric is read.
const WINDOW: chrono::Duration = chrono::Duration::minutes(15);

/// The metrics API's `timespan`: `START/END` in ISO 8601 (UTC, whole seconds),
/// the `window` ending at `now`, e.g. `2026-12-03T16:00:00Z/2026-12-03T16:15:00Z`.
/// A bare duration such as `PT15M` is not the specification's format.
pub(crate) fn timespan(now: chrono::DateTime<chrono::Utc>, window: chrono::Duration) -> String {
    let fmt =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    format!("{}/{}", fmt(now - window), fmt(now))
}

impl Arm {
    /// The newest value of Azure Monitor metric `metric` of the resource `resource_id`
    /// over the last 15 minutes (`aggregation`: `Maximum`, `Average`, ...), with the
    /// time of that data point; `None` when the metric has no data.
    ///
    /// `GET {resource_id}/providers/Microsoft.Insights/metrics?api-version=2023-10-01
    ///  &metricnames=..&aggregation=..&interval=PT1M&timespan=START/END[&$filter=..]`,
    /// the window `START/END` in ISO 8601 as the specification defines `timespan`
    /// (an explicit window from now, see [`timespan`]).
    #[cfg(feature = "postgres_flexible")]
    pub(crate) async fn latest_metric(
        &self,
        resource_id: &str,
        metric: &str,
        aggregation: &str,
        filter: Option<&str>,
    ) -> Result<Option<(f64, String)>, ProviderError> {
        let path = format!("{resource_id}/providers/Microsoft.Insights/metrics");
        let window = timespan(chrono::Utc::now(), WINDOW);
        let mut query = vec![
            ("metricnames", metric),
            ("aggregation", aggregation),
            ("interval", "PT1M"),
            ("timespan", window.as_str()),
        ];
        if let Some(f) = filter {
            query.push(("$filter", f));
        }
        let body = self.get(&path, api::METRICS, &query).await?;
        let newest = series_of(&body, aggregation, None)
            .into_iter()
            .filter_map(|(_, p)| p)
            .max_by(|a, b| a.1.cmp(&b.1));
        Ok(newest)
    }

    /// As [`latest_metric`](Self::latest_metric), one entry per time series the
    /// `filter` splits the metric into: the value of `dimension` in that series
    /// (`None` when Azure Monitor named none) and its newest data point.
    #[cfg(feature = "front_door")]
    pub(crate) async fn latest_metric_by(
        &self,
        resource_id: &str,
        metric: &str,
        aggregation: &str,
        filter: &str,
        dimension: &str,
    ) -> Result<Vec<Series>, ProviderError> {
        let path = format!("{resource_id}/providers/Microsoft.Insights/metrics");
        let window = timespan(chrono::Utc::now(), WINDOW);
        let query = [
            ("metricnames", metric),
            ("aggregation", aggregation),
            ("interval", "PT1M"),
            ("timespan", window.as_str()),
            ("$filter", filter),
        ];
        let body = self.get(&path, api::METRICS, &query).await?;
        Ok(series_of(&body, aggregation, Some(dimension)))
    }
}

/// One time series: the value of the dimension asked for, and the newest
/// (value, time) of its data.
pub(crate) type Series = (Option<String>, Option<(f64, String)>);

/// Every time series of the first metric in a metrics answer, with the value
/// of `dimension` (names compared without case: Azure answers them lower-case).
fn series_of(body: &Value, aggregation: &str, dimension: Option<&str>) -> Vec<Series> {
    let key = aggregation.to_ascii_lowercase();
    let series = body
        .pointer("/value/0/timeseries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    series
        .iter()
        .map(|ts| {
            let dim = dimension.and_then(|d| {
                ts.get("metadatavalues")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find(|m| {
                        m.pointer("/name/value")
                            .and_then(Value::as_str)
                            .is_some_and(|n| n.eq_ignore_ascii_case(d))
                    })
                    .and_then(|m| m.get("value").and_then(Value::as_str))
                    .map(str::to_string)
            });
            let mut newest: Option<(f64, String)> = None;
            for point in ts
                .get("data")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let (Some(v), Some(at)) = (
                    point.get(&key).and_then(Value::as_f64),
                    point.get("timeStamp").and_then(Value::as_str),
                ) else {
                    continue;
                };
                if newest.as_ref().is_none_or(|(_, t)| at > t.as_str()) {
                    newest = Some((v, at.to_string()));
                }
            }
            (dim, newest)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timespan_is_an_explicit_iso_8601_window_ending_now() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-03T16:15:00.750Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            timespan(now, WINDOW),
            "2026-12-03T16:00:00Z/2026-12-03T16:15:00Z"
        );
    }
}
