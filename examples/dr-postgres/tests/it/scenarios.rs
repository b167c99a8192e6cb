//! Failover stories against real servers: what the fence stops and what it does
//! not, no acknowledged write lost, lag when behind or blind, errors.

use std::time::Duration;

use dr_core::{ErrorKind, ReplicationState, Role};
use dr_postgres::testing::{PgServer, SUPERUSER_PASSWORD, pair};
use serde_json::json;

use crate::common;

async fn insert_as(client: &tokio_postgres::Client, id: i64) -> Result<u64, tokio_postgres::Error> {
    client
        .execute("INSERT INTO orders (id, note) VALUES ($1, 'x')", &[&id])
        .await
}

fn sqlstate(e: &tokio_postgres::Error) -> Option<&str> {
    e.code().map(|c| c.code())
}

#[tokio::test]
async fn the_fence_refuses_writes_from_new_and_existing_ordinary_sessions_and_promote_lifts_it() {
    let primary = PgServer::start_primary().await;
    common::app_schema(&primary).await;
    let store = common::store(&primary, json!({ "fence_roles": ["app"] }));
    let app = primary.connect("app", "app-pw").await.unwrap();
    insert_as(&app, 1).await.unwrap();
    let admin = primary.client().await;
    assert!(store.writable().await.unwrap());

    store.fence().await.unwrap();

    // The existing application session is gone (its next statement fails) ...
    let err = insert_as(&app, 2).await.unwrap_err();
    assert!(app.is_closed() || sqlstate(&err) == Some("57P01"), "{err}");
    // ... and the application cannot open another one.
    let err = primary.connect("app", "app-pw").await.unwrap_err();
    assert_eq!(sqlstate(&err), Some("28000"), "{err}");
    // A new superuser session is read-only by default,
    let fresh = primary.client().await;
    let err = insert_as(&fresh, 3).await.unwrap_err();
    assert_eq!(sqlstate(&err), Some("25006"), "{err}");
    // and so is the superuser session that was open before the fence.
    let err = insert_as(&admin, 4).await.unwrap_err();
    assert_eq!(sqlstate(&err), Some("25006"), "{err}");
    // What the fence does not stop, as documented: a superuser asking for a
    // read-write transaction on purpose.
    fresh
        .batch_execute("BEGIN READ WRITE; INSERT INTO orders VALUES (5, 'on purpose'); COMMIT")
        .await
        .unwrap();
    assert!(!store.writable().await.unwrap());
    store.fence().await.unwrap();
    assert!(!store.writable().await.unwrap());

    // Promoting a fenced primary lifts the fence.
    store.promote().await.unwrap();
    assert!(store.writable().await.unwrap());
    let app = primary.connect("app", "app-pw").await.unwrap();
    insert_as(&app, 6).await.unwrap();
}

#[tokio::test]
async fn fence_stop_promote_keeps_every_acknowledged_write() {
    let (primary, standby) = pair().await;
    common::app_schema(&primary).await;
    let app = primary.connect("app", "app-pw").await.unwrap();
    for id in 0..500 {
        insert_as(&app, id).await.unwrap();
    }
    let old = common::store(&primary, json!({ "fence_roles": ["app"] }));
    let new = common::store(&standby, json!({ "fence_roles": ["app"] }));
    let link = common::replicator(&standby, &primary);

    assert_eq!(
        new.role().await.unwrap(),
        Role::Replica {
            of: Some(format!("127.0.0.1:{}", primary.port()))
        }
    );
    old.fence().await.unwrap();
    // The RPO gate's question: is everything acknowledged on the standby?
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = link.status().await.unwrap();
        if status.lag_bytes == Some(0) {
            assert_eq!(status.lag, Some(Duration::ZERO));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "standby never caught up: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    link.stop().await.unwrap();
    assert_eq!(link.status().await.unwrap().state, ReplicationState::Paused);
    new.promote().await.unwrap();
    assert_eq!(new.role().await.unwrap(), Role::Primary);
    assert_eq!(link.status().await.unwrap().state, ReplicationState::Broken);

    // Every write acknowledged before the fence is on the new primary, which
    // takes the application's writes (the fence's NOLOGIN had replicated to it
    // and promote lifted it); the old primary refuses them.
    let app_new = standby.connect("app", "app-pw").await.unwrap();
    let count: i64 = app_new
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 500);
    insert_as(&app_new, 1000).await.unwrap();
    assert!(primary.connect("app", "app-pw").await.is_err());
}

#[tokio::test]
async fn a_stopped_link_reports_how_far_behind_it_is() {
    let (primary, standby) = pair().await;
    common::app_schema(&primary).await;
    standby.wait_streaming(&primary).await;
    let link = common::replicator(&standby, &primary);
    let status = link.status().await.unwrap();
    assert_eq!(status.state, ReplicationState::Replicating);
    assert_eq!(status.lag_bytes, Some(0));
    assert_eq!(status.lag, Some(Duration::ZERO));

    link.stop().await.unwrap();
    primary
        .exec("INSERT INTO orders SELECT g, repeat('x', 100) FROM generate_series(1, 2000) g")
        .await;
    let status = link.status().await.unwrap();
    assert_eq!(status.state, ReplicationState::Paused);
    assert!(status.lag_bytes.unwrap() > 100_000, "{status:?}");
    assert!(status.lag.unwrap() > Duration::ZERO, "{status:?}");
}

