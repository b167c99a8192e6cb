//! TLS-only redis-servers (`--port 0 --tls-port`, certificates made per run,
//! `--tls-replication yes`), an ACL user with its own password, and managed caches
//! (`REPLICAOF`, `FAILOVER`, `CONFIG` disabled): the conformance suites, failover and
//! failback, and the errors a wrong CA, a wrong password or a missing client
//! certificate give.

use dr_core::{ErrorKind, HealthStatus, LoadOptions, Plan, ProviderError, Registry, Role};
use dr_redis::testing::{RedisServer, TlsFiles, TlsOptions};
use serde_json::{Value, json};

use crate::common::{self, probe, replicator, settings, store};

/// The `default` user's password (the harness's client uses it).
const ADMIN_PW: &str = "admin-pw-0c4e91";
/// The ACL user the provider authenticates as, and its password.
const USER: &str = "dr";
const USER_PW: &str = "dr-pw-5b7d22";

fn options() -> TlsOptions {
    TlsOptions {
        password: Some(ADMIN_PW.into()),
        user: Some((USER.into(), USER_PW.into())),
        ..TlsOptions::default()
    }
}

/// A TLS primary and a TLS replica in sync with it (replicating as the ACL user).
async fn tls_pair(files: &TlsFiles) -> (RedisServer, RedisServer) {
    let primary = RedisServer::start_tls(files, &options()).await;
    let replica = RedisServer::start_tls(files, &options()).await;
    replica.replicate_from(&primary).await;
    (primary, replica)
}

/// Settings for `server` (and `peer`) as the ACL user, trusting the test CA, plus `extra`.
fn tls_settings(
    name: &str,
    files: &TlsFiles,
    server: &RedisServer,
    peer: Option<&RedisServer>,
    extra: Value,
) -> dr_core::Settings {
    let mut v = json!({
        "url": server.url(),
        "username": USER,
        "password": USER_PW,
        "ca_file": files.ca(),
        "timeout": "2s",
    });
    if let Some(peer) = peer {
        v["peer"] = json!(peer.url());
    }
    for (k, x) in extra.as_object().into_iter().flatten() {
        v[k] = x.clone();
    }
    settings(name, v)
}

