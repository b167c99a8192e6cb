//! `aws.aurora_global`: one member cluster of an Aurora global database as a store.
//!
//! Beside `store.rs` (an instance) in its own file: its calls
//! (`DescribeGlobalClusters`, switchover/failover) share nothing with an instance's.

use aws_sdk_rds::types::GlobalCluster;
use dr_core::poll::{self, CancellationToken, Poll};
use dr_core::{
    ConfigError, DataStore, Promotion, ProviderError, Role, RunMode, Settings, StoreCapabilities,
    async_trait,
};
use tokio::time::Instant;

use super::config::{AuroraConfig, AuroraMode};
use crate::client::Aws;
use crate::config::AwsCommon;
use crate::error::{conflict, from_poll, from_sdk, invalid, not_found};

/// The provider name of Aurora global database members.
pub const AURORA_PROVIDER: &str = crate::names::AURORA;

/// A member cluster of an Aurora global database.
///
/// - `role()`: `IsWriter` of this member in `DescribeGlobalClusters` -> primary,
///   else replica of the writer member.
/// - `promote()`: nothing when it is the writer; else `SwitchoverGlobalCluster`
///   (`mode = "switchover"`, planned, no data loss) or `FailoverGlobalCluster`
///   with `AllowDataLoss=true` (`mode = "failover"`, only with `allow_data_loss =
///   true`) in a graceful run; in an ungraceful one always `FailoverGlobalCluster`
///   with `AllowDataLoss=true`, only with `allow_data_loss = true` or the run's
///   `--accept-data-loss` (else refused before any call); skipped when a
///   switchover/failover to this member is already under
///   way (`FailoverState`), then `DescribeGlobalClusters` until this member is the
///   writer and no `FailoverState` is left.
/// - `fence()`, `flush()`: not offered (the switchover demotes the old writer itself).
#[derive(Debug)]
pub struct AuroraGlobalStore {
    cfg: AuroraConfig,
    aws: Aws,
}

impl AuroraGlobalStore {
    /// A store for `cfg.cluster` in `cfg.global_cluster`.
    pub fn new(cfg: AuroraConfig, common: AwsCommon) -> Self {
        AuroraGlobalStore {
            cfg,
            aws: Aws::new(common),
        }
    }

    /// Builds the store from a resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        Ok(Self::new(
            AuroraConfig::from_settings(settings)?,
            AwsCommon::from_settings(settings)?,
        ))
    }

    fn is_me(&self, arn: &str) -> bool {
        arn == self.cfg.cluster || arn.ends_with(&format!(":cluster:{}", self.cfg.cluster))
    }

    async fn global(&self) -> Result<GlobalCluster, ProviderError> {
        let out = self
            .aws
            .rds()
            .await
            .describe_global_clusters()
            .global_cluster_identifier(&self.cfg.global_cluster)
            .send()
            .await
            .map_err(|e| from_sdk("RDS DescribeGlobalClusters", e))?;
        out.global_clusters().first().cloned().ok_or_else(|| {
            not_found(format!(
                "RDS has no global cluster `{}`",
                self.cfg.global_cluster
            ))
        })
    }

    /// This member's ARN and whether it is the writer; the writer's ARN.
    fn member(&self, g: &GlobalCluster) -> Result<(String, bool, Option<String>), ProviderError> {
        let writer = g
            .global_cluster_members()
            .iter()
            .find(|m| m.is_writer() == Some(true))
            .and_then(|m| m.db_cluster_arn())
            .map(str::to_string);
        let me = g
            .global_cluster_members()
            .iter()
            .find(|m| m.db_cluster_arn().is_some_and(|a| self.is_me(a)))
            .ok_or_else(|| {
                conflict(format!(
                    "cluster `{}` is not a member of global cluster `{}`",
                    self.cfg.cluster, self.cfg.global_cluster
                ))
            })?;
        Ok((
            me.db_cluster_arn().unwrap_or_default().to_string(),
            me.is_writer() == Some(true),
            writer,
        ))
    }
}

