//! `azure.storage_account` (feature `storage_account`): one region of a
//! geo-redundant storage account as a [`DataStore`](dr_core::DataStore) (promote =
//! account failover) and the account's geo-replication as a
//! [`Replicator`](dr_core::Replicator) (lag from `lastSyncTime`, reversed by
//! setting a geo-redundant SKU again).
//!
//! The resource stands for one region (`location`) of the account. Its role is
//! `primary` when the account's `primaryLocation` is that region, `replica` when
//! it is the `secondaryLocation`.

mod config;
mod replicator;
mod store;

use std::sync::Arc;

use dr_core::{ConfigError, ProviderError, Registry, Role, Settings};
use serde_json::Value;

pub use config::{FailoverType, StorageAccountConfig};
pub use replicator::StorageAccountReplicator;
pub use store::StorageAccountStore;

use crate::client::{Arm, api, str_at};
use crate::config::ArmConfig;
use crate::credential::TokenSource;
use crate::error::conflict;

/// Every geo-redundant SKU of `Microsoft.Storage/storageAccounts` (the
/// specification's `SkuName` values that replicate to a second region; the others
/// are `*_LRS` and `*_ZRS`, one region).
pub const GEO_SKUS: [&str; 6] = [
    "Standard_GRS",
    "Standard_RAGRS",
    "Standard_GZRS",
    "Standard_RAGZRS",
    "StandardV2_GRS",
    "StandardV2_GZRS",
];

/// Whether `sku` replicates to a second region (exact spelling, as ARM answers it).
pub fn is_geo_sku(sku: &str) -> bool {
    GEO_SKUS.contains(&sku)
}

/// `provider = "azure.storage_account"`.
pub const STORAGE_ACCOUNT: &str = "azure.storage_account";

/// Registers the store and the replicator.
pub(crate) fn register(registry: &mut Registry, token: Arc<dyn TokenSource>) {
    let t = token.clone();
    registry.store(STORAGE_ACCOUNT, move |s| {
        Ok(Arc::new(StorageAccountStore::from_settings(s, t.clone())?))
    });
    let t = token;
    registry.replicator(STORAGE_ACCOUNT, move |s| {
        Ok(Arc::new(StorageAccountReplicator::from_settings(
            s,
            t.clone(),
        )?))
    });
}

/// A storage account as seen from one of its regions; shared by the store and the
/// replicator.
#[derive(Debug)]
pub(crate) struct StorageAccount {
    pub(crate) arm: Arm,
    pub(crate) cfg: StorageAccountConfig,
}

impl StorageAccount {
    pub(crate) fn new(
        resource: &str,
        arm: ArmConfig,
        cfg: StorageAccountConfig,
        token: Arc<dyn TokenSource>,
    ) -> Result<Self, ConfigError> {
        Ok(StorageAccount {
            arm: Arm::new(STORAGE_ACCOUNT, resource, arm, token)?,
            cfg,
        })
    }

    pub(crate) fn from_settings(
        s: &Settings,
        token: Arc<dyn TokenSource>,
    ) -> Result<Self, ConfigError> {
        Self::new(
            s.name(),
            ArmConfig::from_settings(s)?,
            StorageAccountConfig::from_settings(s)?,
            token,
        )
    }

    pub(crate) fn path(&self) -> String {
        self.arm.path(&format!(
            "Microsoft.Storage/storageAccounts/{}",
            self.cfg.account
        ))
    }

    /// GET the account with `$expand=geoReplicationStats`.
    pub(crate) async fn read(&self) -> Result<Value, ProviderError> {
        self.arm
            .get(
                &self.path(),
                api::STORAGE,
                &[("$expand", "geoReplicationStats")],
            )
            .await
    }

    fn role_of(&self, account: &Value) -> Result<Role, ProviderError> {
        let primary = str_at(account, &["properties", "primaryLocation"]).unwrap_or("");
        let secondary = str_at(account, &["properties", "secondaryLocation"]).unwrap_or("");
        if primary.eq_ignore_ascii_case(&self.cfg.location) {
            Ok(Role::Primary)
        } else if secondary.eq_ignore_ascii_case(&self.cfg.location) {
            Ok(Role::Replica {
                of: Some(primary.to_string()),
            })
        } else {
            Err(conflict(format!(
                "storage account `{}` is in {primary}{} and not in `{}` (the resource's location)",
                self.cfg.account,
                if secondary.is_empty() {
                    String::new()
                } else {
                    format!(" and {secondary}")
                },
                self.cfg.location
            )))
        }
    }
}
