//! Route 53 Application Recovery Controller (feature `arc`): routing controls as
//! a failover-only router (`aws.arc_routing_control`, with the cluster-endpoint
//! rotation), and the same change as a step (`aws.arc.set_routing_control`).

mod action;
mod config;
mod router;

pub use action::{ARC_SET, ArcSetAction};
pub use config::{ArcConfig, ArcEndpoint};
pub use router::{ARC_PROVIDER, ArcRouter};

use aws_config::Region;

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
