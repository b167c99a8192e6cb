//! The seed scenarios against the fake Cloudflare: every request asserted, every
//! body checked against the OpenAPI extract, and the resulting traffic computed per
//! region under Cloudflare's steering semantics.

use dr_core::{ErrorKind, HealthStatus, TrafficSplit};
use serde_json::json;

use crate::common::*;

fn split(pairs: &[(&str, u32)]) -> TrafficSplit {
    TrafficSplit::from_pairs(pairs.iter().map(|(t, w)| (*t, *w)))
}

fn lines(reqs: &[Recorded]) -> Vec<String> {
    reqs.iter().map(Recorded::line).collect()
}

const EAST_ALL: &[(&str, f64)] = &[("east", 100.0)];
const WEST_ALL: &[(&str, f64)] = &[("west", 100.0)];
const WNAM_90_10: &[(&str, f64)] = &[("east", 90.0), ("west", 10.0)];

async fn wnam_ten_percent(fake: &FakeCloudflare) {
    let router = fake.lb_router();
    router
        .apply(&split(&[("east", 90), ("west", 10)]), Some("WNAM"))
        .await
        .unwrap();
}

#[tokio::test]
async fn ten_percent_of_wnam_to_the_secondary_leaves_every_other_region_on_the_primary() {
    let fake = FakeCloudflare::start().await;
    fake.assert_traffic(EAST_ALL, &[]);
    let router = fake.lb_router();
    router
        .apply(&split(&[("east", 90), ("west", 10)]), Some("WNAM"))
        .await
        .unwrap();

    let reqs = fake.take_requests();
    assert_eq!(
        lines(&reqs),
        vec![
            format!("GET {}", lb_path()),
            format!("GET {}", pool_path(POOL_EAST)),
            format!("GET {}", pool_path(POOL_WEST)),
            format!("GET {}", pool_path(POOL_WNAM)),
            format!("PATCH {}", pool_path(POOL_WNAM)),
            format!("PATCH {}", lb_path()),
        ]
    );
    assert_eq!(
        reqs[4].body,
        Some(json!({ "origins": [
            { "name": "east.e1", "address": "192.0.2.1", "enabled": true, "weight": 0.45 },
            { "name": "east.e2", "address": "192.0.2.2", "enabled": true, "weight": 0.45 },
            { "name": "west.w1", "address": "198.51.100.1", "enabled": true, "weight": 0.05 },
            { "name": "west.w2", "address": "198.51.100.2", "enabled": true, "weight": 0.05 },
        ]}))
    );
    assert_eq!(
        reqs[5].body,
        Some(json!({
            "steering_policy": "geo",
            "default_pools": [POOL_EAST, POOL_WEST],
            "region_pools": { "WNAM": [POOL_WNAM, POOL_EAST, POOL_WEST] },
        }))
    );

    fake.assert_traffic(EAST_ALL, &[("WNAM", WNAM_90_10)]);
    assert_eq!(
        router.current(Some("WNAM")).await.unwrap(),
        split(&[("east", 90), ("west", 10)])
    );
    assert_eq!(
        router.current(None).await.unwrap(),
        TrafficSplit::all_to("east")
    );

    // Applying it again reads and writes nothing new.
    fake.take_requests();
    router
        .apply(&split(&[("east", 90), ("west", 10)]), Some("WNAM"))
        .await
        .unwrap();
    assert!(fake.take_requests().iter().all(|r| r.method == "GET"));
}

#[tokio::test]
async fn full_failover_east_to_west_after_the_split_moves_wnam_too_and_back() {
    let fake = FakeCloudflare::start().await;
    wnam_ten_percent(&fake).await;
    fake.take_requests();
    let router = fake.lb_router();

    router
        .apply(&TrafficSplit::all_to("west"), None)
        .await
        .unwrap();
    let reqs = fake.take_requests();
    assert_eq!(
        lines(&reqs),
        vec![format!("GET {}", lb_path()), format!("PATCH {}", lb_path())]
    );
    assert_eq!(
        reqs[1].body,
        Some(
            json!({ "steering_policy": "off", "default_pools": [POOL_WEST, POOL_EAST], "region_pools": {} })
        )
    );
    fake.assert_traffic(WEST_ALL, &[]);
    assert_eq!(
        router.current(Some("WNAM")).await.unwrap(),
        TrafficSplit::all_to("west")
    );
    assert_eq!(
        router.current(None).await.unwrap(),
        TrafficSplit::all_to("west")
    );

    fake.take_requests();
    router
        .apply(&TrafficSplit::all_to("east"), None)
        .await
        .unwrap();
    let reqs = fake.take_requests();
    assert_eq!(
        reqs[1].body,
        Some(
            json!({ "steering_policy": "off", "default_pools": [POOL_EAST, POOL_WEST], "region_pools": {} })
        )
    );
    fake.assert_traffic(EAST_ALL, &[]);
    assert_eq!(
        router.current(Some("WNAM")).await.unwrap(),
        TrafficSplit::all_to("east")
    );
}

