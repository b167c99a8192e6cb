//! The dr-core conformance suites, and the error contract, against real redis-server.

use std::time::Duration;

use dr_core::{ErrorKind, HealthStatus, ReplicationState, Role};
use dr_redis::testing::{RedisServer, Reply, pair};
use serde_json::json;

use crate::common::{self, pair_settings, probe, replicator, set_ok, settings, store};

#[tokio::test]
async fn a_replica_passes_the_store_conformance_suite() {
    let (primary, replica) = pair().await;
    let s = store(&pair_settings("cache", &replica, &primary));
    assert_eq!(
        s.role().await.unwrap(),
        Role::Replica {
            of: Some(format!("127.0.0.1:{}", primary.port()))
        }
    );
    assert!(!s.writable().await.unwrap());
    dr_core::testing::store_conformance(s.as_ref()).await;
    // The primary was alive, so promote was a planned switchover: it follows now.
    assert_eq!(primary.info_field("role").await.as_deref(), Some("slave"));
    assert_eq!(
        primary.info_field("master_port").await,
        Some(replica.port().to_string())
    );
    // Fenced at the end: writes are refused by the server itself.
    assert!(
        common::write_refused_with(&replica, "NOREPLICAS").await
            || common::write_refused_with(&replica, "READONLY").await
    );
}

#[tokio::test]
async fn a_standalone_server_passes_the_store_conformance_suite_without_a_peer() {
    let server = RedisServer::start().await;
    let s = store(&settings("cache", json!({"url": server.url()})));
    dr_core::testing::store_conformance(s.as_ref()).await;
    assert!(common::write_refused_with(&server, "NOREPLICAS").await);
    // promote lifts the fence it set.
    s.promote().await.unwrap();
    let r = server.set("k", "v").await;
    assert!(r.is_ok(), "writes are accepted again after promote: {r:?}");
}

#[tokio::test]
async fn a_live_link_passes_the_replicator_conformance_suite() {
    let (primary, replica) = pair().await;
    let r = replicator(&pair_settings("link", &replica, &primary));
    let status = common::wait_caught_up(r.as_ref()).await;
    assert_eq!(status.state, ReplicationState::Replicating);
    assert_eq!(status.lag, Some(Duration::ZERO));
    dr_core::testing::replicator_conformance(r.as_ref()).await;
    assert_eq!(r.status().await.unwrap().state, ReplicationState::Paused);
    assert_eq!(replica.info_field("role").await.as_deref(), Some("master"));
}

#[tokio::test]
async fn a_failed_over_link_passes_the_reverse_conformance_suite() {
    let (primary, replica) = pair().await;
    set_ok(&primary, "before", "1").await;
    replica.wait_in_sync_with(&primary).await;
    // Unplanned failover: the replica stops following and takes writes.
    let r = replicator(&pair_settings("link", &replica, &primary));
    r.stop().await.unwrap();
    set_ok(&replica, "after", "2").await;

    dr_core::testing::replicator_reverse_conformance(r.as_ref()).await;

    assert_eq!(
        primary.info_field("master_port").await,
        Some(replica.port().to_string())
    );
    primary.wait_in_sync_with(&replica).await;
    assert_eq!(
        primary.get("after").await.as_deref(),
        Some("2"),
        "the old primary follows the new"
    );
    let status = common::wait_caught_up(r.as_ref()).await;
    assert_eq!(status.state, ReplicationState::Replicating, "{status:?}");
    let e = r.stop().await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
}

#[tokio::test]
async fn probes_pass_the_probe_conformance_suite_up_and_down() {
    let (primary, replica) = pair().await;
    let timeout = Duration::from_secs(2);
    for (server, role) in [(&primary, "primary"), (&replica, "replica")] {
        let p = probe(&settings(
            "ping",
            json!({"url": server.url(), "expect_role": role, "timeout": "2s"}),
        ));
        dr_core::testing::probe_conformance(p.as_ref(), timeout).await;
        let h = p.probe().await.unwrap();
        assert_eq!(h.status, HealthStatus::Healthy, "{h:?}");
    }

    // The wrong role is unhealthy.
    let p = probe(&settings(
        "ping",
        json!({"url": replica.url(), "expect_role": "primary", "timeout": "2s"}),
    ));
    let h = p.probe().await.unwrap();
    assert_eq!(h.status, HealthStatus::Unhealthy, "{h:?}");
    assert!(h.detail.contains("expected a primary"), "{h:?}");

    // A dead server is unhealthy, within the timeout.
    let mut dead = RedisServer::start().await;
    let p = probe(&settings(
        "ping",
        json!({"url": dead.url(), "timeout": "2s"}),
    ));
    dead.kill();
    dr_core::testing::probe_conformance(p.as_ref(), timeout).await;
    let h = p.probe().await.unwrap();
    assert_eq!(h.status, HealthStatus::Unhealthy, "{h:?}");
    assert!(h.detail.contains("could not be reached"), "{h:?}");
}

