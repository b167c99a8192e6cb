//! A storage account's geo-replication as a [`Replicator`].
//!
//! The account's one geo-replication link. `geoReplicationStats.status` `Live` is
//! replicating with lag = now − `lastSyncTime`; `Bootstrap` is replicating with
//! unknown lag; `Unavailable`, or an account that is no longer geo-redundant (LRS
//! after an unplanned failover), is broken. Replication of an account cannot be
//! stopped on its own (a failover does it), so `stop` is not offered; `reverse()`
//! makes the account geo-redundant again by PATCHing `sku.name` to `reverse_sku`
//! (default `Standard_RAGRS`), then waits for the account's SKU conversion
//! (`properties.storageAccountSkuConversionStatus.skuConversionStatus`, hours on
//! Azure) to reach `Succeeded`, within `operation_timeout`; `Failed` is an error.
//! While a conversion is `InProgress` the status is `unknown` (a `Failed` one:
//! `broken`), whatever `geoReplicationStats` says.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use dr_core::http::Method;
use dr_core::poll::{self, CancellationToken, Poll};
use dr_core::{
    ConfigError, ErrorKind, ProviderError, ReplicationState, ReplicationStatus, Replicator,
    ReplicatorCapabilities, Settings, async_trait,
};
use serde_json::{Value, json};

use super::config::StorageAccountConfig;
use super::{StorageAccount, is_geo_sku};
use crate::client::{api, str_at};
use crate::config::ArmConfig;
use crate::credential::TokenSource;
use crate::error::invalid;

/// A storage account's geo-replication.
#[derive(Debug)]
pub struct StorageAccountReplicator {
    account: StorageAccount,
}

impl StorageAccountReplicator {
    /// The replicator for `cfg`, named `resource` in errors.
    pub fn new(
        resource: &str,
        arm: ArmConfig,
        cfg: StorageAccountConfig,
        token: Arc<dyn TokenSource>,
    ) -> Result<Self, ConfigError> {
        Ok(StorageAccountReplicator {
            account: StorageAccount::new(resource, arm, cfg, token)?,
        })
    }

    /// Builds the replicator from a resource's settings.
    pub fn from_settings(s: &Settings, token: Arc<dyn TokenSource>) -> Result<Self, ConfigError> {
        Ok(StorageAccountReplicator {
            account: StorageAccount::from_settings(s, token)?,
        })
    }
}

