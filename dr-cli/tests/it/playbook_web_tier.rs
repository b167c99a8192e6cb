//! Seed 000, `examples/plans/web-tier-cloudflare/`: the web tier East -> West in
//! Cloudflare (www-sec first, a 10 % West US canary, then everything) and back,
//! through `dr drill`, against the Cloudflare API fake and real Redis servers.

use dr_cloudflare::testing::{
    ACCOUNT, FakeCloudflare, LB, POOL_EAST, POOL_WEST, POOL_WNAM, RECORD, ZONE, record_path,
};
use dr_redis::testing::{RedisServer, Reply};

use crate::playbook::{Drill, Retarget, assert_met, example, fast, healthz, webhook};

const REDIS_PASSWORD: &str = "cache-secret-7f3a";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_tier_fails_over_east_to_west_and_back_through_dr_drill() {
    let cf = FakeCloudflare::start().await;
    let cache_east = RedisServer::start_with_password(REDIS_PASSWORD).await;
    let cache_west = RedisServer::start_with_password(REDIS_PASSWORD).await;
    for (cache, who) in [(&cache_east, "east"), (&cache_west, "west")] {
        assert_eq!(
            cache.set("session:stale", who).await,
            Reply::Simple("OK".into())
        );
    }
    // Both regions' web tiers answer their health checks; the webhook takes the
    // notifications.
    let web = healthz().await;
    let hook = webhook(2).await;

    let retarget = Retarget::new()
        .replace("699d98642c564d2e855e9661899b7252", LB)
        .replace("17b5962d775c646f3f9725cbc7a53df4", POOL_EAST)
        .replace("9290f38c5d07c2e2f4df57b1f61d4196", POOL_WEST)
        .replace("de90f38ced07c2e2f4df50b1f61d4194", POOL_WNAM)
        .replace("372e67954025e0ba6aaa6d586b9e0b59", RECORD)
        .replace("https://west.web.example.com", web.uri())
        .replace("https://east.web.example.com", web.uri())
        .replace("rediss://cache-west.web.example.com:6380", cache_west.url())
        .replace("rediss://cache-east.web.example.com:6380", cache_east.url())
        .add_setting("cloudflare.", format!("api_base = \"{}\"", cf.api_base()));
    let plans = retarget.apply_all(&[
        &example("web-tier-cloudflare/failover.toml"),
        &example("web-tier-cloudflare/failback.toml"),
    ]);
    let drill = Drill::new(&fast(&plans[0]), &fast(&plans[1]))
        .env("CF_ACCOUNT_ID", ACCOUNT)
        .env("CF_ZONE_ID", ZONE)
        .env("CLOUDFLARE_API_TOKEN", cf.token.clone())
        .env("REDIS_WEST_PASSWORD", REDIS_PASSWORD)
        .env("REDIS_EAST_PASSWORD", REDIS_PASSWORD)
        .env("DR_NOTIFY_WEBHOOK", format!("{}/hook", hook.uri()));
    drill.validate();

    // The start: everyone on East, www-sec on East's address.
    cf.assert_traffic(&[("east", 100.0)], &[]);
    assert_eq!(cf.object(&record_path())["content"], "203.0.113.10");

    let (out, report) = drill.run(&["--approve", "go", "--approve", "go-back"]);
    assert_met(&out, &report, false);
    assert_eq!(report["failover"]["plan"], "web-tier-east-to-west");
    assert_eq!(report["failback"]["plan"], "web-tier-west-to-east");

    // The failover went through every step the playbook names, in order.
    let requests: Vec<String> = cf.take_requests().iter().map(|r| r.line()).collect();
    let first = |what: &str| {
        requests
            .iter()
            .position(|r| r.contains(what))
            .unwrap_or_else(|| panic!("no request to {what}: {requests:#?}"))
    };
    assert!(
        first("dns_records") < first("load_balancers/pools"),
        "www-sec goes first"
    );

    // The end equals the start: every region on East, www-sec on East; and both
    // caches were rebuilt (the stale sessions are gone).
    cf.assert_traffic(&[("east", 100.0)], &[]);
    assert_eq!(cf.object(&record_path())["content"], "203.0.113.10");
    assert_eq!(cache_west.get("session:stale").await, None);
    assert_eq!(cache_east.get("session:stale").await, None);
    // Two notifications (the mock's `expect(2)` is checked when it drops), and
    // no secret in what dr printed or kept.
    let seen = drill.seen(&out);
    assert!(seen.contains("canary-wnam"));
    for secret in [REDIS_PASSWORD, cf.token.as_str()] {
        assert!(!seen.contains(secret), "a secret leaked");
    }
}
