//! The Blob canary as a [`Replicator`]: replication lag of an RA-GRS account
//! measured with a canary blob, through the official `azure_storage_blob` crate.
//!
//! `status()` writes the current time (RFC 3339) to `container/blob` through
//! `primary_url`, then reads the same blob through `secondary_url` (the account's
//! `-secondary` endpoint): lag = now − the timestamp read there. The canary is
//! written on every `status()`, so after a quiet period the first reading
//! overstates the lag by up to the time since the previous one. A canary not yet
//! on the secondary is `unknown` lag. The link cannot be stopped or reversed here
//! (`azure.storage_account` does that): observe only.
//!
//! A URL with a SAS in its query (`sig=`) is used without a credential (plain
//! HTTP allowed, as Azurite needs); otherwise the first `azure_identity`
//! credential configured in the environment signs the requests (HTTPS only).
//! The SDK's own retries are switched off: the dr-core executor retries.

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_core::http::{RequestContent, RetryOptions};
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
use chrono::{DateTime, Utc};
use dr_core::{
    ConfigError, ProviderError, ReplicationState, ReplicationStatus, Replicator,
    ReplicatorCapabilities, Settings, async_trait,
};

use super::config::{BlobCanaryConfig, redact_query};
use crate::credential::default_credentials;
use crate::error::{error, from_blob, invalid};

/// A canary blob measuring the lag of an RA-GRS account's secondary.
pub struct BlobCanaryReplicator {
    cfg: BlobCanaryConfig,
    primary: BlobContainerClient,
    secondary: BlobContainerClient,
}

impl std::fmt::Debug for BlobCanaryReplicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobCanaryReplicator")
            .field("cfg", &self.cfg)
            .finish()
    }
}

fn container_client(
    key: &str,
    base: &str,
    container: &str,
) -> Result<BlobContainerClient, ConfigError> {
    let mut url =
        url::Url::parse(base).map_err(|e| ConfigError::key(key, format!("not a URL: {e}")))?;
    url.path_segments_mut()
        .map_err(|_| ConfigError::key(key, "not a base URL"))?
        .pop_if_empty()
        .push(container);
    let has_sas = url.query_pairs().any(|(k, _)| k == "sig");
    let credential: Option<Arc<dyn TokenCredential>> = if has_sas {
        None
    } else {
        Some(default_credentials().into_iter().next().ok_or_else(|| {
            ConfigError::key(
                key,
                "no SAS in the URL and no Azure credential in the environment",
            )
        })?)
    };
    let mut options = BlobContainerClientOptions::default();
    options.client_options.retry = RetryOptions::none();
    BlobContainerClient::new(url, credential, Some(options))
        .map_err(|e| ConfigError::key(key, format!("{}: {e}", redact_query(base))))
}

impl BlobCanaryReplicator {
    /// The replicator for `cfg`.
    pub fn new(cfg: BlobCanaryConfig) -> Result<Self, ConfigError> {
        Ok(BlobCanaryReplicator {
            primary: container_client("primary_url", &cfg.primary_url, &cfg.container)?,
            secondary: container_client("secondary_url", &cfg.secondary_url, &cfg.container)?,
            cfg,
        })
    }

    /// Builds the replicator from a resource's settings.
    pub fn from_settings(s: &Settings) -> Result<Self, ConfigError> {
        Self::new(BlobCanaryConfig::from_settings(s)?)
    }

    async fn bounded<T>(
        &self,
        what: &str,
        f: impl std::future::Future<Output = azure_core::Result<T>>,
    ) -> Result<T, ProviderError> {
        match tokio::time::timeout(self.cfg.timeout(), f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(from_blob(what, &e)),
            Err(_) => Err(error(
                dr_core::ErrorKind::Timeout,
                format!("{what}: no answer within {:?}", self.cfg.timeout()),
            )),
        }
    }
}

#[async_trait]
impl Replicator for BlobCanaryReplicator {
    fn capabilities(&self) -> ReplicatorCapabilities {
        ReplicatorCapabilities::observe_only()
    }

    async fn status(&self) -> Result<ReplicationStatus, ProviderError> {
        let now = Utc::now();
        let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let put = format!(
            "writing canary {}/{} on the primary",
            self.cfg.container, self.cfg.blob
        );
        let blob = self.primary.blob_client(&self.cfg.blob);
        self.bounded(
            &put,
            blob.upload(RequestContent::from(stamp.into_bytes()), None),
        )
        .await?;
        let get = format!(
            "reading canary {}/{} on the secondary",
            self.cfg.container, self.cfg.blob
        );
        let secondary = self.secondary.blob_client(&self.cfg.blob);
        let body = match self
            .bounded(&get, async {
                secondary.download(None).await?.body.collect().await
            })
            .await
        {
            Ok(b) => b,
            Err(e) if e.kind() == &dr_core::ErrorKind::NotFound => {
                return Ok(ReplicationStatus::new(ReplicationState::Unknown, None));
            }
            Err(e) => return Err(e),
        };
        let text = String::from_utf8_lossy(&body);
        let seen = DateTime::parse_from_rfc3339(text.trim())
            .map_err(|_| invalid(format!("{get}: the canary does not hold a timestamp")))?
            .with_timezone(&Utc);
        let mut out = ReplicationStatus::new(
            ReplicationState::Replicating,
            Some((now - seen).to_std().unwrap_or(Duration::ZERO)),
        );
        out.last_sync = Some(seen);
        Ok(out)
    }

    async fn stop(&self) -> Result<(), ProviderError> {
        Err(invalid(
            "azure.blob_canary only observes: it cannot stop replication",
        ))
    }

    async fn reverse(&self) -> Result<(), ProviderError> {
        Err(invalid(
            "azure.blob_canary only observes: it cannot reverse replication",
        ))
    }
}