#[tokio::test]
async fn a_replica_with_its_primary_gone_is_a_degraded_replica_and_a_broken_link() {
    let (mut primary, replica) = pair().await;
    primary.kill();
    let p = probe(&settings(
        "ping",
        json!({"url": replica.url(), "expect_role": "replica"}),
    ));
    let r = replicator(&pair_settings("link", &replica, &primary));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        let status = r.status().await.unwrap();
        if status.state != ReplicationState::Replicating {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the link never went down"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.state, ReplicationState::Broken);
    assert!(
        status.lag.is_some(),
        "a down link reports the time since it went down"
    );
    assert_eq!(status.lag_bytes, None, "the primary's offset is unknown");
    let h = p.probe().await.unwrap();
    assert_eq!(h.status, HealthStatus::Degraded, "{h:?}");
}

#[tokio::test]
async fn passwords_authenticate_and_a_wrong_one_is_an_auth_error() {
    let server = RedisServer::start_with_password("s3cret-pw").await;
    let good = settings(
        "cache",
        json!({"url": server.url(), "password": "s3cret-pw", "expect_role": "primary"}),
    );
    assert_eq!(store(&good).role().await.unwrap(), Role::Primary);
    assert!(probe(&good).probe().await.unwrap().is_healthy());

    let bad = settings(
        "cache",
        json!({"url": server.url(), "password": "wrong", "expect_role": "primary"}),
    );
    let e = store(&bad).role().await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Auth, "{e}");
    assert!(!e.is_retryable());
    assert_eq!(
        e.provider(),
        Some(dr_redis::PROVIDER),
        "named when used directly"
    );
    // The resource and the operation are the core's to add (the executor's retry
    // wrapper, `dr status`, `dr plan`: tested in dr-core), as for every provider;
    // dr-redis does not set them.
    assert_eq!((e.resource(), e.operation()), (None, None), "{e}");
    assert!(
        !e.to_string().contains("wrong"),
        "no password in messages: {e}"
    );
    let e = probe(&bad).probe().await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Auth, "{e}");

    let none = settings("cache", json!({"url": server.url()}));
    let e = store(&none).role().await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Auth, "no password: {e}");

    // A password in the URL works too.
    let in_url = settings(
        "cache",
        json!({"url": format!("redis://:s3cret-pw@127.0.0.1:{}", server.port())}),
    );
    assert_eq!(store(&in_url).role().await.unwrap(), Role::Primary);
    assert!(!format!("{:?}", store(&in_url)).contains("s3cret"));
}

#[tokio::test]
async fn an_unreachable_server_cannot_be_fenced_and_says_so() {
    let mut server = RedisServer::start().await;
    let s = store(&settings(
        "old",
        json!({"url": server.url(), "timeout": "1s"}),
    ));
    server.kill();
    let e = s.fence().await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Transient, "{e}");
    assert!(e.is_retryable());
    assert!(e.message().contains("could not be reached"), "{e}");
    assert_eq!(e.provider(), Some(dr_redis::PROVIDER), "{e}");
    let e = s.role().await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
}

#[tokio::test]
async fn a_replica_refuses_to_flush() {
    let (primary, replica) = pair().await;
    let e = store(&pair_settings("c", &replica, &primary))
        .flush()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    set_ok(&primary, "k", "v").await;
    store(&pair_settings("c", &primary, &replica))
        .flush()
        .await
        .unwrap();
    assert_eq!(primary.cmd(&["DBSIZE"]).await.unwrap(), Reply::Int(0));
}
