//! Storage account geo-replication and PostgreSQL read replicas as [`Replicator`]s.
//!
//! **Storage account**: the account's one geo-replication link.
//! `geoReplicationStats.status` `Live` is replicating with lag = now −
//! `lastSyncTime`; `Bootstrap` is replicating with unknown lag; `Unavailable`, or
//! an account that is no longer geo-redundant (LRS after an unplanned failover), is
//! broken. Replication of an account cannot be stopped on its own (a failover does
//! it), so `stop` is not offered; `reverse()` makes the account geo-redundant again
//! by PATCHing `sku.name` to `reverse_sku` (default `Standard_RAGRS`).
//!
//! **PostgreSQL flexible server**: the link *into* `server` (a replica).
//! `replica.replicationState` `Active`/`Catchup` is replicating, `Broken` broken,
//! the transitional states unknown; a server that is not a replica has no link
//! into it (broken). The lag is the newest `Maximum` of the Azure Monitor metric
//! `physical_replication_delay_in_seconds` of the replica in the last 15 minutes.
//! A replica stops replicating only by being promoted, so `stop` is not offered
//! (`datastore.promote` does it). `reverse()` re-protects the server after it was
//! promoted: it creates `reverse_replica` in `reverse_location` as its replica
//! (`PUT` with `createMode = "Replica"`), polled to the end; that replica already
//! existing as a replica of this server is `Ok`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use dr_core::http::Method;
use dr_core::{
    ConfigError, ErrorKind, ProviderError, ReplicationState, ReplicationStatus, Replicator,
    ReplicatorCapabilities, Settings, async_trait,
};
use serde_json::{Value, json};

use crate::client::{api, str_at};
use crate::config::{ArmConfig, PostgresConfig, StorageAccountConfig};
use crate::credential::TokenSource;
use crate::error::{conflict, invalid};
use crate::store::{PgServer, StorageAccount};

/// SKUs that replicate to a second region.
const GEO_SKUS: [&str; 4] = [
    "Standard_GRS",
    "Standard_RAGRS",
    "Standard_GZRS",
    "Standard_RAGZRS",
];

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
    if !GEO_SKUS.contains(&sku) {
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
        let after = a.read().await?;
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

/// The replication link into a PostgreSQL flexible server.
#[derive(Debug)]
pub struct PostgresReplicator {
    server: PgServer,
}

impl PostgresReplicator {
    /// The replicator for `cfg`, named `resource` in errors.
    pub fn new(
        resource: &str,
        arm: ArmConfig,
        cfg: PostgresConfig,
        token: Arc<dyn TokenSource>,
    ) -> Result<Self, ConfigError> {
        Ok(PostgresReplicator {
            server: PgServer::new(resource, arm, cfg, token)?,
        })
    }

    /// Builds the replicator from a resource's settings.
    pub fn from_settings(s: &Settings, token: Arc<dyn TokenSource>) -> Result<Self, ConfigError> {
        Ok(PostgresReplicator {
            server: PgServer::from_settings(s, token)?,
        })
    }
}

#[async_trait]
impl Replicator for PostgresReplicator {
    fn capabilities(&self) -> ReplicatorCapabilities {
        let mut caps = ReplicatorCapabilities::observe_only();
        caps.reverse = self.server.cfg.reverse_replica.is_some();
        caps
    }

    async fn status(&self) -> Result<ReplicationStatus, ProviderError> {
        let st = self.server.read().await?;
        if !st.is_replica() {
            return Ok(ReplicationStatus::new(ReplicationState::Broken, None));
        }
        let state = match st.replication_state.as_deref() {
            Some("Active" | "Catchup") => ReplicationState::Replicating,
            Some("Broken") => ReplicationState::Broken,
            _ => ReplicationState::Unknown,
        };
        let lag = self
            .server
            .arm
            .latest_metric(
                &st.id,
                "physical_replication_delay_in_seconds",
                "Maximum",
                None,
            )
            .await?;
        Ok(ReplicationStatus::new(
            state,
            lag.as_ref()
                .map(|(secs, _)| Duration::from_secs_f64(secs.max(0.0))),
        ))
    }

    async fn stop(&self) -> Result<(), ProviderError> {
        Err(invalid(
            "a PostgreSQL flexible server replica stops replicating only by being promoted: \
             use datastore.promote",
        ))
    }

    async fn reverse(&self) -> Result<(), ProviderError> {
        let s = &self.server;
        let (Some(name), Some(location)) = (&s.cfg.reverse_replica, &s.cfg.reverse_location) else {
            return Err(invalid(
                "reverse needs `reverse_replica` and `reverse_location`",
            ));
        };
        let me = s.read().await?;
        if me.is_replica() {
            return Err(conflict(format!(
                "server `{}` is still a replica: promote it before re-protecting it",
                s.cfg.server
            )));
        }
        let path = s.path_of(name);
        let is_ours = |v: &Value| {
            let st = s.parse(v);
            st.is_replica()
                && st
                    .source
                    .as_deref()
                    .is_some_and(|src| src.eq_ignore_ascii_case(&me.id))
        };
        match s.arm.get_opt(&path, api::POSTGRES).await? {
            Some(v) if is_ours(&v) => return Ok(()),
            Some(_) => {
                return Err(conflict(format!(
                    "server `{name}` exists and is not a replica of `{}`",
                    s.cfg.server
                )));
            }
            None => {}
        }
        let body = json!({
            "location": location,
            "properties": { "createMode": "Replica", "sourceServerResourceId": me.id },
        });
        s.arm
            .lro(Method::PUT, &path, api::POSTGRES, &[], Some(&body))
            .await?;
        match s.arm.get_opt(&path, api::POSTGRES).await? {
            Some(v) if is_ours(&v) => Ok(()),
            _ => Err(s.arm.answer(
                ErrorKind::Fatal,
                format!(
                    "server `{name}` is not a replica of `{}` after its creation",
                    s.cfg.server
                ),
            )),
        }
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
}
