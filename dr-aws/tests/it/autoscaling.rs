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

/// What `preflight()` found: (ok, message) per item.
async fn preflight(a: &std::sync::Arc<dyn dr_core::Action>) -> Vec<(bool, String)> {
    a.preflight()
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.ok, p.message))
        .collect()
}

fn set_capacity(
    moto: &MotoServer,
    extra: serde_json::Value,
) -> std::sync::Arc<dyn dr_core::Action> {
    action(
        "aws.autoscaling.set_capacity",
        &settings("scale", "aws.autoscaling.set_capacity", &moto.url(), extra),
    )
}

#[tokio::test]
async fn set_capacity_preflight_checks_the_group_and_its_sizes_without_changing_them() {
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
        .min_size(3)
        .max_size(6)
        .desired_capacity(3)
        .availability_zones("us-east-1a")
        .send()
        .await
        .unwrap();

    // Within the group's sizes: ok, with the figures.
    let ok = preflight(&set_capacity(&moto, json!({"group": "web", "desired": 4}))).await;
    assert_eq!(
        ok,
        [
            (
                true,
                "Auto Scaling group `web` exists (desired 3, min 3, max 6)".to_string()
            ),
            (true, "group `web` max size 6 >= desired 4".to_string()),
            (true, "group `web` min size 3 <= desired 4".to_string()),
        ]
    );

    // Over the group's MaxSize, under its MinSize: not ok, with the figures.
    let over = preflight(&set_capacity(&moto, json!({"group": "web", "desired": 8}))).await;
    assert_eq!(
        over[1],
        (
            false,
            "group `web` max size 6 < desired 8: set max or raise the group's MaxSize".to_string()
        )
    );
    let under = preflight(&set_capacity(&moto, json!({"group": "web", "desired": 2}))).await;
    assert_eq!(
        under[2],
        (
            false,
            "group `web` min size 3 > desired 2: set min or lower the group's MinSize".to_string()
        )
    );

    // The step's own max and min are the bounds the group will have: ok.
    let bounded = preflight(&set_capacity(
        &moto,
        json!({"group": "web", "desired": 8, "max": 10, "min": 1}),
    ))
    .await;
    assert!(bounded.iter().all(|(ok, _)| *ok), "{bounded:?}");
    assert_eq!(
        bounded[1].1,
        "group `web` max size 10 (the step's max) >= desired 8"
    );

    // No such group: one finding, not ok.
    let missing = preflight(&set_capacity(&moto, json!({"group": "api", "desired": 1}))).await;
    assert_eq!(
        missing,
        [(false, "Auto Scaling has no group `api`".to_string())]
    );

    // Read only: the group is as it was.
    let g = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("web")
        .send()
        .await
        .unwrap();
    let g = &g.auto_scaling_groups()[0];
    assert_eq!(
        (g.desired_capacity(), g.min_size(), g.max_size()),
        (Some(3), Some(3), Some(6))
    );
}