/// The status of a storage account as read with `$expand=geoReplicationStats`.
pub(crate) fn storage_status(account: &Value, now: DateTime<Utc>) -> ReplicationStatus {
    let sku = str_at(account, &["sku", "name"]).unwrap_or("");
    let stats = account.pointer("/properties/geoReplicationStats");
    let status = stats
        .and_then(|s| s.get("status"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let since = || {
        account
            .pointer("/properties/storageAccountSkuConversionStatus/startTime")
            .and_then(Value::as_str)
            .map(|t| format!(" since {t}"))
            .unwrap_or_default()
    };
    match conversion(account) {
        Some(("InProgress", to)) => {
            return ReplicationStatus::new(ReplicationState::Unknown, None).with_detail(format!(
                "SKU conversion to {to} in progress{} (geo-redundancy is not back yet)",
                since()
            ));
        }
        Some(("Failed", to)) => {
            return ReplicationStatus::new(ReplicationState::Broken, None)
                .with_detail(format!("SKU conversion to {to} failed{}", since()));
        }
        _ => {}
    }
    if !is_geo_sku(sku) {
        return ReplicationStatus::new(ReplicationState::Broken, None);
    }
    let last_sync = stats
        .and_then(|s| s.get("lastSyncTime"))
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let mut out = match status {
        "Live" => ReplicationStatus::new(
            ReplicationState::Replicating,
            last_sync.map(|t| (now - t).to_std().unwrap_or(Duration::ZERO)),
        ),
        "Bootstrap" => ReplicationStatus::new(ReplicationState::Replicating, None),
        "Unavailable" => ReplicationStatus::new(ReplicationState::Broken, None),
        _ => ReplicationStatus::new(ReplicationState::Unknown, None),
    };
    out.last_sync = last_sync;
    out
}

/// The account's SKU conversion, if it reports one: (`skuConversionStatus`,
/// `targetSkuName`).
fn conversion(account: &Value) -> Option<(&str, &str)> {
    let c = account.pointer("/properties/storageAccountSkuConversionStatus")?;
    let status = c.get("skuConversionStatus").and_then(Value::as_str)?;
    Some((
        status,
        c.get("targetSkuName").and_then(Value::as_str).unwrap_or(""),
    ))
}

impl StorageAccountReplicator {
    /// Reads the account until its SKU conversion is no longer `InProgress`
    /// (each look logged with the conversion's start), within `operation_timeout`;
    /// `Failed` is an error. The account as last read.
    async fn await_conversion(&self, want: &str) -> Result<Value, ProviderError> {
        let a = &self.account;
        let (deadline, every) = a.arm.poll_bounds();
        let what = format!(
            "storage account `{}`: SKU conversion to `{want}`",
            a.cfg.account
        );
        let looks = std::sync::atomic::AtomicU32::new(0);
        poll::until(&what, deadline, every, &CancellationToken::new(), || {
            let n = looks.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let what = what.as_str();
            async move {
                let acct = a.read().await?;
                match conversion(&acct) {
                    Some(("InProgress", target)) => {
                        let since = acct
                            .pointer("/properties/storageAccountSkuConversionStatus/startTime")
                            .and_then(Value::as_str)
                            .unwrap_or("?");
                        tracing::info!(
                            account = %a.cfg.account,
                            target,
                            since,
                            looks = n,
                            "{what}: InProgress"
                        );
                        Ok(Poll::Pending)
                    }
                    Some(("Failed", target)) => Err(a.arm.answer(
                        ErrorKind::Fatal,
                        format!(
                            "{what}: skuConversionStatus is Failed (target `{target}`); the \
                             account is `{}`",
                            str_at(&acct, &["sku", "name"]).unwrap_or("?")
                        ),
                    )),
                    _ => Ok(Poll::Ready(acct)),
                }
            }
        })
        .await
        .map_err(ProviderError::from)
    }
}

#[async_trait]
impl Replicator for StorageAccountReplicator {
    fn capabilities(&self) -> ReplicatorCapabilities {
        let mut caps = ReplicatorCapabilities::observe_only();
        caps.reverse = true;
        caps
    }

    async fn status(&self) -> Result<ReplicationStatus, ProviderError> {
        Ok(storage_status(&self.account.read().await?, Utc::now()))
    }

    async fn stop(&self) -> Result<(), ProviderError> {
        Err(invalid(
            "storage account replication cannot be stopped on its own: datastore.promote fails the account over",
        ))
    }

    async fn reverse(&self) -> Result<(), ProviderError> {
        let a = &self.account;
        let acct = a.read().await?;
        let want = a.cfg.reverse_sku.as_str();
        if str_at(&acct, &["sku", "name"]) != Some(want) {
            let body = json!({ "sku": { "name": want } });
            a.arm
                .lro(Method::PATCH, &a.path(), api::STORAGE, &[], Some(&body))
                .await?;
        }
        let after = self.await_conversion(want).await?;
        let sku = str_at(&after, &["sku", "name"]).unwrap_or("");
        if sku != want {
            return Err(a.arm.answer(
                ErrorKind::Fatal,
                format!(
                    "storage account `{}`: the SKU is `{sku}` after setting `{want}`",
                    a.cfg.account
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_status_from_geo_replication_stats() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T08:00:30Z")
            .unwrap()
            .with_timezone(&Utc);
        let acct = |sku: &str, status: &str| {
            json!({"sku": {"name": sku}, "properties": {"geoReplicationStats": {
                "status": status, "lastSyncTime": "2026-11-22T08:00:00Z", "canFailover": true}}})
        };
        let live = storage_status(&acct("Standard_RAGRS", "Live"), now);
        assert_eq!(live.state, ReplicationState::Replicating);
        assert_eq!(live.lag, Some(Duration::from_secs(30)));
        let boot = storage_status(&acct("Standard_GRS", "Bootstrap"), now);
        assert_eq!(
            (boot.state, boot.lag),
            (ReplicationState::Replicating, None)
        );
        assert_eq!(
            storage_status(&acct("Standard_GRS", "Unavailable"), now).state,
            ReplicationState::Broken
        );
        assert_eq!(
            storage_status(&acct("Standard_LRS", "Live"), now).state,
            ReplicationState::Broken
        );
    }

    #[test]
    fn every_geo_sku_of_the_specification_replicates() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T08:00:30Z")
            .unwrap()
            .with_timezone(&Utc);
        for sku in [
            "Standard_GRS",
            "Standard_RAGRS",
            "Standard_GZRS",
            "Standard_RAGZRS",
            "StandardV2_GRS",
            "StandardV2_GZRS",
        ] {
            let a = json!({"sku": {"name": sku}, "properties": {"geoReplicationStats": {
                "status": "Live", "lastSyncTime": "2026-11-22T08:00:00Z"}}});
            assert_eq!(
                storage_status(&a, now).state,
                ReplicationState::Replicating,
                "{sku}"
            );
        }
        for sku in [
            "Standard_LRS",
            "Standard_ZRS",
            "StandardV2_LRS",
            "StandardV2_ZRS",
            "Premium_LRS",
            "Premium_ZRS",
            "PremiumV2_LRS",
            "PremiumV2_ZRS",
        ] {
            let a = json!({"sku": {"name": sku}, "properties": {"geoReplicationStats": {
                "status": "Live", "lastSyncTime": "2026-11-22T08:00:00Z"}}});
            assert_eq!(
                storage_status(&a, now).state,
                ReplicationState::Broken,
                "{sku}"
            );
        }
    }

    #[test]
    fn a_sku_conversion_in_progress_is_unknown_and_a_failed_one_broken() {
        let now = Utc::now();
        let a = |status: &str| {
            json!({"sku": {"name": "Standard_RAGRS"}, "properties": {
                "storageAccountSkuConversionStatus": {"skuConversionStatus": status, "targetSkuName": "Standard_RAGRS"},
                "geoReplicationStats": {"status": "Live", "lastSyncTime": "2026-11-22T08:00:00Z"}}})
        };
        assert_eq!(
            storage_status(&a("InProgress"), now).state,
            ReplicationState::Unknown
        );
        assert_eq!(
            storage_status(&a("Failed"), now).state,
            ReplicationState::Broken
        );
        assert_eq!(
            storage_status(&a("Succeeded"), now).state,
            ReplicationState::Replicating
        );
    }
}