#[tokio::test]
async fn with_the_primary_down_the_lag_is_unknown_and_the_standby_still_promotes() {
    let (mut primary, standby) = pair().await;
    let link = common::replicator(&standby, &primary);
    let store = common::store(&standby, json!({}));
    primary.kill();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        let status = link.status().await.unwrap();
        if status.state != ReplicationState::Replicating {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still streaming from a dead primary"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.state, ReplicationState::Broken);
    assert_eq!(status.lag, None);
    assert_eq!(status.lag_bytes, None);
    store.promote().await.unwrap();
    assert!(store.writable().await.unwrap());
}

#[tokio::test]
async fn the_probe_sees_a_fenced_primary_and_a_standby_that_does_not_stream() {
    let (primary, standby) = pair().await;
    let expect_primary = common::probe(&primary, json!({ "expect_role": "primary" }));
    let expect_replica = common::probe(&standby, json!({ "expect_role": "replica" }));
    assert!(expect_primary.probe().await.unwrap().is_healthy());
    common::replicator(&standby, &primary).stop().await.unwrap();
    let health = expect_replica.probe().await.unwrap();
    assert_eq!(health.status, dr_core::HealthStatus::Degraded, "{health:?}");
    common::store(&primary, json!({})).fence().await.unwrap();
    let health = expect_primary.probe().await.unwrap();
    assert_eq!(
        health.status,
        dr_core::HealthStatus::Unhealthy,
        "{health:?}"
    );
    assert!(health.detail.contains("fenced"), "{health:?}");
}

#[tokio::test]
async fn errors_name_the_provider_the_server_and_the_sqlstate() {
    let primary = PgServer::start_primary().await;
    let wrong = common::store(&primary, json!({ "password": "not-the-password" }));
    let err = wrong.role().await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Auth, "{err}");
    assert_eq!(err.provider(), Some("postgres"));
    assert!(
        err.message()
            .contains(&format!("127.0.0.1:{}", primary.port())),
        "{err}"
    );
    assert!(err.message().contains("28P01"), "{err}");
    assert!(!err.to_string().contains(SUPERUSER_PASSWORD));

    let dead_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let gone = common::registry()
        .build_store(&dr_core::Settings::from_json(
            "db",
            "postgres",
            json!({ "url": format!("postgres://postgres@127.0.0.1:{dead_port}/postgres") }),
        ))
        .unwrap()
        .unwrap();
    let err = gone.role().await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Transient, "{err}");
    assert!(err.is_retryable());

    let link = common::replicator(&primary, &primary);
    let err = link.reverse().await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidRequest, "{err}");
    assert!(!link.capabilities().reverse);
}

#[tokio::test]
async fn a_replicator_without_a_peer_is_a_settings_error() {
    let err = common::registry()
        .build_replicator(&dr_core::Settings::from_json(
            "link",
            "postgres",
            json!({ "url": "postgres://dr@127.0.0.1:5432/postgres" }),
        ))
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains("peer"), "{err}");
}

#[tokio::test]
async fn a_stop_right_after_a_burst_of_writes_waits_for_the_standby_and_loses_none() {
    let (primary, standby) = pair().await;
    common::app_schema(&primary).await;
    standby.wait_streaming(&primary).await;
    let link = common::replicator(&standby, &primary);
    let new = common::store(&standby, json!({}));
    // Acknowledged on the primary, and not yet replayed on the standby when the
    // stop begins (a 2 MB burst takes the standby a moment to apply).
    primary
        .exec("INSERT INTO orders SELECT g, repeat('x', 200) FROM generate_series(1, 50000) g")
        .await;
    link.stop().await.unwrap();
    new.promote().await.unwrap();
    let rows: i64 = standby
        .client()
        .await
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 50_000);
}

/// With `peer` set, a graceful run's promote waits for the standby to replay
/// what the primary wrote, and refuses (changing nothing) when the primary
/// does not answer; an ungraceful run's promotes at once.
#[tokio::test]
async fn a_graceful_promote_needs_the_primary_and_an_ungraceful_one_does_not() {
    use dr_core::{Promotion, RunMode};
    let (primary, standby) = pair().await;
    common::app_schema(&primary).await;
    let client = primary.client().await;
    for id in 0..200 {
        insert_as(&client, id).await.unwrap();
    }
    let store = common::store(&standby, json!({ "peer": primary.url() }));
    assert!(store.capabilities().modes);
    store
        .promote_with(Promotion::new(RunMode::Graceful))
        .await
        .unwrap();
    assert!(store.writable().await.unwrap());
    let rows: i64 = standby
        .client()
        .await
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 200, "the graceful promote waited for every write");

    let (mut primary, standby) = pair().await;
    let store = common::store(&standby, json!({ "peer": primary.url() }));
    primary.kill();
    let e = store
        .promote_with(Promotion::new(RunMode::Graceful))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    assert!(e.message().contains("--ungraceful"), "{e}");
    assert!(matches!(store.role().await.unwrap(), Role::Replica { .. }));
    store
        .promote_with(Promotion::new(RunMode::Ungraceful))
        .await
        .unwrap();
    assert_eq!(store.role().await.unwrap(), Role::Primary);
    assert!(store.writable().await.unwrap());
}
