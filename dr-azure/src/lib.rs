//! # dr-azure: Traffic Manager, Front Door, storage account failover, PostgreSQL flexible server, web-app connection strings, Blob canary
//!
//! No maintained Rust crate covers Azure Resource Manager, so this crate speaks
//! ARM's REST API over dr-core's shared HTTP layer ([`dr_core::http`]): the
//! process's one connection pool, a bearer token from a [`TokenSource`]
//! (`AZURE_ACCESS_TOKEN`, else the official `azure_identity` 1.x credentials), the
//! one status table (429 is `throttled` with ARM's `Retry-After`), `x-ms-request-id`
//! as the request id, and ARM's `{"error":{"code","message"}}` in messages.
//! `client.rs` adds what is ARM's own: `api-version` per resource type and
//! long-running operations (`Azure-AsyncOperation` first, else `Location`, polled
//! with [`dr_core::poll::until`] honouring `Retry-After`, until the resource's
//! `operation_timeout`). Blob storage goes through the official
//! `azure_storage_blob` crate. Nothing here retries: the dr-core executor does.
//!
//! ## How Azure maps onto the traits
//!
//! - **Traffic Manager** (`azure.traffic_manager`, router and probe): targets are
//!   endpoints. A weighted profile gets `Enabled` + weight `10 × percent` per
//!   target with traffic and `Disabled` for the others; a priority profile is
//!   failover-only. The probe reads `endpointMonitorStatus`.
//! - **Front Door** (`azure.front_door`, router and probe): targets are origins of
//!   one origin group, `enabledState` and `weight` as above; origin PATCHes are
//!   long-running operations. The probe reads the `OriginHealthPercentage` metric.
//! - **Storage account** (`azure.storage_account`, store and replicator): promote
//!   is an account failover; the replicator is the account's geo-replication (lag
//!   from `lastSyncTime`), reversed by setting a geo-redundant SKU again.
//! - **PostgreSQL flexible server** (`azure.postgres_flexible`, store and
//!   replicator): promote a read replica, fence by stopping the server, lag from
//!   `physical_replication_delay_in_seconds`, reverse by creating a replica of the
//!   new primary.
//! - **Web app** (`azure.web_app.set_connection_string`, action): read-modify-write
//!   of the app's connection strings; the value is a secret.
//! - **Blob canary** (`azure.blob_canary`, replicator): a timestamp written to the
//!   primary and read from the RA-GRS secondary.
//!
//! Every mutating call reads the state first, changes only what differs and reads
//! it back. The crate README has the TOML of every resource, the exact calls and
//! the RBAC permissions.
//!
//! ## Files
//!
//! One module per Azure service, each with its `config.rs` and the trait
//! implementations it brings: `traffic_manager/` (`router.rs`, `probe.rs`),
//! `front_door/` (`router.rs`, `probe.rs`), `storage_account/` (`store.rs`,
//! `replicator.rs`), `postgres_flexible/` (`store.rs`, `replicator.rs`), `web_app/`
//! (`action.rs`) and `blob/` (`replicator.rs`, the one part on the Azure SDK rather
//! than ARM). Shared: `config.rs` (the ARM keys every resource takes), `client.rs`
//! (ARM), `credential.rs` (where the token comes from, used by `client.rs`),
//! `error.rs`, `routing.rs` (what the Traffic Manager and Front Door routers and
//! probes share) and `metrics.rs` (the Azure Monitor reader of the Front Door probe
//! and the PostgreSQL lag). `testing` (feature `testing`): a stateful ARM stand-in
//! on wiremock and an Azurite harness.
#![warn(missing_docs)]

mod blob;
mod client;
mod config;
mod credential;
mod error;
mod front_door;
mod metrics;
mod postgres_flexible;
mod routing;
mod storage_account;
#[cfg(feature = "testing")]
pub mod testing;
mod traffic_manager;
mod web_app;

use std::sync::Arc;

use dr_core::Registry;

pub use blob::{BLOB_CANARY, BlobCanaryConfig, BlobCanaryReplicator};
pub use client::api;
pub use config::{
    ArmConfig, DEFAULT_ARM_ENDPOINT, DEFAULT_OPERATION_TIMEOUT, DEFAULT_POLL_INTERVAL,
    DEFAULT_TIMEOUT,
};
pub use credential::{
    ACCESS_TOKEN_ENV, ARM_SCOPE, DefaultToken, IdentityToken, StaticToken, TokenSource,
};
pub use front_door::{FRONT_DOOR, FrontDoorConfig, FrontDoorProbe, FrontDoorRouter};
pub use postgres_flexible::{
    POSTGRES_FLEXIBLE, PostgresConfig, PostgresReplicator, PostgresStore, PromoteMode,
    PromoteOption,
};
pub use storage_account::{
    FailoverType, STORAGE_ACCOUNT, StorageAccountConfig, StorageAccountReplicator,
    StorageAccountStore,
};
pub use traffic_manager::{
    RoutingMethod, TRAFFIC_MANAGER, TrafficManagerConfig, TrafficManagerProbe, TrafficManagerRouter,
};
pub use web_app::{
    ConnectionStringAction, ConnectionStringConfig, SET_CONNECTION_STRING, SecretValue,
};

/// The prefix of every provider and action name of this crate, and the provider
/// that errors decided by this crate rather than by ARM name.
pub const PROVIDER: &str = "azure";

/// Registers every `azure.*` provider and action with the default credentials
/// ([`DefaultToken`]: `AZURE_ACCESS_TOKEN`, else the `azure_identity` chain,
/// decided at the first ARM call).
pub fn register(registry: &mut Registry) {
    register_with(registry, Arc::new(DefaultToken::new()));
}

/// Registers every `azure.*` provider and action, taking ARM tokens from `token`
/// (tests pass a [`StaticToken`]; an embedding program its own credential).
pub fn register_with(registry: &mut Registry, token: Arc<dyn TokenSource>) {
    traffic_manager::register(registry, token.clone());
    front_door::register(registry, token.clone());
    storage_account::register(registry, token.clone());
    postgres_flexible::register(registry, token.clone());
    web_app::register(registry, token);
    blob::register(registry);
}

#[cfg(test)]
mod tests {
    use super::*;
    use dr_core::Kind;

    #[test]
    fn every_name_starts_with_the_provider_prefix_and_is_registered() {
        let mut registry = Registry::new();
        register_with(&mut registry, Arc::new(StaticToken::new("t")));
        for (name, kinds) in [
            (TRAFFIC_MANAGER, vec![Kind::Router, Kind::Probe]),
            (FRONT_DOOR, vec![Kind::Router, Kind::Probe]),
            (STORAGE_ACCOUNT, vec![Kind::Store, Kind::Replicator]),
            (POSTGRES_FLEXIBLE, vec![Kind::Store, Kind::Replicator]),
            (BLOB_CANARY, vec![Kind::Replicator]),
        ] {
            assert!(name.starts_with(&format!("{PROVIDER}.")), "{name}");
            assert_eq!(registry.kinds(name), kinds, "{name}");
        }
        assert!(SET_CONNECTION_STRING.starts_with("azure."));
        assert!(registry.has_action(SET_CONNECTION_STRING));
    }
}
