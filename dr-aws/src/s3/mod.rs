//! S3 (feature `s3`): bucket replication rules as a replicator
//! (`aws.s3_replication`: stop disables them, reverse installs the mirror rule).

mod config;
mod replicator;

pub use config::S3ReplicationConfig;
pub use replicator::{S3_REPLICATION_PROVIDER, S3Replicator};

use std::sync::Arc;

use aws_config::Region;
use dr_core::Registry;

use crate::client::Aws;

impl Aws {
    /// An S3 client for `region` (else the resource's), path-style when the
    /// endpoint is overridden (a local endpoint has no bucket subdomains).
    pub(crate) async fn s3(&self, region: Option<&str>) -> aws_sdk_s3::Client {
        let sdk = self.sdk().await;
        let mut b = aws_sdk_s3::config::Builder::from(sdk);
        if let Some(r) = region {
            b = b.region(Region::new(r.to_string()));
        }
        if sdk.endpoint_url().is_some() {
            b = b.force_path_style(true);
        }
        aws_sdk_s3::Client::from_conf(b.build())
    }
}

/// Registers `aws.s3_replication` (replicator).
pub(crate) fn register(registry: &mut Registry) {
    registry.replicator(S3_REPLICATION_PROVIDER, |s| {
        Ok(Arc::new(S3Replicator::from_settings(s)?))
    });
}
