//! The dr-core conformance suites against the wiremock-backed fake Cloudflare.

use std::time::Duration;

use crate::common::FakeCloudflare;

#[tokio::test]
async fn load_balancer_router_passes_router_conformance() {
    let fake = FakeCloudflare::start().await;
    let router = fake.lb_router();
    dr_core::testing::router_conformance(router.as_ref()).await;
}

#[tokio::test]
async fn load_balancer_router_passes_scope_conformance_for_wnam() {
    let fake = FakeCloudflare::start().await;
    let router = fake.lb_router();
    dr_core::testing::router_scope_conformance(router.as_ref(), "WNAM").await;
}

#[tokio::test]
async fn dns_record_router_passes_router_conformance() {
    let fake = FakeCloudflare::start().await;
    let router = fake.dns_router();
    dr_core::testing::router_conformance(router.as_ref()).await;
}

#[tokio::test]
async fn pool_probe_passes_probe_conformance() {
    let fake = FakeCloudflare::start().await;
    let probe = fake.pool_probe("west");
    // The configured per-call timeout (the `timeout` setting's default).
    dr_core::testing::probe_conformance(probe.as_ref(), Duration::from_secs(10)).await;
}
