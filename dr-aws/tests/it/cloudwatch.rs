//! CloudWatch alarms: states over CBOR, throttling, a missing alarm.

use crate::common::*;
use dr_aws::testing::FakeAws;
use dr_core::{ErrorKind, HealthStatus};
use serde_json::json;

#[tokio::test]
async fn an_alarm_state_maps_to_health_over_cbor() {
    let fake = FakeAws::start().await;
    let p = probe(&settings(
        "alarm",
        "aws.cloudwatch.alarm",
        &fake.url(),
        json!({"alarm_name": "api-5xx"}),
    ));
    for (state, want) in [
        ("OK", HealthStatus::Healthy),
        ("ALARM", HealthStatus::Unhealthy),
        ("INSUFFICIENT_DATA", HealthStatus::Degraded),
    ] {
        fake.state().alarms.insert("api-5xx".into(), state.into());
        assert_eq!(p.probe().await.unwrap().status, want, "{state}");
    }
    let (op, params) = fake.requests_with_params().await.remove(0);
    assert_eq!(op, "DescribeAlarms");
    assert_eq!(params["AlarmNames"], json!(["api-5xx"]));
    fake.fail_next(
        "DescribeAlarms",
        400,
        "ThrottlingException",
        "Rate exceeded",
    );
    let e = p.probe().await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Throttled { .. }), "{e}");
    fake.state().alarms.clear();
    assert_eq!(p.probe().await.unwrap_err().kind(), &ErrorKind::NotFound);
}
