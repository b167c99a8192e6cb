//! `aws.s3_replication`: S3 replication between two buckets as a replicator.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination,
    ReplicationConfiguration, ReplicationRule, ReplicationRuleFilter, ReplicationRuleStatus,
};
use chrono::{DateTime as ChronoTime, Utc};
use dr_core::{
    ConfigError, ErrorKind, ProviderError, ReplicationState, ReplicationStatus, Replicator,
    ReplicatorCapabilities, Settings, async_trait,
};

use super::config::S3ReplicationConfig;
use crate::client::Aws;
use crate::config::AwsCommon;
use crate::error::{conflict, fatal, from_sdk, invalid};

/// The provider name of S3 replication links.
pub const S3_REPLICATION_PROVIDER: &str = crate::names::S3_REPLICATION;

/// S3 replication from `bucket` to `destination_bucket` (see the crate README).
#[derive(Debug)]
pub struct S3Replicator {
    cfg: S3ReplicationConfig,
    aws: Aws,
}

fn arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

fn rule_targets(rule: &ReplicationRule, bucket: &str) -> bool {
    rule.destination().map(|d| d.bucket()) == Some(arn(bucket).as_str())
}

impl S3Replicator {
    /// The link `cfg.bucket` -> `cfg.destination_bucket`.
    pub fn new(cfg: S3ReplicationConfig, common: AwsCommon) -> Self {
        S3Replicator {
            cfg,
            aws: Aws::new(common),
        }
    }

