//! `aws.rds` as a store: role from `DescribeDBInstances`, promote a read replica,
//! fence by stopping the instance.

use aws_sdk_rds::types::DbInstance;
use dr_core::poll::{self, CancellationToken, Poll};
use dr_core::{
    ConfigError, DataStore, ProviderError, Role, Settings, StoreCapabilities, async_trait,
};
use tokio::time::Instant;

use super::config::RdsConfig;
use crate::client::Aws;
use crate::config::AwsCommon;
use crate::error::{from_poll, from_sdk, invalid, not_found};

/// The provider name of RDS instances (store and replicator).
pub const RDS_PROVIDER: &str = crate::names::RDS;

/// Statuses in which an instance refuses writes (or anything else).
const STOPPED: &[&str] = &["stopped", "stopping", "deleting", "failed"];

/// One RDS DB instance (`DBInstanceIdentifier`).
///
/// - `role()`: `ReadReplicaSourceDBInstanceIdentifier` set -> replica of it;
///   otherwise primary (dr-core's promote step requires `Primary` after a
///   promotion, and a promoted replica has no replicas of its own).
/// - `promote()`: nothing when it is no replica; else `PromoteReadReplica`
///   (skipped when the instance is already `modifying`, i.e. a promotion is under
///   way), then `DescribeDBInstances` until `available` and no longer a replica.
///   The same in a graceful and an ungraceful run: `PromoteReadReplica` is the
///   only promotion RDS offers, and it never waits for the source (a graceful
///   plan stops writes and checks `ReplicaLag` with an RPO gate first).
/// - `fence()`: `StopDBInstance` (writes are refused from `stopping` on); a
///   stopped or stopping instance, or a replica, is left as it is. AWS refuses to
///   stop an instance that still has read replicas or is Multi-AZ SQL Server:
///   that is a `conflict` error naming AWS's reason.
/// - `flush()`: not offered (a database, not a cache).
#[derive(Debug)]
pub struct RdsStore {
    cfg: RdsConfig,
    aws: Aws,
}

/// `DescribeDBInstances` of one instance.
pub(super) async fn describe(aws: &Aws, instance: &str) -> Result<DbInstance, ProviderError> {
    let out = aws
        .rds()
        .await
        .describe_db_instances()
        .db_instance_identifier(instance)
        .send()
        .await
        .map_err(|e| from_sdk("RDS DescribeDBInstances", e))?;
    out.db_instances()
        .iter()
        .find(|i| i.db_instance_identifier() == Some(instance))
        .cloned()
        .ok_or_else(|| not_found(format!("RDS has no DB instance `{instance}`")))
}

/// The role an instance's description says.
pub(crate) fn role_of(i: &DbInstance) -> Role {
    match i.read_replica_source_db_instance_identifier() {
        Some(src) => Role::Replica {
            of: Some(src.to_string()),
        },
        None => Role::Primary,
    }
}

impl RdsStore {
    /// A store for `cfg.instance`.
    pub fn new(cfg: RdsConfig, common: AwsCommon) -> Self {
        RdsStore {
            cfg,
            aws: Aws::new(common),
        }
    }

    /// Builds the store from a resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        Ok(Self::new(
            RdsConfig::from_settings(settings)?,
            AwsCommon::from_settings(settings)?,
        ))
    }

    async fn wait_promoted(&self) -> Result<(), ProviderError> {
        let common = self.aws.common();
        poll::until(
            &format!(
                "RDS instance `{}` to be available and no replica",
                self.cfg.instance
            ),
            Instant::now() + common.wait,
            common.poll_every,
            &CancellationToken::new(),
            || async move {
                let i = describe(&self.aws, &self.cfg.instance).await?;
                let done = i.read_replica_source_db_instance_identifier().is_none()
                    && i.db_instance_status() == Some("available");
                Ok(if done { Poll::Ready(()) } else { Poll::Pending })
            },
        )
        .await
        .map_err(from_poll)
    }
}

#[async_trait]
impl DataStore for RdsStore {
    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities::promote_and_fence()
    }

    async fn role(&self) -> Result<Role, ProviderError> {
        Ok(role_of(&describe(&self.aws, &self.cfg.instance).await?))
    }

    async fn writable(&self) -> Result<bool, ProviderError> {
        let i = describe(&self.aws, &self.cfg.instance).await?;
        let status = i.db_instance_status().unwrap_or("");
        Ok(role_of(&i) == Role::Primary && !STOPPED.contains(&status))
    }

    async fn promote(&self) -> Result<(), ProviderError> {
        let i = describe(&self.aws, &self.cfg.instance).await?;
        if i.read_replica_source_db_instance_identifier().is_none() {
            if i.db_instance_status() == Some("available") {
                return Ok(());
            }
            return self.wait_promoted().await;
        }
        if i.db_instance_status() != Some("modifying") {
            self.aws
                .rds()
                .await
                .promote_read_replica()
                .db_instance_identifier(&self.cfg.instance)
                .send()
                .await
                .map_err(|e| from_sdk("RDS PromoteReadReplica", e))?;
        }
        self.wait_promoted().await
    }

    async fn fence(&self) -> Result<(), ProviderError> {
        let i = describe(&self.aws, &self.cfg.instance).await?;
        let status = i.db_instance_status().unwrap_or("");
        if role_of(&i) != Role::Primary || STOPPED.contains(&status) {
            return Ok(());
        }
        self.aws
            .rds()
            .await
            .stop_db_instance()
            .db_instance_identifier(&self.cfg.instance)
            .send()
            .await
            .map_err(|e| from_sdk("RDS StopDBInstance", e))?;
        Ok(())
    }

    async fn flush(&self) -> Result<(), ProviderError> {
        Err(invalid(
            "an RDS instance has no cache to flush (flush is not offered)",
        ))
    }
}
