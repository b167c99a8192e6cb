//! Auto Scaling `set_capacity`: verify, and restore what it captured.

use crate::common::*;
use dr_aws::testing::MotoServer;
use serde_json::json;

#[tokio::test]
async fn set_capacity_verifies_and_restores_what_it_captured() {
    let moto = MotoServer::start().await;
    let asg = moto.autoscaling(REGION).await;
    asg.create_launch_configuration()
        .launch_configuration_name("web")
        .image_id("ami-12c6146b")
        .instance_type("t3.micro")
        .send()
        .await
        .unwrap();
    asg.create_auto_scaling_group()
        .auto_scaling_group_name("web")
        .launch_configuration_name("web")
        .min_size(1)
        .max_size(2)
        .desired_capacity(1)
        .availability_zones("us-east-1a")
        .send()
        .await
        .unwrap();
    let a = action(
        "aws.autoscaling.set_capacity",
        &settings(
            "scale",
            "aws.autoscaling.set_capacity",
            &moto.url(),
            json!({"group": "web", "desired": 4, "max": 6}),
        ),
    );
    assert!(!a.verify().await.unwrap());
    let out = a.run().await.unwrap();
    assert_eq!(out["before"], json!({"desired": 1, "min": 1, "max": 2}));
    assert_eq!(out["after"], json!({"desired": 4, "min": 1, "max": 6}));
    assert!(a.verify().await.unwrap());
    a.compensate().await.unwrap();
    let g = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("web")
        .send()
        .await
        .unwrap();
    let g = &g.auto_scaling_groups()[0];
    assert_eq!(
        (g.desired_capacity(), g.min_size(), g.max_size()),
        (Some(1), Some(1), Some(2))
    );
}
