//! RDS and Aurora global (feature `rds`): a DB instance as a store and the link
//! into a read replica as a replicator (`aws.rds`; its lag is CloudWatch
//! `ReplicaLag`, read by [`crate::cloudwatch::metric`], which this feature
//! compiles in), and a member of an Aurora global database as a store
//! (`aws.aurora_global`).

mod aurora;
mod config;
mod replicator;
mod store;

pub use aurora::{AURORA_PROVIDER, AuroraGlobalStore};
pub use config::{AuroraConfig, AuroraMode, RdsConfig};
pub use replicator::RdsReplicator;
pub use store::{RDS_PROVIDER, RdsStore};

use crate::client::Aws;

impl Aws {
    /// The RDS client.
    pub(crate) async fn rds(&self) -> aws_sdk_rds::Client {
        aws_sdk_rds::Client::new(self.sdk().await)
    }
}
