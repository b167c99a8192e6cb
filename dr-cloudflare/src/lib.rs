//! # dr-cloudflare: Load Balancer steering, DNS record failover and pool health
//!
//! Cloudflare has no official Rust SDK for these APIs, so this crate speaks API v4
//! over dr-core's shared HTTP layer ([`dr_core::http`]): the process's one
//! connection pool, a bearer token, HTTP 429 mapped to
//! [`ErrorKind::Throttled`](dr_core::ErrorKind) with the server's `Retry-After` (by
//! the one status table every provider shares), `cf-ray` as the request id, and a
//! client-side token bucket per API token (shared by every resource in the process
//! using that token) that keeps a run under Cloudflare's 1,200 requests per
//! 5 minutes, whose penalty is a 5-minute lockout. This crate adds the envelope
//! decoding and keeps Cloudflare's error codes in the message (`client`). It never
//! retries: the dr-core executor does, honouring `retry_after`.
//!
//! ## Why the load-balancer router writes what it writes
//!
//! Cloudflare's steering decides which *pool* serves a request, then origin weights
//! divide the pool's traffic:
//! - `off`: the first healthy pool of `default_pools`;
//! - `random`: a pool of `default_pools` with probability proportional to
//!   `random_steering.pool_weights` (`default_weight` for unlisted pools);
//!   region pools are ignored;
//! - `geo`: a region listed in `region_pools` is served by its first healthy pool
//!   there, every other region by `default_pools` in failover order.
//!
//! So [`CloudflareLbRouter`] writes:
//! - **all traffic to one target** (`scope` unset): `steering_policy = "off"`,
//!   `default_pools` with that target's pool first (the others follow, as failover),
//!   and removes its own regions from `region_pools`. Region pools are ignored under
//!   `off`, so *every* region, including one that had a scoped split, goes to the target;
//! - **a weighted split of all traffic** (a phased 20/40/60/80/100 shift):
//!   `steering_policy = "random"`, `random_steering = { default_weight = 0,
//!   pool_weights = { pool = weight / 100 } }`, `default_pools` ordered by weight.
//!   Random steering ignores region pools, so this holds whatever region pools exist;
//! - **a split of one region** (`scope = "WNAM"`): `steering_policy = "geo"`,
//!   `default_pools` with the current (single) target first, so every other region
//!   keeps it, and `region_pools.WNAM = [scoped pool, default pools...]`. The
//!   region's scoped pool is first filled with the enabled origins of every target
//!   in the split, renamed `TARGET.ORIGIN`, each target's share spread over its
//!   origins in hundredths (Cloudflare's weight step), so `{east = 90, west = 10}`
//!   gives east's origins 0.90 in total and west's 0.10. A region split to a single
//!   other target lists that target's pool instead; a region split equal to the
//!   rest of the traffic removes the region's entry.
//!
//! [`TrafficRouter::current`](dr_core::TrafficRouter::current) reads the same fields
//! back and reports the effective split for the scope asked, so `dr plan` shows what
//! Cloudflare really does. The crate README has the full table.
//!
//! ## Files
//!
//! Those of every `dr` provider crate (see the workspace's
//! `docs/provider-template.md`): `config.rs` (settings of each resource and action),
//! `client.rs` (API v4 over [`dr_core::http`]), `error.rs` (the envelope's errors;
//! every error the crate decides itself is made there and names [`PROVIDER`]), one
//! file per trait (`router.rs`, `probe.rs`, `action.rs`), and `steering.rs`: the pure
//! translation between a [`TrafficSplit`](dr_core::TrafficSplit) and the load
//! balancer's steering fields, which `router.rs` uses. It does no I/O and is tested
//! on its own, and with it `router.rs` holds only the calls.
#![warn(missing_docs)]

mod action;
mod client;
mod config;
mod error;
mod probe;
mod router;
mod steering;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

use dr_core::Registry;

pub use action::{DISABLE_ORIGIN, ENABLE_ORIGIN, PoolOriginAction};
pub use config::{
    ApiConfig, ApiToken, DEFAULT_API_BASE, DEFAULT_TIMEOUT, DnsRecordConfig, LoadBalancerConfig,
    PoolOriginConfig, REGIONS, TOKEN_ENV,
};
pub use probe::CloudflarePoolProbe;
pub use router::{CloudflareDnsRouter, CloudflareLbRouter, DNS_PROVIDER, LB_PROVIDER};

/// The prefix of every provider and action name of this crate
/// ([`LB_PROVIDER`], [`DNS_PROVIDER`], [`DISABLE_ORIGIN`], [`ENABLE_ORIGIN`]), and the
/// provider that errors decided by this crate rather than by the API name (the
/// API's answers name the full provider, `cloudflare.load_balancer`).
pub const PROVIDER: &str = "cloudflare";

/// Registers `cloudflare.load_balancer` (router and probe), `cloudflare.dns_record`
/// (router) and the actions `cloudflare.pool.disable_origin` /
/// `cloudflare.pool.enable_origin`.
pub fn register(registry: &mut Registry) {
    registry.router(LB_PROVIDER, |s| {
        Ok(Arc::new(CloudflareLbRouter::from_settings(s)?))
    });
    registry.probe(LB_PROVIDER, |s| {
        Ok(Arc::new(CloudflarePoolProbe::from_settings(s)?))
    });
    registry.router(DNS_PROVIDER, |s| {
        Ok(Arc::new(CloudflareDnsRouter::from_settings(s)?))
    });
    registry.action(DISABLE_ORIGIN, |s| {
        Ok(Arc::new(PoolOriginAction::from_settings(s, false)?))
    });
    registry.action(ENABLE_ORIGIN, |s| {
        Ok(Arc::new(PoolOriginAction::from_settings(s, true)?))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use dr_core::Kind;

    #[test]
    fn every_name_starts_with_the_provider_prefix() {
        for name in [LB_PROVIDER, DNS_PROVIDER, DISABLE_ORIGIN, ENABLE_ORIGIN] {
            assert!(name.starts_with(&format!("{PROVIDER}.")), "{name}");
        }
        let mut registry = Registry::new();
        register(&mut registry);
        assert_eq!(registry.kinds(LB_PROVIDER), [Kind::Router, Kind::Probe]);
        assert_eq!(registry.kinds(DNS_PROVIDER), [Kind::Router]);
        assert!(registry.has_action(DISABLE_ORIGIN) && registry.has_action(ENABLE_ORIGIN));
    }
}
