//! # dr-redis: Redis primary/replica failover for `dr` plans
//!
//! Per-region Redis (a primary in one region, a replica in the other) is the cache a
//! failover must promote, fence, flush and measure. This crate is the `provider =
//! "redis"` of a plan, one server per resource, acting as all three kinds at once:
//!
//! - [`RedisStore`] ([`DataStore`](dr_core::DataStore)): role from `INFO
//!   replication`; `promote` makes a writable primary (`FAILOVER` when the old primary
//!   is alive, `REPLICAOF NO ONE` when it is not); `fence` makes the old primary refuse
//!   writes (a replica of the new one, or a `min-replicas-to-write` guard it cannot
//!   meet), and says so when it cannot be reached; `flush` drops the cache.
//! - [`RedisReplicator`] ([`Replicator`](dr_core::Replicator)): the link from `peer`
//!   into `url`: state, lag in bytes (replication offsets) and as a duration; `stop`;
//!   `reverse` (the old primary follows the new one).
//! - [`RedisProbe`] ([`HealthProbe`](dr_core::HealthProbe)): `PING` plus the expected role.
//!
//! ```toml
//! [resources.cache_west]
//! provider = "redis"
//! url = "rediss://10.1.0.7:6380"         # this server (redis:// without TLS)
//! username = "dr"                        # ACL user
//! password = "${env:REDIS_PASSWORD}"
//! ca_file = "/etc/dr/redis-ca.pem"       # private CA (else the system roots)
//! peer = "rediss://10.0.0.7:6380"        # the other region's server
//! expect_role = "replica"                # for the probe
//! ```
//!
//! `cert_file`/`key_file` add a client certificate (mutual TLS); TLS and ACL settings
//! apply to `peer` too. `managed = true` marks a managed cache (Azure Cache for Redis,
//! ElastiCache) whose service forbids `REPLICAOF`, `FAILOVER` and `CONFIG`: only
//! probe, role and flush are offered, so plan validation rejects a promote or fence.
//!
//! Every call connects afresh with the configured `timeout` (a failover restarts
//! servers; a cached connection would point at the past), reads the state it
//! changed back, and maps failures to [`ProviderError`](dr_core::ProviderError)
//! kinds: unreachable is `transient`, a wrong password or a failed TLS handshake
//! `auth`, `READONLY` a `conflict`, a command the service forbids `invalid_request`.
//! Nothing retries here; the executor does.
#![warn(missing_docs)]

mod client;
mod config;
mod error;
mod probe;
mod replicator;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

use dr_core::Registry;

pub use config::{DEFAULT_FAILOVER_TIMEOUT, DEFAULT_TIMEOUT, ExpectRole, PromoteMode, RedisConfig};
pub use probe::RedisProbe;
pub use replicator::RedisReplicator;
pub use store::RedisStore;

/// The provider name of a plan's Redis resources (`provider = "redis"`), also the
/// provider every error of this crate names.
pub const PROVIDER: &str = "redis";

/// Registers `provider = "redis"` ([`PROVIDER`]) as a store, a replicator and a probe.
pub fn register(registry: &mut Registry) {
    registry.store(PROVIDER, |settings| {
        Ok(Arc::new(RedisStore::from_settings(settings)?))
    });
    registry.replicator(PROVIDER, |settings| {
        Ok(Arc::new(RedisReplicator::from_settings(settings)?))
    });
    registry.probe(PROVIDER, |settings| {
        Ok(Arc::new(RedisProbe::from_settings(settings)?))
    });
}