#[async_trait]
impl DataStore for AuroraGlobalStore {
    fn capabilities(&self) -> StoreCapabilities {
        let mut caps = StoreCapabilities::promote_and_fence();
        caps.fence = false;
        caps.modes = true;
        caps
    }

    async fn role(&self) -> Result<Role, ProviderError> {
        let (_, writer, of) = self.member(&self.global().await?)?;
        Ok(if writer {
            Role::Primary
        } else {
            Role::Replica { of }
        })
    }

    async fn writable(&self) -> Result<bool, ProviderError> {
        Ok(self.member(&self.global().await?)?.1)
    }

    async fn promote(&self) -> Result<(), ProviderError> {
        self.promote_with(Promotion::new(RunMode::Graceful)).await
    }

    /// `mode` in a graceful run; `FailoverGlobalCluster` with `AllowDataLoss`
    /// in an ungraceful one, which needs consent (`allow_data_loss = true` or
    /// the run's `--accept-data-loss`) and is refused before any call without.
    async fn promote_with(&self, how: Promotion) -> Result<(), ProviderError> {
        let mode = match how.mode {
            RunMode::Graceful => self.cfg.mode,
            RunMode::Ungraceful => {
                if !self.cfg.allow_data_loss && !how.accept_data_loss {
                    return Err(invalid(format!(
                        "an ungraceful promote of `{}` is FailoverGlobalCluster with \
                         AllowDataLoss: writes `{}` has not received are lost; give \
                         --accept-data-loss (or set allow_data_loss = true) to accept that \
                         (nothing was changed)",
                        self.cfg.cluster, self.cfg.cluster
                    )));
                }
                AuroraMode::Failover
            }
        };
        let g = self.global().await?;
        let (arn, writer, _) = self.member(&g)?;
        let under_way = g
            .failover_state()
            .is_some_and(|f| f.to_db_cluster_arn().is_some_and(|a| self.is_me(a)));
        if writer && g.failover_state().is_none() {
            return Ok(());
        }
        if !under_way && !writer {
            let rds = self.aws.rds().await;
            match mode {
                AuroraMode::Switchover => {
                    rds.switchover_global_cluster()
                        .global_cluster_identifier(&self.cfg.global_cluster)
                        .target_db_cluster_identifier(&arn)
                        .send()
                        .await
                        .map_err(|e| from_sdk("RDS SwitchoverGlobalCluster", e))?;
                }
                AuroraMode::Failover => {
                    tracing::warn!(
                        global_cluster = %self.cfg.global_cluster,
                        "FailoverGlobalCluster with AllowDataLoss: writes not yet replicated to `{}` are lost",
                        self.cfg.cluster
                    );
                    rds.failover_global_cluster()
                        .global_cluster_identifier(&self.cfg.global_cluster)
                        .target_db_cluster_identifier(&arn)
                        .allow_data_loss(true)
                        .send()
                        .await
                        .map_err(|e| from_sdk("RDS FailoverGlobalCluster", e))?;
                }
            }
        }
        let common = self.aws.common();
        poll::until(
            &format!("cluster `{}` to be the global writer", self.cfg.cluster),
            Instant::now() + common.wait,
            common.poll_every,
            &CancellationToken::new(),
            || async move {
                let g = self.global().await?;
                let (_, writer, _) = self.member(&g)?;
                Ok(if writer && g.failover_state().is_none() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                })
            },
        )
        .await
        .map_err(from_poll)
    }

    async fn fence(&self) -> Result<(), ProviderError> {
        Err(invalid(
            "an Aurora global member is not fenced by dr: the switchover demotes the old writer",
        ))
    }

    async fn flush(&self) -> Result<(), ProviderError> {
        Err(invalid(
            "an Aurora cluster has no cache to flush (flush is not offered)",
        ))
    }
}