/// No secret in what an error shows (message, `Display`, `Debug`).
fn assert_no_secret(e: &ProviderError) {
    let shown = format!("{e} {e:?} {}", e.message());
    for secret in [ADMIN_PW, USER_PW, "PRIVATE KEY"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[tokio::test]
async fn a_tls_replica_passes_the_store_conformance_suite_as_an_acl_user() {
    let files = TlsFiles::generate();
    let (primary, replica) = tls_pair(&files).await;
    assert!(replica.url().starts_with("rediss://"));
    let s = store(&tls_settings(
        "cache",
        &files,
        &replica,
        Some(&primary),
        json!({}),
    ));
    assert_eq!(
        s.role().await.unwrap(),
        Role::Replica {
            of: Some(format!("127.0.0.1:{}", primary.port()))
        }
    );
    dr_core::testing::store_conformance(s.as_ref()).await;
    // The planned switchover ran over TLS: the old primary follows, over TLS.
    assert_eq!(primary.info_field("role").await.as_deref(), Some("slave"));
    assert_eq!(
        primary.info_field("master_port").await,
        Some(replica.port().to_string())
    );
}

#[tokio::test]
async fn a_tls_link_passes_the_replicator_and_probe_conformance_suites() {
    let files = TlsFiles::generate();
    let (primary, replica) = tls_pair(&files).await;
    let link = tls_settings(
        "link",
        &files,
        &replica,
        Some(&primary),
        json!({"expect_role": "replica"}),
    );
    let p = probe(&link);
    assert_eq!(p.probe().await.unwrap().status, HealthStatus::Healthy);
    dr_core::testing::probe_conformance(p.as_ref(), std::time::Duration::from_secs(2)).await;
    let r = replicator(&link);
    common::wait_caught_up(r.as_ref()).await;
    dr_core::testing::replicator_conformance(r.as_ref()).await;
    assert_eq!(replica.info_field("role").await.as_deref(), Some("master"));
}

#[tokio::test]
async fn tls_failover_and_failback_with_an_acl_user() {
    let files = TlsFiles::generate();
    let (east, west) = tls_pair(&files).await;
    let link = replicator(&tls_settings("link", &files, &west, Some(&east), json!({})));
    // Unplanned (REPLICAOF NO ONE) promotion, so the fence has work to do.
    let cache_west = store(&tls_settings(
        "cache_west",
        &files,
        &west,
        Some(&east),
        json!({"promote": "force"}),
    ));
    let cache_east = store(&tls_settings(
        "cache_east",
        &files,
        &east,
        Some(&west),
        json!({}),
    ));
    common::set_ok(&east, "before", "1").await;
    west.wait_for_key("before", "1").await;

    // The plan's lag check, then promote west and fence east.
    let status = common::wait_caught_up(link.as_ref()).await;
    assert_eq!(status.lag_bytes, Some(0));
    cache_west.promote().await.unwrap();
    assert_eq!(cache_west.role().await.unwrap(), Role::Primary);
    cache_east.fence().await.unwrap();
    assert!(!cache_east.writable().await.unwrap());
    assert!(common::write_refused_with(&east, "READONLY").await);
    // East follows west over TLS, authenticated as the ACL user.
    common::set_ok(&west, "after-failover", "1").await;
    east.wait_for_key("after-failover", "1").await;

    // Failback: a planned switchover to east, then west is fenced.
    let back = replicator(&tls_settings("back", &files, &east, Some(&west), json!({})));
    common::wait_caught_up(back.as_ref()).await;
    cache_east.promote().await.unwrap();
    assert_eq!(cache_east.role().await.unwrap(), Role::Primary);
    assert!(cache_east.writable().await.unwrap());
    cache_west.fence().await.unwrap();
    assert!(!cache_west.writable().await.unwrap());
    common::set_ok(&east, "after-failback", "1").await;
    west.wait_for_key("after-failback", "1").await;
    assert_eq!(east.get("before").await.as_deref(), Some("1"));
}

#[tokio::test]
async fn a_wrong_ca_is_a_clear_tls_error_that_is_not_retried() {
    let files = TlsFiles::generate();
    let server = RedisServer::start_tls(&files, &options()).await;
    let cfg = tls_settings(
        "cache",
        &files,
        &server,
        None,
        json!({"ca_file": files.other_ca()}),
    );
    let e = store(&cfg).role().await.unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Auth | ErrorKind::InvalidRequest),
        "{e}"
    );
    assert!(!e.is_retryable(), "{e}");
    assert!(e.message().contains("certificate"), "{e}");
    assert!(e.message().contains("ca_file"), "says which setting: {e}");
    assert_no_secret(&e);
    // The probe cannot decide either: an error, not "unhealthy" to wait out.
    let p = probe(&cfg).probe().await;
    assert!(p.is_err(), "{p:?}");

    // A missing file names the setting and the path.
    let missing = tls_settings(
        "cache",
        &files,
        &server,
        None,
        json!({"ca_file": "/nonexistent/ca.pem"}),
    );
    let e = store(&missing).role().await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidRequest, "{e}");
    assert!(e.message().contains("/nonexistent/ca.pem"), "{e}");
}

#[tokio::test]
async fn a_wrong_password_is_an_auth_error_that_shows_no_password() {
    let files = TlsFiles::generate();
    let server = RedisServer::start_tls(&files, &options()).await;
    for wrong in [
        json!({"password": "not-the-pw-93a1"}),
        // The ACL user's password as the default user's: the username matters.
        json!({"username": null}),
    ] {
        let cfg = tls_settings("cache", &files, &server, None, wrong.clone());
        let e = store(&cfg).role().await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Auth, "{wrong}: {e}");
        assert!(!e.is_retryable());
        assert_no_secret(&e);
        assert!(!format!("{e:?}").contains("not-the-pw-93a1"), "{e:?}");
        assert!(probe(&cfg).probe().await.is_err());
    }
}

