//! RDS and Aurora global (feature `rds`): a DB instance as a store and the link
//! into a read replica as a replicator (`aws.rds`; its lag is CloudWatch
//! `ReplicaLag`, read by `cloudwatch/metric.rs`, which this feature compiles
//! in), and a member of an Aurora global database as a store
//! (`aws.aurora_global`).

mod aurora;
mod config;
mod replicator;
mod store;

pub use aurora::{AURORA_PROVIDER, AuroraGlobalStore};
pub use config::{AuroraConfig, AuroraMode, RdsConfig};
pub use replicator::RdsReplicator;
pub use store::{RDS_PROVIDER, RdsStore};

use std::sync::Arc;

use dr_core::Registry;

use crate::client::Aws;

impl Aws {
    /// The RDS client.
    pub(crate) async fn rds(&self) -> aws_sdk_rds::Client {
        aws_sdk_rds::Client::new(self.sdk().await)
    }
}

/// Registers `aws.rds` (store and replicator) and `aws.aurora_global` (store).
pub(crate) fn register(registry: &mut Registry) {
    registry.store(RDS_PROVIDER, |s| Ok(Arc::new(RdsStore::from_settings(s)?)));
    registry.replicator(RDS_PROVIDER, |s| {
        Ok(Arc::new(RdsReplicator::from_settings(s)?))
    });
    registry.store(AURORA_PROVIDER, |s| {
        Ok(Arc::new(AuroraGlobalStore::from_settings(s)?))
    });
}
