//! # dr-core: failover playbooks as plans a program executes
//!
//! A disaster-recovery failover is a handful of operations on very different
//! systems (a DNS or load-balancer split, a database promotion, a cache flush),
//! ordered, gated on health, and measured. `dr-core` models each kind of system
//! as a small trait, and everything that must be the same for all of them
//! (validation, retries, journaling, rollback, audit, reports) is written once,
//! here, around those traits:
//!
//! - [`TrafficRouter`]: who gets how much traffic (`current`, `apply`).
//! - [`Replicator`]: a replication link (`status` with lag, `stop`, `reverse`).
//! - [`DataStore`]: a store with a role (`role`, `promote`, `fence`, `flush`).
//! - [`HealthProbe`]: is a target serving (`probe`).
//! - [`Action`]: anything else, as a named idempotent operation with `verify`.
//!
//! Provider crates (`dr-redis`, `dr-cloudflare`, ...) implement the traits and
//! expose `register(&mut Registry)`. A [`Registry`] maps a plan's
//! `provider = "..."` to a factory; the `plan` module parses and validates a
//! plan against it before anything runs; the `executor` runs it (both behind
//! the `engine` feature).
//!
//! Providers never retry, journal or audit: the executor wraps them in one
//! retry policy, journals before and after every side effect, and checks each
//! operation's effect by reading state back.
//!
//! ## Writing a provider plugin
//!
//! A provider crate's files, settings, errors and tests follow one template, the
//! workspace's `docs/provider-template.md`.
//!
//! A probe, registered under `provider = "always"`, checked by the conformance
//! suite that ships behind the `testing` feature:
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use async_trait::async_trait;
//! use dr_core::{ConfigError, Health, HealthProbe, ProviderError, Registry, Settings};
//!
//! /// Reports the health it was configured with.
//! #[derive(Debug)]
//! pub struct FixedProbe { healthy: bool }
//!
//! #[async_trait]
//! impl HealthProbe for FixedProbe {
//!     async fn probe(&self) -> Result<Health, ProviderError> {
//!         Ok(if self.healthy {
//!             Health::healthy(Duration::ZERO)
//!         } else {
//!             Health::unhealthy("configured down")
//!         })
//!     }
//! }
//!
//! pub fn register(registry: &mut Registry) {
//!     registry.probe("always", |settings: &Settings| {
//!         let healthy = match settings.get("healthy") {
//!             None => true,
//!             Some(v) => v.as_bool().ok_or_else(|| ConfigError::key("healthy", "expected a boolean"))?,
//!         };
//!         Ok(Arc::new(FixedProbe { healthy }))
//!     });
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let mut registry = Registry::with_builtins();
//! register(&mut registry);
//! # #[cfg(feature = "testing")]
//! dr_core::testing::probe_conformance(&FixedProbe { healthy: true }, Duration::from_secs(1)).await;
//! # }
//! ```
//!
//! ## HTTP providers
//!
//! A provider that speaks a REST API builds on `dr_core::http` (feature
//! `http`) rather than on bare `reqwest`: `http::HttpClient` shares the
//! process's connection pool, adds credentials (`http::Auth`), paces requests
//! per credential (`http::RateLimiter`) and maps every answer to a
//! [`ProviderError`] by one table (429 and `Retry-After`, request ids, no URLs
//! in messages). [`poll::until`] waits for long-running operations.
//!
//! ## Cargo features
//!
//! The default features are the plugin SDK and nothing else: the traits,
//! [`ProviderError`], [`Settings`], the [`Registry`], durations, redaction and
//! polling, with no HTTP stack, metrics or file-format crate. A provider crate
//! depends on `dr-core` with `default-features = false` plus what it uses.
//!
//! | feature | brings |
//! |---|---|
//! | `http` | `dr_core::http`, the shared REST client, and the `http` probe |
//! | `engine` | plans, validation, the executor, journal, lock, audit log, reports, drills, `check`, `status`, the `tcp` probe, `notify` steps (implies `http`) |
//! | `sim` | the `sim.*` providers |
//! | `watch` | `dr watch`'s library (implies `engine`) |
//! | `metrics` | the watch's OpenMetrics endpoint (implies `watch`) |
//! | `html` | the self-contained HTML report (implies `engine`) |
//! | `testing` | the conformance suites every provider runs |
//! | `testing-http` | a recording stand-in for REST APIs without an emulator |
//! | `full` | all but the testing ones |
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The plugin SDK (default features): traits, errors, settings, registry,
// durations, redaction and polling.
mod action;
mod duration;
mod error;
pub mod poll;
mod probe;
mod redact;
mod registry;
mod replicator;
mod router;
mod settings;
mod store;
pub mod text;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