#[tokio::test]
async fn mutual_tls_needs_the_client_certificate() {
    let files = TlsFiles::generate();
    let server = RedisServer::start_tls(
        &files,
        &TlsOptions {
            require_client_cert: true,
            ..options()
        },
    )
    .await;
    let with_cert = tls_settings(
        "cache",
        &files,
        &server,
        None,
        json!({"cert_file": files.client_cert(), "key_file": files.client_key(), "expect_role": "primary"}),
    );
    assert_eq!(store(&with_cert).role().await.unwrap(), Role::Primary);
    assert_eq!(
        probe(&with_cert).probe().await.unwrap().status,
        HealthStatus::Healthy
    );

    let without = tls_settings("cache", &files, &server, None, json!({}));
    let e = store(&without).role().await.unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Auth | ErrorKind::InvalidRequest),
        "{e}"
    );
    assert!(!e.is_retryable(), "{e}");
    assert_no_secret(&e);
}

/// A plain-text server that behaves like a managed cache: the service disabled
/// `REPLICAOF`, `FAILOVER` and `CONFIG`.
async fn managed_like() -> RedisServer {
    RedisServer::start_with_args(&[
        "--rename-command",
        "REPLICAOF",
        "",
        "--rename-command",
        "FAILOVER",
        "",
        "--rename-command",
        "CONFIG",
        "",
    ])
    .await
}

#[tokio::test]
async fn a_command_a_managed_cache_forbids_fails_at_once_naming_it() {
    let server = managed_like().await;
    let s = store(&settings("cache", json!({"url": server.url()})));
    // Fencing a primary without a peer needs CONFIG SET min-replicas-to-write.
    let e = s.fence().await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidRequest, "{e}");
    assert!(!e.is_retryable());
    for said in ["forbids CONFIG", "managed = true", "geo-replication"] {
        assert!(e.message().contains(said), "{said} in {e}");
    }
    let old_primary = managed_like().await;
    let r = replicator(&settings(
        "link",
        json!({"url": server.url(), "peer": old_primary.url()}),
    ));
    let e = r.reverse().await.unwrap_err();
    assert!(e.message().contains("forbids REPLICAOF"), "{e}");
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn managed_true_offers_probe_role_and_flush_only() {
    let server = managed_like().await;
    let cfg = settings(
        "cache",
        json!({"url": server.url(), "managed": true, "expect_role": "primary"}),
    );
    let s = store(&cfg);
    let caps = s.capabilities();
    assert!(!caps.promote && !caps.fence && caps.flush, "{caps:?}");
    let rc = replicator(&cfg).capabilities();
    assert!(!rc.stop && !rc.reverse, "{rc:?}");
    assert_eq!(s.role().await.unwrap(), Role::Primary);
    assert!(s.writable().await.unwrap());
    common::set_ok(&server, "k", "v").await;
    s.flush().await.unwrap();
    assert!(!common::exists(&server, "k").await);
    assert_eq!(
        probe(&cfg).probe().await.unwrap().status,
        HealthStatus::Healthy
    );
    // Called anyway, promote and fence fail at once without touching the server.
    for e in [s.promote().await.unwrap_err(), s.fence().await.unwrap_err()] {
        assert_eq!(e.kind(), &ErrorKind::InvalidRequest, "{e}");
        assert!(e.message().contains("managed"), "{e}");
    }
}

const MANAGED_PLAN: &str = r#"
[plan]
name = "managed-redis"

[resources.cache_west]
provider = "redis"
url = "rediss://cache-west.redis.cache.windows.net:6380"
password = "${env:REDIS_PASSWORD}"
managed = true

[[steps]]
id = "flush"
action = "datastore.flush"
store = "cache_west"
"#;

fn registry() -> Registry {
    let mut r = Registry::new();
    dr_redis::register(&mut r);
    r
}

#[test]
fn a_plan_that_promotes_or_fences_a_managed_cache_is_rejected_before_it_runs() {
    let opts = || LoadOptions::with_env(|_| None).allow_unset_env();
    Plan::parse("managed.toml", MANAGED_PLAN, &registry(), &opts())
        .unwrap_or_else(|d| panic!("flushing a managed cache is fine:\n{d}"));
    for action in ["datastore.promote", "datastore.fence"] {
        let text = MANAGED_PLAN.replace("datastore.flush", action);
        let d = Plan::parse("managed.toml", &text, &registry(), &opts()).unwrap_err();
        let shown = d.to_string();
        assert!(
            shown.contains("cache_west") && shown.contains("cannot"),
            "{action}: {shown}"
        );
    }
}
