//! Route 53 (feature `route53`): record sets of one name as a traffic router
//! (`aws.route53`), and a health check's status as a probe
//! (`aws.route53_health_check`).

mod config;
mod probe;
mod router;

pub use config::{HealthCheckConfig, Route53Config};
pub use probe::{HEALTH_CHECK_PROVIDER, Route53HealthCheckProbe};
pub use router::{ROUTE53_PROVIDER, Route53Router};

use std::sync::Arc;

use dr_core::Registry;

use crate::client::Aws;

impl Aws {
    /// The Route 53 client.
    pub(crate) async fn route53(&self) -> aws_sdk_route53::Client {
        aws_sdk_route53::Client::new(self.sdk().await)
    }
}

/// Registers `aws.route53` (router) and `aws.route53_health_check` (probe).
pub(crate) fn register(registry: &mut Registry) {
    registry.router(ROUTE53_PROVIDER, |s| {
        Ok(Arc::new(Route53Router::from_settings(s)?))
    });
    registry.probe(HEALTH_CHECK_PROVIDER, |s| {
        Ok(Arc::new(Route53HealthCheckProbe::from_settings(s)?))
    });
}