// The HTTP layer for REST providers.
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;

// The engine: plans, executor, journal, lock, audit, reports, check, status.
#[cfg(feature = "engine")]
#[cfg_attr(docsrs, doc(cfg(feature = "engine")))]
pub mod audit;
#[cfg(any(feature = "engine", feature = "http"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "engine", feature = "http"))))]
pub mod builtin;
#[cfg(feature = "engine")]
#[cfg_attr(docsrs, doc(cfg(feature = "engine")))]
pub mod check;
#[cfg(feature = "engine")]
mod concurrent;
#[cfg(feature = "engine")]
#[cfg_attr(docsrs, doc(cfg(feature = "engine")))]
pub mod coord;
#[cfg(feature = "engine")]
#[cfg_attr(docsrs, doc(cfg(feature = "engine")))]
pub mod drill;
#[cfg(feature = "engine")]
#[cfg_attr(docsrs, doc(cfg(feature = "engine")))]
pub mod executor;
/// The run journal's format is the executor's own: reports ([`report`]) are
/// its public view. Exposed for tests with feature `testing`.
#[cfg(all(feature = "engine", feature = "testing"))]
pub mod journal;
#[cfg(all(feature = "engine", not(feature = "testing")))]
mod journal;
#[cfg(feature = "engine")]
#[cfg_attr(docsrs, doc(cfg(feature = "engine")))]
pub mod lock;
#[cfg(feature = "engine")]
mod notify;
#[cfg(feature = "engine")]
#[cfg_attr(docsrs, doc(cfg(feature = "engine")))]
pub mod outcome;
#[cfg(feature = "engine")]
#[cfg_attr(docsrs, doc(cfg(feature = "engine")))]
pub mod plan;
#[cfg(feature = "engine")]
#[cfg_attr(docsrs, doc(cfg(feature = "engine")))]
pub mod report;
#[cfg(feature = "html")]
mod report_html;
#[cfg(feature = "engine")]
#[cfg_attr(docsrs, doc(cfg(feature = "engine")))]
pub mod retry;
#[cfg(feature = "engine")]
#[cfg_attr(docsrs, doc(cfg(feature = "engine")))]
pub mod state;
#[cfg(feature = "engine")]
#[cfg_attr(docsrs, doc(cfg(feature = "engine")))]
pub mod status;

#[cfg(feature = "sim")]
#[cfg_attr(docsrs, doc(cfg(feature = "sim")))]
pub mod sim;

#[cfg(feature = "watch")]
#[cfg_attr(docsrs, doc(cfg(feature = "watch")))]
pub mod watch;

pub use action::{Action, Preflight};
pub use duration::{
    MAX_DURATION, format_duration, lag_from_secs, parse_duration, parse_retry_after,
};
pub use error::{ConfigError, ErrorKind, ProviderError};
#[cfg(feature = "engine")]
#[cfg_attr(docsrs, doc(cfg(feature = "engine")))]
pub use notify::{DELIVERY_ID_HEADER, notify_delivery_id};
#[cfg(feature = "engine")]
#[cfg_attr(docsrs, doc(cfg(feature = "engine")))]
pub use plan::{Diagnostic, Diagnostics, LoadOptions, Plan};
pub use probe::{Health, HealthProbe, HealthStatus, is_local_resource_error, local_resource_error};
pub use redact::{REDACTED, Redactor, hide_secret};
pub use registry::{Kind, Registry};
pub use replicator::{ReplicationState, ReplicationStatus, Replicator, ReplicatorCapabilities};
pub use router::{RouterCapabilities, TrafficRouter, TrafficSplit, apportion};
pub use settings::{Settings, check_length};
pub use store::{DataStore, Promotion, Role, RunMode, StoreCapabilities};

/// Re-exported so provider crates use the same version.
pub use async_trait::async_trait;

// The traits must stay object safe: the executor holds them as `Arc<dyn Trait>`.
#[allow(dead_code)]
fn _object_safety(
    _: Box<dyn TrafficRouter>,
    _: Box<dyn Replicator>,
    _: Box<dyn DataStore>,
    _: Box<dyn HealthProbe>,
    _: Box<dyn Action>,
) {
}
