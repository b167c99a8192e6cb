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
//! ## Cargo features
//!
//! One feature per service, all on by default; each brings its module and its
//! provider or action names (`default-features = false, features =
//! ["traffic_manager"]` builds Traffic Manager alone). [`register`] registers what
//! is compiled in and tells the registry which feature brings each name compiled
//! out (`Registry::compiled_out`), so a plan naming one is told what to enable.
//!
//! | feature | names | Azure crates |
//! |---|---|---|
//! | `traffic_manager` | `azure.traffic_manager` | `azure_identity`, `azure_core` (credentials) |
//! | `front_door` | `azure.front_door` | `azure_identity`, `azure_core` (credentials) |
//! | `storage_account` | `azure.storage_account` | `azure_identity`, `azure_core` (credentials) |
//! | `postgres_flexible` | `azure.postgres_flexible` | `azure_identity`, `azure_core` (credentials) |
//! | `web_app` | `azure.web_app.set_connection_string` | `azure_identity`, `azure_core` (credentials) |
//! | `blob` | `azure.blob_canary` | `azure_storage_blob`, `azure_identity`, `azure_core` |
//! | `testing` (not default) | `dr_azure::testing`: needs every service feature | |
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
//! implementations it brings, compiled with its feature: `traffic_manager/`
//! (`router.rs`, `probe.rs`), `front_door/` (`router.rs`, `probe.rs`),
//! `storage_account/` (`store.rs`, `replicator.rs`), `postgres_flexible/`
//! (`store.rs`, `replicator.rs`), `web_app/` (`action.rs`) and `blob/`
//! (`replicator.rs`, the one part on the Azure SDK rather than ARM). Shared:
//! `config.rs` (the ARM keys every resource takes), `client.rs` (ARM, with any ARM
//! service; `client/lro.rs`, the long-running operations, and `client/metrics.rs`,
//! the Azure Monitor reader of the Front Door probe and the PostgreSQL lag, each
//! compiled with the services that use them), `credential.rs` (where the token
//! comes from, used by `client.rs`), `error.rs`, `routing.rs` (what the Traffic
//! Manager and Front Door routers and probes share) and `features.rs` (feature ->
//! names, always compiled).
//! `testing` (feature `testing`): a stateful ARM stand-in (on dr-core's recording stand-in) and an
//! Azurite harness.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

#[cfg(feature = "blob")]
mod blob;
#[cfg(any(
    feature = "traffic_manager",
    feature = "front_door",
    feature = "storage_account",
    feature = "postgres_flexible",
    feature = "web_app"
))]
mod client;
mod config;
mod credential;
mod error;
mod features;
#[cfg(feature = "front_door")]
mod front_door;
#[cfg(feature = "postgres_flexible")]
mod postgres_flexible;
#[cfg(any(feature = "traffic_manager", feature = "front_door"))]
mod routing;
#[cfg(feature = "storage_account")]
mod storage_account;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
#[cfg(feature = "traffic_manager")]
mod traffic_manager;
#[cfg(feature = "web_app")]
mod web_app;

use std::sync::Arc;

use dr_core::Registry;

#[cfg(feature = "blob")]
#[cfg_attr(docsrs, doc(cfg(feature = "blob")))]
pub use blob::{BLOB_CANARY, BlobCanaryConfig, BlobCanaryReplicator};
#[cfg(any(
    feature = "traffic_manager",
    feature = "front_door",
    feature = "storage_account",
    feature = "postgres_flexible",
    feature = "web_app"
))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "traffic_manager",
        feature = "front_door",
        feature = "storage_account",
        feature = "postgres_flexible",
        feature = "web_app"
    )))
)]
pub use client::api;
pub use config::{
    ArmConfig, DEFAULT_ARM_ENDPOINT, DEFAULT_OPERATION_TIMEOUT, DEFAULT_POLL_INTERVAL,
    DEFAULT_TIMEOUT,
};
pub use credential::{
    ACCESS_TOKEN_ENV, ARM_SCOPE, DefaultToken, IdentityToken, StaticToken, TokenSource,
};
#[cfg(feature = "front_door")]
#[cfg_attr(docsrs, doc(cfg(feature = "front_door")))]
pub use front_door::{FRONT_DOOR, FrontDoorConfig, FrontDoorProbe, FrontDoorRouter};
#[cfg(feature = "postgres_flexible")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres_flexible")))]
pub use postgres_flexible::{
    POSTGRES_FLEXIBLE, PgFence, PostgresConfig, PostgresReplicator, PostgresStore, PromoteMode,
    PromoteOption,
};
#[cfg(feature = "storage_account")]
#[cfg_attr(docsrs, doc(cfg(feature = "storage_account")))]
pub use storage_account::{
    FailoverType, GEO_SKUS, STORAGE_ACCOUNT, StorageAccountConfig, StorageAccountReplicator,
    StorageAccountStore, is_geo_sku,
};
#[cfg(feature = "traffic_manager")]
#[cfg_attr(docsrs, doc(cfg(feature = "traffic_manager")))]
pub use traffic_manager::{
    RoutingMethod, TRAFFIC_MANAGER, TrafficManagerConfig, TrafficManagerProbe, TrafficManagerRouter,
};
#[cfg(feature = "web_app")]
#[cfg_attr(docsrs, doc(cfg(feature = "web_app")))]
pub use web_app::{
    ConnectionStringAction, ConnectionStringConfig, SET_CONNECTION_STRING, SecretValue,
};

/// The prefix of every provider and action name of this crate, and the provider
/// that errors decided by this crate rather than by ARM name.
pub const PROVIDER: &str = "azure";

/// Registers every `azure.*` provider and action compiled in, with the default
/// credentials ([`DefaultToken`]: `AZURE_ACCESS_TOKEN`, else the `azure_identity`
/// chain, decided at the first ARM call); the names of the services compiled out
/// are marked with the feature that brings them (`Registry::compiled_out`).
pub fn register(registry: &mut Registry) {
    register_with(registry, Arc::new(DefaultToken::new()));
}

/// Registers every `azure.*` provider and action compiled in, taking ARM tokens
/// from `token` (tests pass a [`StaticToken`]; an embedding program its own
/// credential), and marks the names of the services compiled out as [`register`]
/// does.
pub fn register_with(registry: &mut Registry, token: Arc<dyn TokenSource>) {
    features::mark_compiled_out(registry, &features::SERVICES);
    #[cfg(feature = "traffic_manager")]
    traffic_manager::register(registry, token.clone());
    #[cfg(feature = "front_door")]
    front_door::register(registry, token.clone());
    #[cfg(feature = "storage_account")]
    storage_account::register(registry, token.clone());
    #[cfg(feature = "postgres_flexible")]
    postgres_flexible::register(registry, token.clone());
    #[cfg(feature = "web_app")]
    web_app::register(registry, token.clone());
    #[cfg(feature = "blob")]
    blob::register(registry);
    // Each ARM service took its own handle on the token source (none may have).
    drop(token);
}