    /// Builds the replicator from a resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        Ok(Self::new(
            S3ReplicationConfig::from_settings(settings)?,
            AwsCommon::from_settings(settings)?,
        ))
    }

    async fn s3_of(&self, bucket: &str) -> aws_sdk_s3::Client {
        if bucket == self.cfg.destination_bucket {
            self.aws.s3(self.cfg.destination_region.as_deref()).await
        } else {
            self.aws.s3(None).await
        }
    }

    /// The replication configuration of `bucket`; `None` when it has none.
    async fn config_of(
        &self,
        bucket: &str,
    ) -> Result<Option<ReplicationConfiguration>, ProviderError> {
        match self
            .s3_of(bucket)
            .await
            .get_bucket_replication()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(out) => Ok(out.replication_configuration().cloned()),
            Err(e) => {
                let e = from_sdk(&format!("S3 GetBucketReplication {bucket}"), e);
                if e.kind() == &ErrorKind::NotFound
                    && e.message().contains("ReplicationConfigurationNotFound")
                {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn put_config(
        &self,
        bucket: &str,
        c: ReplicationConfiguration,
    ) -> Result<(), ProviderError> {
        self.s3_of(bucket)
            .await
            .put_bucket_replication()
            .bucket(bucket)
            .replication_configuration(c)
            .send()
            .await
            .map_err(|e| from_sdk(&format!("S3 PutBucketReplication {bucket}"), e))?;
        Ok(())
    }

    async fn versioning_enabled(&self, bucket: &str) -> Result<bool, ProviderError> {
        match self
            .s3_of(bucket)
            .await
            .get_bucket_versioning()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(out) => Ok(out.status() == Some(&BucketVersioningStatus::Enabled)),
            Err(e) => {
                // moto (5.2.x) answers `<GetBucketVersioningResponse><Status>..` where S3
                // answers `<VersioningConfiguration><Status>..`, and the SDK rejects the
                // root element. The field is the same: read it from that answer.
                if let Some(raw) = e.raw_response()
                    && raw.status().as_u16() == 200
                    && let Some(body) = raw.body().bytes()
                {
                    let text = String::from_utf8_lossy(body);
                    if text.contains("<GetBucketVersioningResponse") {
                        return Ok(text.contains("<Status>Enabled</Status>"));
                    }
                }
                Err(from_sdk(&format!("S3 GetBucketVersioning {bucket}"), e))
            }
        }
    }

    /// Writes a timestamp to the source's canary and reads the destination's copy:
    /// the lag is how old the copy is (`None` before the first copy arrives).
    async fn canary_lag(&self, key: &str) -> Result<Option<Duration>, ProviderError> {
        let now = Utc::now();
        self.s3_of(&self.cfg.bucket)
            .await
            .put_object()
            .bucket(&self.cfg.bucket)
            .key(key)
            .body(ByteStream::from(now.to_rfc3339().into_bytes()))
            .send()
            .await
            .map_err(|e| from_sdk(&format!("S3 PutObject {}/{key}", self.cfg.bucket), e))?;
        let got = self
            .s3_of(&self.cfg.destination_bucket)
            .await
            .get_object()
            .bucket(&self.cfg.destination_bucket)
            .key(key)
            .send()
            .await;
        let out = match got {
            Ok(out) => out,
            Err(e) => {
                let e = from_sdk(
                    &format!("S3 GetObject {}/{key}", self.cfg.destination_bucket),
                    e,
                );
                return if e.kind() == &ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
        };
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| fatal(format!("reading the canary copy: {e}")))?
            .into_bytes();
        let text = String::from_utf8_lossy(&body);
        let written: ChronoTime<Utc> = ChronoTime::parse_from_rfc3339(text.trim())
            .map_err(|e| {
                conflict(format!(
                    "the canary `{key}` in {} is not a dr timestamp ({e})",
                    self.cfg.destination_bucket
                ))
            })?
            .with_timezone(&Utc);
        Ok(Some((now - written).to_std().unwrap_or(Duration::ZERO)))
    }
}

#[async_trait]
impl Replicator for S3Replicator {
    fn capabilities(&self) -> ReplicatorCapabilities {
        let mut caps = ReplicatorCapabilities::full();
        caps.reverse = self.cfg.role_arn.is_some();
        caps
    }

    async fn status(&self) -> Result<ReplicationStatus, ProviderError> {
        let rules: Vec<ReplicationRule> = self
            .config_of(&self.cfg.bucket)
            .await?
            .map(|c| c.rules().to_vec())
            .unwrap_or_default();
        let ours: Vec<&ReplicationRule> = rules
            .iter()
            .filter(|r| rule_targets(r, &self.cfg.destination_bucket))
            .collect();
        let state = if ours.is_empty() {
            ReplicationState::Broken
        } else if ours
            .iter()
            .any(|r| r.status() == &ReplicationRuleStatus::Enabled)
        {
            ReplicationState::Replicating
        } else {
            ReplicationState::Paused
        };
        let lag = match (&self.cfg.canary_key, state) {
            (Some(key), ReplicationState::Replicating) => self.canary_lag(key).await?,
            _ => None,
        };
        Ok(ReplicationStatus::new(state, lag))
    }

    async fn stop(&self) -> Result<(), ProviderError> {
        let Some(config) = self.config_of(&self.cfg.bucket).await? else {
            return Ok(());
        };
        let mut changed = false;
        let mut new = config.clone();
        for r in new.rules.iter_mut() {
            if rule_targets(r, &self.cfg.destination_bucket)
                && r.status == ReplicationRuleStatus::Enabled
            {
                r.status = ReplicationRuleStatus::Disabled;
                changed = true;
            }
        }
        if changed {
            self.put_config(&self.cfg.bucket, new).await?;
        }
        Ok(())
    }

    async fn reverse(&self) -> Result<(), ProviderError> {
        let (src, dst) = (&self.cfg.bucket, &self.cfg.destination_bucket);
        for b in [src, dst] {
            if !self.versioning_enabled(b).await? {
                return Err(conflict(format!(
                    "bucket `{b}` does not have versioning enabled, which S3 replication needs"
                )));
            }
        }
        let existing = self.config_of(dst).await?;
        if let Some(c) = &existing {
            let back: Vec<&ReplicationRule> =
                c.rules().iter().filter(|r| rule_targets(r, src)).collect();
            if back
                .iter()
                .any(|r| r.status() == &ReplicationRuleStatus::Enabled)
            {
                return Ok(());
            }
            if !back.is_empty() {
                let mut new = c.clone();
                for r in new.rules.iter_mut() {
                    if rule_targets(r, src) {
                        r.status = ReplicationRuleStatus::Enabled;
                    }
                }
                return self.put_config(dst, new).await;
            }
        }
        let role = self.cfg.role_arn.clone().ok_or_else(|| {
            invalid("reversing S3 replication needs `role_arn` (the role S3 assumes)")
        })?;
        let mut rules: Vec<ReplicationRule> = existing
            .as_ref()
            .map(|c| c.rules().to_vec())
            .unwrap_or_default();
        let priority = rules.iter().filter_map(|r| r.priority()).max().unwrap_or(0) + 1;
        rules.push(
            ReplicationRule::builder()
                .id(format!("dr-reverse-to-{src}"))
                .priority(priority)
                .status(ReplicationRuleStatus::Enabled)
                .filter(ReplicationRuleFilter::builder().prefix("").build())
                .delete_marker_replication(
                    DeleteMarkerReplication::builder()
                        .status(DeleteMarkerReplicationStatus::Disabled)
                        .build(),
                )
                .destination(
                    Destination::builder()
                        .bucket(arn(src))
                        .build()
                        .map_err(|e| fatal(format!("building the reverse rule: {e}")))?,
                )
                .build()
                .map_err(|e| fatal(format!("building the reverse rule: {e}")))?,
        );
        let config = ReplicationConfiguration::builder()
            .role(existing.map(|c| c.role().to_string()).unwrap_or(role))
            .set_rules(Some(rules))
            .build()
            .map_err(|e| fatal(format!("building the reverse configuration: {e}")))?;
        self.put_config(dst, config).await
    }
}