#[tokio::test]
async fn a_phased_shift_applies_20_40_60_80_100_in_order_over_any_region_pools() {
    let fake = FakeCloudflare::start().await;
    wnam_ten_percent(&fake).await; // region pools exist; the shift must still reach every region
    fake.take_requests();
    let router = fake.lb_router();
    let start = router.current(None).await.unwrap();
    assert_eq!(start, TrafficSplit::all_to("east"));
    for phase in [20u32, 40, 60, 80, 100] {
        let s = start.shifted_towards("west", phase);
        fake.take_requests();
        router.apply(&s, None).await.unwrap();
        let reqs = fake.take_requests();
        assert_eq!(
            lines(&reqs),
            vec![format!("GET {}", lb_path()), format!("PATCH {}", lb_path())]
        );
        let body = reqs[1].body.clone().unwrap();
        if phase < 100 {
            let e = f64::from(100 - phase) / 100.0;
            let w = f64::from(phase) / 100.0;
            assert_eq!(body["steering_policy"], "random");
            assert_eq!(
                body["random_steering"],
                json!({ "default_weight": 0.0, "pool_weights": { POOL_EAST: e, POOL_WEST: w } })
            );
            assert_eq!(body["region_pools"], json!({}));
            let ew = f64::from(100 - phase);
            let ww = f64::from(phase);
            fake.assert_traffic(&[("east", ew), ("west", ww)], &[]);
        } else {
            assert_eq!(body["steering_policy"], "off");
            assert_eq!(body["default_pools"], json!([POOL_WEST, POOL_EAST]));
            fake.assert_traffic(WEST_ALL, &[]);
        }
        assert_eq!(router.current(None).await.unwrap(), s, "phase {phase}");
        assert_eq!(
            router.current(Some("WNAM")).await.unwrap(),
            s,
            "phase {phase} in WNAM"
        );
    }
}

