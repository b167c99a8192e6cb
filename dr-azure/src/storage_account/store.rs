//! One region of a storage account as a [`DataStore`].
//!
//! `promote()` is an account failover (`POST .../failover`,
//! `failoverType=Planned` for `failover_type = "planned"` in a graceful run; an
//! ungraceful run's failover is always unplanned), refused before any call
//! when `geoReplicationStats.canFailover` (`canPlannedFailover`) is false, polled
//! to the end and verified by reading `primaryLocation` back. A storage account
//! cannot refuse writes on request, so `fence` is not offered, and neither is
//! `flush`.

use std::sync::Arc;

use dr_core::http::Method;
use dr_core::{
    ConfigError, DataStore, ErrorKind, Promotion, ProviderError, Role, RunMode, Settings,
    StoreCapabilities, async_trait,
};
use serde_json::Value;

use super::StorageAccount;
use super::config::{FailoverType, StorageAccountConfig};
use crate::client::{api, str_at};
use crate::config::ArmConfig;
use crate::credential::TokenSource;
use crate::error::{conflict, invalid};

/// One region of a geo-redundant storage account as a store (promote = failover).
#[derive(Debug)]
pub struct StorageAccountStore {
    account: StorageAccount,
}

impl StorageAccountStore {
    /// The store for `cfg`, named `resource` in errors.
    pub fn new(
        resource: &str,
        arm: ArmConfig,
        cfg: StorageAccountConfig,
        token: Arc<dyn TokenSource>,
    ) -> Result<Self, ConfigError> {
        Ok(StorageAccountStore {
            account: StorageAccount::new(resource, arm, cfg, token)?,
        })
    }

    /// Builds the store from a resource's settings.
    pub fn from_settings(s: &Settings, token: Arc<dyn TokenSource>) -> Result<Self, ConfigError> {
        Ok(StorageAccountStore {
            account: StorageAccount::from_settings(s, token)?,
        })
    }
}

#[async_trait]
impl DataStore for StorageAccountStore {
    fn capabilities(&self) -> StoreCapabilities {
        let mut caps = StoreCapabilities::default();
        caps.promote = true;
        caps.modes = true;
        caps
    }

    async fn role(&self) -> Result<Role, ProviderError> {
        let acct = self.account.read().await?;
        self.account.role_of(&acct)
    }

    async fn writable(&self) -> Result<bool, ProviderError> {
        Ok(self.role().await? == Role::Primary)
    }

    async fn promote(&self) -> Result<(), ProviderError> {
        self.promote_with(Promotion::new(RunMode::Graceful)).await
    }

    /// `failover_type` in a graceful run (default unplanned); an unplanned
    /// failover in an ungraceful one, whatever `failover_type` says.
    async fn promote_with(&self, how: Promotion) -> Result<(), ProviderError> {
        let a = &self.account;
        let acct = a.read().await?;
        if a.role_of(&acct)? == Role::Primary {
            return Ok(());
        }
        let planned = !how.ungraceful() && a.cfg.failover_type == FailoverType::Planned;
        let flag = if planned {
            "canPlannedFailover"
        } else {
            "canFailover"
        };
        let can = acct
            .pointer(&format!("/properties/geoReplicationStats/{flag}"))
            .and_then(Value::as_bool);
        if can != Some(true) {
            return Err(conflict(format!(
                "storage account `{}` cannot fail over to {} now: geoReplicationStats.{flag} is {} \
                 (nothing was changed)",
                a.cfg.account,
                a.cfg.location,
                can.map(|b| b.to_string())
                    .unwrap_or_else(|| "absent".into())
            )));
        }
        let query: &[(&str, &str)] = if planned {
            &[("failoverType", "Planned")]
        } else {
            &[]
        };
        a.arm
            .lro(
                Method::POST,
                &format!("{}/failover", a.path()),
                api::STORAGE,
                query,
                None,
            )
            .await?;
        let after = a.read().await?;
        let primary = str_at(&after, &["properties", "primaryLocation"]).unwrap_or("");
        if !primary.eq_ignore_ascii_case(&a.cfg.location) {
            return Err(a.arm.answer(
                ErrorKind::Fatal,
                format!(
                    "storage account `{}`: the failover finished but primaryLocation is `{primary}`, \
                     not `{}`",
                    a.cfg.account, a.cfg.location
                ),
            ));
        }
        Ok(())
    }

    async fn fence(&self) -> Result<(), ProviderError> {
        Err(invalid(
            "a storage account cannot be fenced (ARM has no way to refuse writes on request)",
        ))
    }

    async fn flush(&self) -> Result<(), ProviderError> {
        Err(invalid(
            "a storage account is not a cache: flush is not offered",
        ))
    }
}
