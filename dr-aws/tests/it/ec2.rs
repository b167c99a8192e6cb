//! EC2 `start_instances`: wait, verify, compensate only what it started.

use crate::common::*;
use dr_aws::testing::MotoServer;
use dr_core::ErrorKind;
use serde_json::json;

#[tokio::test]
async fn start_instances_waits_verifies_and_compensates_only_what_it_started() {
    let moto = MotoServer::start().await;
    let ec2 = moto.ec2(REGION).await;
    let run = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(2)
        .max_count(2)
        .send()
        .await
        .unwrap();
    let ids: Vec<String> = run
        .instances()
        .iter()
        .map(|i| i.instance_id().unwrap().to_string())
        .collect();
    ec2.stop_instances()
        .instance_ids(&ids[0])
        .send()
        .await
        .unwrap();
    let a = action(
        "aws.ec2.start_instances",
        &settings(
            "start",
            "aws.ec2.start_instances",
            &moto.url(),
            json!({"instances": ids}),
        ),
    );
    assert!(!a.verify().await.unwrap());
    let out = a.run().await.unwrap();
    assert_eq!(out["started"], json!([ids[0]]));
    assert!(a.verify().await.unwrap());
    a.compensate().await.unwrap();
    let d = ec2
        .describe_instances()
        .set_instance_ids(Some(ids.clone()))
        .send()
        .await
        .unwrap();
    let states: Vec<(String, String)> = d
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| {
            (
                i.instance_id().unwrap().to_string(),
                i.state().unwrap().name().unwrap().as_str().to_string(),
            )
        })
        .collect();
    assert!(
        states.contains(&(ids[0].clone(), "stopped".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&(ids[1].clone(), "running".into())),
        "{states:?}"
    );

    let missing = action(
        "aws.ec2.start_instances",
        &settings(
            "start",
            "aws.ec2.start_instances",
            &moto.url(),
            json!({"instances": ["i-0123456789abcdef0"]}),
        ),
    );
    assert_eq!(
        missing.verify().await.unwrap_err().kind(),
        &ErrorKind::NotFound
    );
}