#[tokio::test]
async fn a_scoped_split_is_refused_while_the_rest_is_weighted() {
    let fake = FakeCloudflare::start().await;
    let router = fake.lb_router();
    router
        .apply(&split(&[("east", 60), ("west", 40)]), None)
        .await
        .unwrap();
    fake.take_requests();
    let e = router
        .apply(&split(&[("east", 90), ("west", 10)]), Some("WNAM"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    assert!(fake.take_requests().iter().all(|r| r.method == "GET"));
    let e = router
        .apply(&TrafficSplit::all_to("east"), Some("WEU"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidRequest, "{e}");
}

#[tokio::test]
async fn an_origin_is_disabled_and_re_enabled_without_touching_the_others() {
    let fake = FakeCloudflare::start().await;
    let before = fake.object(&pool_path(POOL_EAST));
    let disable = fake.origin_action("cloudflare.pool.disable_origin", POOL_EAST, "e2");
    assert!(disable.describe().contains("disable origin `e2`"));
    // Declared so, the executor retries it and re-runs it on resume.
    assert!(disable.idempotent() && disable.verifies() && !disable.one_way());
    assert!(!disable.verify().await.unwrap());
    fake.take_requests();

    let out = disable.run().await.unwrap();
    assert_eq!(out["changed"], true);
    let reqs = fake.take_requests();
    assert_eq!(
        lines(&reqs),
        vec![
            format!("GET {}", pool_path(POOL_EAST)),
            format!("PATCH {}", pool_path(POOL_EAST)),
            format!("GET {}", pool_path(POOL_EAST)),
        ]
    );
    assert_eq!(
        reqs[1].body,
        Some(json!({ "origins": [
            { "name": "e1", "address": "192.0.2.1", "enabled": true, "weight": 1 },
            { "name": "e2", "address": "192.0.2.2", "enabled": false, "weight": 1 },
        ]}))
    );
    assert!(disable.verify().await.unwrap());
    // Idempotent: a second run reads and writes nothing.
    fake.take_requests();
    assert_eq!(disable.run().await.unwrap()["changed"], false);
    assert_eq!(
        lines(&fake.take_requests()),
        vec![format!("GET {}", pool_path(POOL_EAST))]
    );

    // Re-enable through the other action, then compensate the disable (a no-op now).
    let enable = fake.origin_action("cloudflare.pool.enable_origin", POOL_EAST, "e2");
    enable.run().await.unwrap();
    let reqs = fake.take_requests();
    assert_eq!(
        reqs[1].body,
        Some(json!({ "origins": [
            { "name": "e1", "address": "192.0.2.1", "enabled": true, "weight": 1 },
            { "name": "e2", "address": "192.0.2.2", "enabled": true, "weight": 1 },
        ]}))
    );
    let mut after = fake.object(&pool_path(POOL_EAST));
    after["modified_on"] = before["modified_on"].clone();
    assert_eq!(after, before);

    disable.run().await.unwrap();
    assert!(disable.compensable());
    disable.compensate().await.unwrap();
    assert_eq!(
        fake.object(&pool_path(POOL_EAST))["origins"],
        before["origins"]
    );

    let missing = fake.origin_action("cloudflare.pool.disable_origin", POOL_EAST, "e9");
    assert_eq!(
        missing.verify().await.unwrap_err().kind(),
        &ErrorKind::NotFound
    );
}

#[tokio::test]
async fn a_429_is_throttled_with_retry_after_and_the_next_call_succeeds() {
    let fake = FakeCloudflare::start().await;
    let router = fake.lb_router();
    fake.queue(
        429,
        failure(
            10000,
            "Rate limited. Please wait and consider throttling your request speed",
        ),
        &[("retry-after", "7")],
    );
    let e = router
        .apply(&TrafficSplit::all_to("west"), None)
        .await
        .unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::Throttled {
            retry_after: Some(std::time::Duration::from_secs(7))
        }
    );
    assert!(e.is_retryable());
    assert!(e.request_id().is_some_and(|r| r.starts_with("fake")), "{e}");
    // The provider did not retry by itself: one request, nothing written.
    assert_eq!(
        lines(&fake.take_requests()),
        vec![format!("GET {}", lb_path())]
    );
    fake.assert_traffic(EAST_ALL, &[]);

    router
        .apply(&TrafficSplit::all_to("west"), None)
        .await
        .unwrap();
    assert_eq!(fake.take_requests().len(), 2);
    fake.assert_traffic(WEST_ALL, &[]);
}

#[tokio::test]
async fn a_4xx_fails_at_once_with_cloudflares_code() {
    let fake = FakeCloudflare::start().await;
    let router = fake.lb_router();
    // The GET passes, the PATCH is refused.
    fake.queue_after(1, 400, failure(1002, "default_pools: pool not found"), &[]);
    let e = router
        .apply(&TrafficSplit::all_to("west"), None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidRequest);
    assert!(!e.is_retryable());
    let msg = e.to_string();
    assert!(
        msg.contains("Cloudflare error 1002: default_pools: pool not found"),
        "{msg}"
    );
    assert!(msg.contains("HTTP 400"), "{msg}");
    assert!(
        msg.contains("cloudflare.load_balancer resource `edge`"),
        "{msg}"
    );
    assert!(msg.contains("request id fake"), "{msg}");
    // Sent once, not retried.
    assert_eq!(
        lines(&fake.take_requests()),
        vec![format!("GET {}", lb_path()), format!("PATCH {}", lb_path())]
    );
    fake.assert_traffic(EAST_ALL, &[]);
}

#[tokio::test]
async fn a_bad_token_is_an_auth_error() {
    let fake = FakeCloudflare::start().await;
    let mut v = fake.lb_settings();
    v["token"] = json!("wrong-token");
    let mut r = dr_core::Registry::new();
    dr_cloudflare::register(&mut r);
    let router = r
        .build_router(&dr_core::Settings::from_json(
            "edge",
            "cloudflare.load_balancer",
            v,
        ))
        .unwrap()
        .unwrap();
    let e = router.current(None).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Auth);
    assert!(e.to_string().contains("10000"), "{e}");
    assert!(!format!("{router:?}").contains("wrong-token"));
}

#[tokio::test]
async fn pool_health_healthy_degraded_unhealthy() {
    let fake = FakeCloudflare::start().await;
    let probe = fake.pool_probe("west");
    let h = probe.probe().await.unwrap();
    assert_eq!(h.status, HealthStatus::Healthy, "{}", h.detail);

    let set = |pops: serde_json::Value| {
        fake.set_object(
            &health_path(POOL_WEST),
            json!({ "pool_id": POOL_WEST, "pop_health": pops }),
        );
    };
    set(
        json!({ "Los Angeles, US": pop(true, true), "Ashburn, US": pop(true, true), "Amsterdam, NL": pop(false, false) }),
    );
    let h = probe.probe().await.unwrap();
    assert_eq!(h.status, HealthStatus::Degraded, "{}", h.detail);
    assert!(
        h.detail.contains("Amsterdam, NL") && h.detail.contains("HTTP 503"),
        "{}",
        h.detail
    );

    set(
        json!({ "Los Angeles, US": pop(true, true), "Ashburn, US": pop(false, false), "Amsterdam, NL": pop(false, false) }),
    );
    let h = probe.probe().await.unwrap();
    assert_eq!(h.status, HealthStatus::Unhealthy, "{}", h.detail);
    assert!(h.detail.contains("1 of 3"), "{}", h.detail);

    let reqs = fake.take_requests();
    assert!(
        reqs.iter()
            .all(|r| r.line() == format!("GET {}", health_path(POOL_WEST)))
    );
    assert_eq!(reqs.len(), 3);
}

#[tokio::test]
async fn the_dns_record_router_swaps_contents_and_record_types() {
    let fake = FakeCloudflare::start().await;
    let router = fake.dns_router();
    assert_eq!(
        router.current(None).await.unwrap(),
        TrafficSplit::all_to("east")
    );
    fake.take_requests();
    router
        .apply(&TrafficSplit::all_to("maintenance"), None)
        .await
        .unwrap();
    let reqs = fake.take_requests();
    assert_eq!(
        lines(&reqs),
        vec![
            format!("GET {}", record_path()),
            format!("PATCH {}", record_path())
        ]
    );
    assert_eq!(
        reqs[1].body,
        Some(
            json!({ "type": "CNAME", "name": "www-sec.example.com", "content": "maint.example.com" })
        )
    );
    assert_eq!(
        router.current(None).await.unwrap(),
        TrafficSplit::all_to("maintenance")
    );
    router
        .apply(&TrafficSplit::all_to("west"), None)
        .await
        .unwrap();
    assert_eq!(fake.object(&record_path())["type"], "A");
    assert_eq!(fake.object(&record_path())["content"], "198.51.100.20");
    let e = router
        .apply(&split(&[("east", 50), ("west", 50)]), None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidRequest);
}

#[test]
fn the_schema_check_catches_bad_bodies() {
    let api = OpenApi::load();
    let lb = lb_path();
    let pool = pool_path(POOL_EAST);
    assert!(
        api.check_request("PATCH", &lb, Some(&json!({"steering_policy": "geo"})))
            .is_ok()
    );
    assert!(
        api.check_request("PATCH", &lb, Some(&json!({"steering_policy": "sideways"})))
            .is_err()
    );
    assert!(
        api.check_request("PATCH", &lb, Some(&json!({"stearing_policy": "geo"})))
            .is_err()
    );
    assert!(
        api.check_request("PATCH", &lb, Some(&json!({"default_pools": "p"})))
            .is_err()
    );
    let o = |w: f64| json!({"origins": [{"name": "a", "address": "192.0.2.1", "weight": w}]});
    assert!(api.check_request("PATCH", &pool, Some(&o(0.07))).is_ok());
    assert!(api.check_request("PATCH", &pool, Some(&o(0.075))).is_err());
    assert!(api.check_request("PATCH", &pool, Some(&o(1.5))).is_err());
    assert!(
        api.check_request("PATCH", &pool, Some(&json!({"origins": [{"nmae": "a"}]})))
            .is_err()
    );
    let rec = record_path();
    assert!(
        api.check_request(
            "PATCH",
            &rec,
            Some(&json!({"type": "A", "name": "x.example.com", "content": "192.0.2.1"}))
        )
        .is_ok()
    );
    assert!(
        api.check_request(
            "PATCH",
            &rec,
            Some(&json!({"type": "A", "name": "x.example.com", "content": "not-an-ip"}))
        )
        .is_err()
    );
    assert!(
        api.check_request("DELETE", "/zones/z/nothing", None)
            .is_err()
    );
    assert!(api.check_response("GET", &lb, 200, &json!({"success": true, "errors": [], "messages": [], "result": {"default_pools": ["a"]}})).is_ok());
    assert!(
        api.check_response("GET", &lb, 200, &json!({"success": true, "result": {}}))
            .is_err()
    );
    assert!(
        api.check_response("GET", &lb, 404, &failure(1002, "x"))
            .is_ok()
    );
    assert!(
        api.check_response(
            "GET",
            &lb,
            404,
            &json!({"success": false, "errors": [{"code": 5}], "messages": [], "result": null})
        )
        .is_err()
    );
}
