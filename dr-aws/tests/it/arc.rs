//! ARC routing controls: a safety-rule refusal naming the rule, the override
//! sent, endpoint rotation, throttling.

use crate::common::*;
use dr_aws::testing::FakeAws;
use dr_core::{ErrorKind, TrafficSplit};
use serde_json::json;

#[tokio::test]
async fn a_safety_rule_refusal_names_the_rule_and_an_override_is_sent() {
    let fake = FakeAws::start().await;
    arc_fake(&fake);
    let rule =
        "arn:aws:route53-recovery-control::123456789012:controlpanel/p/safetyrule/keep-two-on";
    fake.state().min_on_rules.push((rule.into(), 2));

    let r = router(&arc_settings(&[fake.url()], json!({})));
    let e = r
        .apply(&TrafficSplit::all_to("west"), None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    assert!(e.to_string().contains(rule), "the rule is named: {e}");
    assert_eq!(e.request_id(), Some("fake-request-ConflictException"));
    assert_eq!(
        fake.state().controls["arn:aws:rc/east"],
        "On",
        "nothing changed"
    );

    let r = router(&arc_settings(
        &[fake.url()],
        json!({"override_safety_rules": [rule]}),
    ));
    r.apply(&TrafficSplit::all_to("west"), None).await.unwrap();
    assert_eq!(fake.state().controls["arn:aws:rc/west"], "On");
    assert_eq!(fake.state().controls["arn:aws:rc/east"], "Off");
    let updates: Vec<_> = fake
        .requests_with_params()
        .await
        .into_iter()
        .filter(|(op, _)| op == "UpdateRoutingControlStates")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(updates.len(), 2, "one call per apply: {updates:?}");
    assert_eq!(
        updates[1],
        json!({
            "UpdateRoutingControlStateEntries": [
                {"RoutingControlArn": "arn:aws:rc/east", "RoutingControlState": "Off"},
                {"RoutingControlArn": "arn:aws:rc/west", "RoutingControlState": "On"},
            ],
            "SafetyRulesToOverride": [rule],
        })
    );
}

#[tokio::test]
async fn an_unavailable_cluster_endpoint_moves_on_to_the_next() {
    let down = FakeAws::start().await;
    let up = FakeAws::start().await;
    arc_fake(&up);
    for _ in 0..3 {
        down.fail_next(
            "GetRoutingControlState",
            503,
            "EndpointTemporarilyUnavailableException",
            "try another endpoint",
        );
    }
    down.fail_next(
        "UpdateRoutingControlStates",
        503,
        "EndpointTemporarilyUnavailableException",
        "try another endpoint",
    );
    let r = router(&arc_settings(&[down.url(), up.url()], json!({})));
    r.apply(&TrafficSplit::all_to("west"), None).await.unwrap();
    assert_eq!(up.state().controls["arn:aws:rc/west"], "On");
    assert_eq!(
        down.calls().await,
        [
            "GetRoutingControlState",
            "UpdateRoutingControlStates",
            "GetRoutingControlState"
        ]
    );
    assert!(
        up.calls()
            .await
            .contains(&"UpdateRoutingControlStates".to_string())
    );
}

#[tokio::test]
async fn arc_throttling_is_retryable_and_changes_nothing() {
    let fake = FakeAws::start().await;
    arc_fake(&fake);
    fake.fail_next(
        "UpdateRoutingControlStates",
        429,
        "ThrottlingException",
        "slow down",
    );
    let r = router(&arc_settings(&[fake.url()], json!({})));
    let e = r
        .apply(&TrafficSplit::all_to("west"), None)
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Throttled { .. }), "{e}");
    assert!(e.is_retryable());
    assert_eq!(fake.state().controls["arn:aws:rc/east"], "On");
    let e = r
        .apply(
            &TrafficSplit::from_pairs([("east", 50), ("west", 50)]),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidRequest, "failover-only: {e}");
}
