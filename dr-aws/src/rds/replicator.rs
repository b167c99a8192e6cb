//! `aws.rds` as a replicator: the link into an RDS read replica, observe only.

use std::time::Duration;

use dr_core::{
    ConfigError, ProviderError, ReplicationState, ReplicationStatus, Replicator,
    ReplicatorCapabilities, Settings, async_trait,
};

use super::config::RdsConfig;
use super::store::describe;
use crate::client::Aws;
use crate::cloudwatch::metric::newest_maximum;
use crate::config::AwsCommon;
use crate::error::invalid;

/// How far back `status()` looks for a `ReplicaLag` datapoint.
const LAG_WINDOW: Duration = Duration::from_secs(10 * 60);

/// The replication link into an RDS read replica: how far it is behind.
///
/// State from `DescribeDBInstances` `StatusInfos` (`read replication`:
/// `replicating` -> replicating, `stopped` -> paused, `error`/`terminated` ->
/// broken, none listed -> unknown); an instance that is no replica has no link
/// (broken). Lag = CloudWatch `AWS/RDS` `ReplicaLag` (`DBInstanceIdentifier`),
/// the newest `Maximum` of the last 10 minutes, in seconds.
///
/// Observe only: RDS has no API that pauses or reverses an instance's replication
/// (`PromoteReadReplica`, the store's promote, ends it for good; re-protecting
/// means creating a new replica, which a plan does with its own tooling).
#[derive(Debug)]
pub struct RdsReplicator {
    cfg: RdsConfig,
    aws: Aws,
}

impl RdsReplicator {
    /// The link into `cfg.instance`.
    pub fn new(cfg: RdsConfig, common: AwsCommon) -> Self {
        RdsReplicator {
            cfg,
            aws: Aws::new(common),
        }
    }

    /// Builds the replicator from a resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        Ok(Self::new(
            RdsConfig::from_settings(settings)?,
            AwsCommon::from_settings(settings)?,
        ))
    }

    async fn lag(&self) -> Result<Option<Duration>, ProviderError> {
        let newest = newest_maximum(
            &self.aws,
            "AWS/RDS",
            "ReplicaLag",
            ("DBInstanceIdentifier", &self.cfg.instance),
            LAG_WINDOW,
        )
        .await?;
        Ok(newest.and_then(dr_core::lag_from_secs))
    }
}

/// The link state `StatusInfos` gives.
fn rds_state(i: &aws_sdk_rds::types::DbInstance) -> ReplicationState {
    if i.read_replica_source_db_instance_identifier().is_none() {
        return ReplicationState::Broken;
    }
    let info = i
        .status_infos()
        .iter()
        .find(|s| s.status_type() == Some("read replication"));
    match info.and_then(|s| s.status()) {
        Some("replicating") => ReplicationState::Replicating,
        Some("stopped") => ReplicationState::Paused,
        Some("error") | Some("terminated") => ReplicationState::Broken,
        _ => ReplicationState::Unknown,
    }
}

#[async_trait]
impl Replicator for RdsReplicator {
    fn capabilities(&self) -> ReplicatorCapabilities {
        ReplicatorCapabilities::observe_only()
    }

    async fn status(&self) -> Result<ReplicationStatus, ProviderError> {
        let i = describe(&self.aws, &self.cfg.instance).await?;
        let state = rds_state(&i);
        let lag = if i.read_replica_source_db_instance_identifier().is_some() {
            self.lag().await?
        } else {
            None
        };
        Ok(ReplicationStatus::new(state, lag))
    }

    async fn stop(&self) -> Result<(), ProviderError> {
        Err(invalid(
            "RDS has no API to pause an instance's replication; promote the replica instead",
        ))
    }

    async fn reverse(&self) -> Result<(), ProviderError> {
        Err(invalid(
            "RDS cannot reverse an instance's replication; create a new read replica instead",
        ))
    }
}
