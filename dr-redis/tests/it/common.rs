//! What the dr-redis tests share beyond [`dr_redis::testing`] (the redis-server
//! harness): the provider's objects as the registry builds them, and checks on them.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use dr_core::{DataStore, HealthProbe, Registry, Replicator, Settings};
use dr_redis::testing::{READY, RedisServer};
use serde_json::{Value, json};

/// Settings for a `provider = "redis"` resource.
pub fn settings(name: &str, values: Value) -> Settings {
    Settings::from_json(name, "redis", values)
}

/// Settings for `server` with `peer` as its peer.
pub fn pair_settings(name: &str, server: &RedisServer, peer: &RedisServer) -> Settings {
    settings(
        name,
        json!({"url": server.url(), "peer": peer.url(), "timeout": "2s"}),
    )
}

fn registry() -> Registry {
    let mut r = Registry::new();
    dr_redis::register(&mut r);
    r
}

/// The store the registry builds from `settings`.
pub fn store(settings: &Settings) -> Arc<dyn DataStore> {
    registry()
        .build_store(settings)
        .expect("redis is registered as a store")
        .expect("valid settings")
}

/// The replicator the registry builds from `settings`.
pub fn replicator(settings: &Settings) -> Arc<dyn Replicator> {
    registry()
        .build_replicator(settings)
        .expect("redis is registered as a replicator")
        .expect("valid settings")
}

/// The probe the registry builds from `settings`.
pub fn probe(settings: &Settings) -> Arc<dyn HealthProbe> {
    registry()
        .build_probe(settings)
        .expect("redis is registered as a probe")
        .expect("valid settings")
}

/// Whether a `SET` on `server` is refused with `code` (`READONLY`, `NOREPLICAS`).
pub async fn write_refused_with(server: &RedisServer, code: &str) -> bool {
    server.set("__probe", "1").await.error_code() == Some(code)
}

/// `SET key value` on `server`, which must accept it.
pub async fn set_ok(server: &RedisServer, key: &str, value: &str) {
    let r = server.set(key, value).await;
    assert!(r.is_ok(), "SET {key} on {}: {r:?}", server.port());
}

/// Whether `key` exists on `server`.
pub async fn exists(server: &RedisServer, key: &str) -> bool {
    let r = server.cmd(&["EXISTS", key]).await.expect("EXISTS");
    r.int().unwrap_or_else(|| panic!("EXISTS {key}: {r:?}")) == 1
}

/// Polls `status()` until the link reports zero bytes of lag (the primary pings its
/// replicas now and then, so a single read may catch a ping in flight).
pub async fn wait_caught_up(r: &dyn Replicator) -> dr_core::ReplicationStatus {
    let deadline = Instant::now() + READY;
    loop {
        let status = r.status().await.expect("status()");
        if status.state == dr_core::ReplicationState::Replicating && status.lag_bytes == Some(0) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the link never caught up: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
