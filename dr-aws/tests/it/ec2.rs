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

#[tokio::test]
async fn start_instances_preflight_names_missing_and_terminated_instances() {
    let moto = MotoServer::start().await;
    let ec2 = moto.ec2(REGION).await;
    let run = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(3)
        .max_count(3)
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
    ec2.terminate_instances()
        .instance_ids(&ids[2])
        .send()
        .await
        .unwrap();
    let preflight = |instances: Vec<String>| {
        let a = action(
            "aws.ec2.start_instances",
            &settings(
                "start",
                "aws.ec2.start_instances",
                &moto.url(),
                json!({ "instances": instances }),
            ),
        );
        async move {
            a.preflight()
                .await
                .unwrap()
                .into_iter()
                .map(|p| (p.ok, p.message))
                .collect::<Vec<_>>()
        }
    };

    // A stopped and a running instance: ok, each with its state.
    let ok = preflight(vec![ids[0].clone(), ids[1].clone()]).await;
    assert_eq!(
        ok,
        [
            (
                true,
                format!("instance `{}` is stopped: the step starts it", ids[0])
            ),
            (true, format!("instance `{}` is running already", ids[1])),
        ]
    );

    // A terminated instance and two that do not exist: not ok, named.
    let missing = ["i-0123456789abcdef0", "i-0fedcba9876543210"];
    let bad = preflight(vec![
        ids[2].clone(),
        missing[0].into(),
        ids[1].clone(),
        missing[1].into(),
    ])
    .await;
    assert_eq!(
        bad,
        [
            (
                false,
                format!("EC2 has no instance `{}`, `{}`", missing[0], missing[1])
            ),
            (
                false,
                format!("instance `{}` is terminated: it cannot be started", ids[2])
            ),
            (true, format!("instance `{}` is running already", ids[1])),
        ]
    );

    // Read only: the stopped instance is still stopped.
    let d = ec2
        .describe_instances()
        .instance_ids(&ids[0])
        .send()
        .await
        .unwrap();
    let state = d.reservations()[0].instances()[0]
        .state()
        .unwrap()
        .name()
        .unwrap()
        .clone();
    assert_eq!(state.as_str(), "stopped");
}

/// `dr check` of a plan with the action: its preflight is an `action_preflight`
/// finding of the step, and the plan is not ready.
#[tokio::test]
async fn dr_check_reports_the_start_instances_preflight() {
    let moto = MotoServer::start().await;
    let text = format!(
        "[plan]\nname = \"start\"\n\
         [[steps]]\nid = \"start\"\naction = \"aws.ec2.start_instances\"\n\
         instances = [\"i-0123456789abcdef0\"]\nregion = \"{REGION}\"\nendpoint_url = \"{}\"\n",
        moto.url()
    );
    let mut registry = dr_core::Registry::with_builtins();
    dr_aws::register(&mut registry);
    let plan = dr_core::Plan::parse(
        "start.toml",
        &text,
        &registry,
        &dr_core::LoadOptions::with_env(|_| None),
    )
    .unwrap_or_else(|d| panic!("{d}"));
    let findings = dr_core::check::check(&plan).await;
    assert!(!dr_core::check::ready(&findings));
    let pre: Vec<_> = findings
        .iter()
        .filter(|f| f.check == "action_preflight")
        .collect();
    assert_eq!(pre.len(), 1, "{findings:#?}");
    assert_eq!(pre[0].step.as_deref(), Some("start"));
    assert!(!pre[0].ok);
    assert_eq!(pre[0].message, "EC2 has no instance `i-0123456789abcdef0`");
}
