//! S3 replication: the canary lag.

use std::time::Duration;

use crate::common::*;
use dr_aws::testing::MotoServer;
use dr_core::ReplicationState;
use serde_json::json;

#[tokio::test]
async fn canary_lag_is_the_age_of_the_destination_copy() {
    // moto never replicates objects, so the test plays S3 replication itself: it
    // writes an older timestamp to the destination, as a delayed copy would be.
    let moto = MotoServer::start().await;
    replicated_buckets(&moto, "logs-east", "logs-west").await;
    let r = replicator(&settings(
        "logs",
        "aws.s3_replication",
        &moto.url(),
        json!({"bucket": "logs-east", "destination_bucket": "logs-west", "canary_key": "dr-canary"}),
    ));
    assert!(!r.capabilities().reverse, "no role_arn, no reverse");
    let st = r.status().await.unwrap();
    assert_eq!(
        (st.state, st.lag),
        (ReplicationState::Replicating, None),
        "no copy yet"
    );

    let s3 = moto.s3(REGION).await;
    let old = chrono::Utc::now() - chrono::Duration::seconds(30);
    s3.put_object()
        .bucket("logs-west")
        .key("dr-canary")
        .body(old.to_rfc3339().into_bytes().into())
        .send()
        .await
        .unwrap();
    let lag = r.status().await.unwrap().lag.expect("a lag");
    assert!(
        lag >= Duration::from_secs(30) && lag < Duration::from_secs(90),
        "{lag:?}"
    );
    let written = s3
        .get_object()
        .bucket("logs-east")
        .key("dr-canary")
        .send()
        .await
        .unwrap();
    let body = written.body.collect().await.unwrap().into_bytes();
    let at = chrono::DateTime::parse_from_rfc3339(std::str::from_utf8(&body).unwrap()).unwrap();
    assert!(chrono::Utc::now().signed_duration_since(at) < chrono::Duration::seconds(30));
}
