//! Settings of `provider = "azure.storage_account"`.

use dr_core::{ConfigError, Settings};
use serde::Deserialize;

use crate::config::specific;

/// The kind of storage account failover `promote()` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailoverType {
    /// Customer-managed unplanned failover: the account becomes LRS in the new region.
    Unplanned,
    /// Planned failover (`failoverType=Planned`): swaps the regions, stays geo-redundant.
    Planned,
}

/// `provider = "azure.storage_account"`.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageAccountConfig {
    /// The storage account's name.
    pub account: String,
    /// The region this resource stands for (`westus`).
    pub location: String,
    /// `unplanned` (default) or `planned`.
    #[serde(default = "unplanned")]
    pub failover_type: FailoverType,
    /// The SKU `replication.reverse` sets (default `Standard_RAGRS`); one of
    /// [`GEO_SKUS`](super::GEO_SKUS).
    #[serde(default = "ragrs")]
    pub reverse_sku: String,
}

fn unplanned() -> FailoverType {
    FailoverType::Unplanned
}
fn ragrs() -> String {
    "Standard_RAGRS".to_string()
}

impl StorageAccountConfig {
    /// `account` as seen from `location`, with the defaults (unplanned failover,
    /// `Standard_RAGRS` on reverse).
    pub fn new(account: impl Into<String>, location: impl Into<String>) -> Self {
        StorageAccountConfig {
            account: account.into(),
            location: location.into(),
            failover_type: FailoverType::Unplanned,
            reverse_sku: ragrs(),
        }
    }

    /// Replaces the failover type.
    pub fn with_failover_type(mut self, failover_type: FailoverType) -> Self {
        self.failover_type = failover_type;
        self
    }

    /// Reads the resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        settings.str("account")?;
        settings.str("location")?;
        let cfg: StorageAccountConfig = specific(settings)?;
        if !super::is_geo_sku(&cfg.reverse_sku) {
            return Err(ConfigError::key(
                "reverse_sku",
                format!(
                    "`{}` is not a geo-redundant SKU; one of {}",
                    cfg.reverse_sku,
                    super::GEO_SKUS.join(", ")
                ),
            ));
        }
        Ok(cfg)
    }
}
