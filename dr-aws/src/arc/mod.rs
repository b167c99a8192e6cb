//! Route 53 Application Recovery Controller (feature `arc`): routing controls as
//! a failover-only router (`aws.arc_routing_control`, with the cluster-endpoint
//! rotation), and the same change as a step (`aws.arc.set_routing_control`).

mod action;
mod config;
mod router;

pub use action::{ARC_SET, ArcSetAction};
pub use config::{ArcConfig, ArcEndpoint};
pub use router::{ARC_PROVIDER, ArcRouter};

use std::sync::Arc;

use aws_config::Region;
use dr_core::Registry;

use crate::client::Aws;

impl Aws {
    /// A Route 53 ARC cluster client for one cluster endpoint and its region.
    pub(crate) async fn arc_cluster(
        &self,
        endpoint: &str,
        region: &str,
    ) -> aws_sdk_route53recoverycluster::Client {
        let sdk = self.sdk().await;
        let conf = aws_sdk_route53recoverycluster::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .region(Region::new(region.to_string()))
            .build();
        aws_sdk_route53recoverycluster::Client::from_conf(conf)
    }
}

/// Registers `aws.arc_routing_control` (router) and `aws.arc.set_routing_control`
/// (action).
pub(crate) fn register(registry: &mut Registry) {
    registry.router(ARC_PROVIDER, |s| Ok(Arc::new(ArcRouter::from_settings(s)?)));
    registry.action(ARC_SET, |s| Ok(Arc::new(ArcSetAction::from_settings(s)?)));
}
