//! Storage accounts and PostgreSQL flexible servers as [`DataStore`]s.
//!
//! **Storage account** (`azure.storage_account`): the resource stands for one
//! region (`location`) of a geo-redundant account. Its role is `primary` when the
//! account's `primaryLocation` is that region, `replica` when it is the
//! `secondaryLocation`. `promote()` is an account failover (`POST .../failover`,
//! `failoverType=Planned` for `failover_type = "planned"`), refused before any call
//! when `geoReplicationStats.canFailover` (`canPlannedFailover`) is false, polled
//! to the end and verified by reading `primaryLocation` back. A storage account
//! cannot refuse writes on request, so `fence` is not offered, and neither is
//! `flush`.
//!
//! **PostgreSQL flexible server** (`azure.postgres_flexible`): the role comes from
//! `replicationRole` (`Primary` and `None` are writable servers, reported as
//! `primary`; `AsyncReplica`/`GeoAsyncReplica` a replica of
//! `sourceServerResourceId`). `promote()` PATCHes `replica.promoteMode` /
//! `replica.promoteOption` and polls the operation; `fence()` stops the server
//! (`POST .../stop`): a stopped server accepts no connection at all, which is the
//! only write fence ARM offers. `writable()` is a primary whose `state` is `Ready`.

use std::sync::Arc;

use dr_core::http::Method;
use dr_core::{
    ConfigError, DataStore, ErrorKind, ProviderError, Role, Settings, StoreCapabilities,
    async_trait,
};
use serde_json::{Value, json};

use crate::client::{Arm, api, str_at};
use crate::config::{
    ArmConfig, FailoverType, PostgresConfig, PromoteMode, PromoteOption, StorageAccountConfig,
};
use crate::credential::TokenSource;
use crate::error::{conflict, invalid};

/// `provider = "azure.storage_account"`.
pub const STORAGE_ACCOUNT: &str = "azure.storage_account";
/// `provider = "azure.postgres_flexible"`.
pub const POSTGRES_FLEXIBLE: &str = "azure.postgres_flexible";

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
        let a = &self.account;
        let acct = a.read().await?;
        if a.role_of(&acct)? == Role::Primary {
            return Ok(());
        }
        let planned = a.cfg.failover_type == FailoverType::Planned;
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

/// A PostgreSQL flexible server; shared by the store and the replicator.
#[derive(Debug)]
pub(crate) struct PgServer {
    pub(crate) arm: Arm,
    pub(crate) cfg: PostgresConfig,
}

/// What a GET of a server says.
#[derive(Debug, Clone)]
pub(crate) struct PgState {
    pub role: String,
    pub source: Option<String>,
    pub state: String,
    pub replication_state: Option<String>,
    pub id: String,
}

impl PgState {
    pub(crate) fn is_replica(&self) -> bool {
        matches!(self.role.as_str(), "AsyncReplica" | "GeoAsyncReplica")
    }
}

impl PgServer {
    pub(crate) fn new(
        resource: &str,
        arm: ArmConfig,
        cfg: PostgresConfig,
        token: Arc<dyn TokenSource>,
    ) -> Result<Self, ConfigError> {
        Ok(PgServer {
            arm: Arm::new(POSTGRES_FLEXIBLE, resource, arm, token)?,
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
            PostgresConfig::from_settings(s)?,
            token,
        )
    }

    pub(crate) fn path_of(&self, server: &str) -> String {
        self.arm.path(&format!(
            "Microsoft.DBforPostgreSQL/flexibleServers/{server}"
        ))
    }

    pub(crate) fn parse(&self, v: &Value) -> PgState {
        let p = |k: &str| str_at(v, &["properties", k]).map(str::to_string);
        PgState {
            role: p("replicationRole").unwrap_or_else(|| "None".into()),
            source: p("sourceServerResourceId").filter(|s| !s.is_empty()),
            state: p("state").unwrap_or_default(),
            replication_state: str_at(v, &["properties", "replica", "replicationState"])
                .map(str::to_string),
            id: v
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        }
    }

    pub(crate) async fn read(&self) -> Result<PgState, ProviderError> {
        let v = self
            .arm
            .get(&self.path_of(&self.cfg.server), api::POSTGRES, &[])
            .await?;
        Ok(self.parse(&v))
    }
}

/// A PostgreSQL flexible server as a store.
#[derive(Debug)]
pub struct PostgresStore {
    server: PgServer,
}

impl PostgresStore {
    /// The store for `cfg`, named `resource` in errors.
    pub fn new(
        resource: &str,
        arm: ArmConfig,
        cfg: PostgresConfig,
        token: Arc<dyn TokenSource>,
    ) -> Result<Self, ConfigError> {
        Ok(PostgresStore {
            server: PgServer::new(resource, arm, cfg, token)?,
        })
    }

    /// Builds the store from a resource's settings.
    pub fn from_settings(s: &Settings, token: Arc<dyn TokenSource>) -> Result<Self, ConfigError> {
        Ok(PostgresStore {
            server: PgServer::from_settings(s, token)?,
        })
    }
}

#[async_trait]
impl DataStore for PostgresStore {
    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities::promote_and_fence()
    }

    async fn role(&self) -> Result<Role, ProviderError> {
        let st = self.server.read().await?;
        Ok(if st.is_replica() {
            Role::Replica { of: st.source }
        } else {
            Role::Primary
        })
    }

    async fn writable(&self) -> Result<bool, ProviderError> {
        let st = self.server.read().await?;
        Ok(!st.is_replica() && st.state == "Ready")
    }

    async fn promote(&self) -> Result<(), ProviderError> {
        let s = &self.server;
        let st = s.read().await?;
        if !st.is_replica() {
            return Ok(());
        }
        let mode = match s.cfg.promote_mode {
            PromoteMode::Standalone => "Standalone",
            PromoteMode::Switchover => "Switchover",
        };
        let option = match s.cfg.promote_option {
            PromoteOption::Planned => "Planned",
            PromoteOption::Forced => "Forced",
        };
        let body = json!({ "properties": { "replica": { "promoteMode": mode, "promoteOption": option } } });
        s.arm
            .lro(
                Method::PATCH,
                &s.path_of(&s.cfg.server),
                api::POSTGRES,
                &[],
                Some(&body),
            )
            .await?;
        let after = s.read().await?;
        if after.is_replica() {
            return Err(s.arm.answer(
                ErrorKind::Fatal,
                format!(
                    "server `{}`: the promotion finished but replicationRole is still `{}`",
                    s.cfg.server, after.role
                ),
            ));
        }
        Ok(())
    }

    async fn fence(&self) -> Result<(), ProviderError> {
        let s = &self.server;
        let st = s.read().await?;
        if st.state != "Stopped" {
            s.arm
                .lro(
                    Method::POST,
                    &format!("{}/stop", s.path_of(&s.cfg.server)),
                    api::POSTGRES,
                    &[],
                    None,
                )
                .await?;
        }
        let after = s.read().await?;
        if after.state != "Stopped" {
            return Err(s.arm.answer(
                ErrorKind::Fatal,
                format!(
                    "server `{}`: after the stop its state is `{}`",
                    s.cfg.server, after.state
                ),
            ));
        }
        Ok(())
    }

    async fn flush(&self) -> Result<(), ProviderError> {
        Err(invalid(
            "a PostgreSQL server is not a cache: flush is not offered",
        ))
    }
}
