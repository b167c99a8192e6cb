//! Settings of `provider = "azure.blob_canary"`.

use std::fmt;
use std::time::Duration;

use dr_core::{ConfigError, Settings};
use serde::Deserialize;

use crate::config::DEFAULT_TIMEOUT;

/// `provider = "azure.blob_canary"`.
#[non_exhaustive]
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobCanaryConfig {
    /// The account's blob endpoint (`https://acct.blob.core.windows.net`), optionally
    /// with a SAS query string.
    pub primary_url: String,
    /// The `-secondary` endpoint of the RA-GRS account, optionally with a SAS.
    pub secondary_url: String,
    /// The container of the canary blob.
    pub container: String,
    /// The canary blob's name.
    pub blob: String,
    /// Per-call timeout (default 30 s).
    #[serde(default)]
    pub timeout: Option<String>,
}

impl fmt::Debug for BlobCanaryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobCanaryConfig")
            .field("primary_url", &redact_query(&self.primary_url))
            .field("secondary_url", &redact_query(&self.secondary_url))
            .field("container", &self.container)
            .field("blob", &self.blob)
            .finish()
    }
}

/// `url` without its query string (a SAS), for `Debug` and messages.
pub(crate) fn redact_query(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?******"),
        None => url.to_string(),
    }
}

impl BlobCanaryConfig {
    /// Reads the resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        for k in ["primary_url", "secondary_url", "container", "blob"] {
            settings.str(k)?;
        }
        let cfg: BlobCanaryConfig = settings.deserialize()?;
        for (k, v) in [
            ("primary_url", &cfg.primary_url),
            ("secondary_url", &cfg.secondary_url),
        ] {
            let u =
                url::Url::parse(v).map_err(|e| ConfigError::key(k, format!("not a URL: {e}")))?;
            if !matches!(u.scheme(), "http" | "https") {
                return Err(ConfigError::key(k, "must be an http(s) URL"));
            }
        }
        if let Some(t) = &cfg.timeout {
            dr_core::parse_duration(t).map_err(|e| ConfigError::key("timeout", e))?;
        }
        Ok(cfg)
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
            .as_deref()
            .and_then(|t| dr_core::parse_duration(t).ok())
            .unwrap_or(DEFAULT_TIMEOUT)
    }
}
