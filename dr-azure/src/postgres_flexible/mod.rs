//! `azure.postgres_flexible` (feature `postgres_flexible`): a PostgreSQL
//! flexible server as a [`DataStore`](dr_core::DataStore) (promote a read replica,
//! fence by `default_transaction_read_only = on` and/or stopping the server) and the replication link into it as a
//! [`Replicator`](dr_core::Replicator) (lag from the Azure Monitor metric
//! `physical_replication_delay_in_seconds`, reverse by creating a replica of the
//! new primary).

mod config;
mod replicator;
mod store;

use std::sync::Arc;

use dr_core::http::Method;
use dr_core::{ConfigError, ErrorKind, ProviderError, Registry, Settings};
use serde_json::{Value, json};

pub use config::{PgFence, PostgresConfig, PromoteMode, PromoteOption};
pub use replicator::PostgresReplicator;
pub use store::PostgresStore;

use crate::client::{Arm, api, str_at};
use crate::config::ArmConfig;
use crate::credential::TokenSource;

/// The server parameter of the read-only fence.
pub(crate) const READ_ONLY: &str = "default_transaction_read_only";

/// `provider = "azure.postgres_flexible"`.
pub const POSTGRES_FLEXIBLE: &str = "azure.postgres_flexible";

/// Registers the store and the replicator.
pub(crate) fn register(registry: &mut Registry, token: Arc<dyn TokenSource>) {
    let t = token.clone();
    registry.store(POSTGRES_FLEXIBLE, move |s| {
        Ok(Arc::new(PostgresStore::from_settings(s, t.clone())?))
    });
    let t = token;
    registry.replicator(POSTGRES_FLEXIBLE, move |s| {
        Ok(Arc::new(PostgresReplicator::from_settings(s, t.clone())?))
    });
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

    /// The ARM path of server parameter `name` of `server`.
    fn configuration_path(&self, name: &str) -> String {
        format!("{}/configurations/{name}", self.path_of(&self.cfg.server))
    }

    /// `default_transaction_read_only` of the server: whether it is `on`.
    pub(crate) async fn read_only(&self) -> Result<bool, ProviderError> {
        let v = self
            .arm
            .get(&self.configuration_path(READ_ONLY), api::POSTGRES, &[])
            .await?;
        Ok(str_at(&v, &["properties", "value"]).is_some_and(|v| v.eq_ignore_ascii_case("on")))
    }

    /// Sets `default_transaction_read_only` to `on` or `off` (`source:
    /// user-override`; dynamic, no restart) unless it already is, through the
    /// configurations API (a long-running operation), and reads it back.
    pub(crate) async fn set_read_only(&self, on: bool) -> Result<(), ProviderError> {
        if self.read_only().await? == on {
            return Ok(());
        }
        let value = if on { "on" } else { "off" };
        let body = json!({ "properties": { "value": value, "source": "user-override" } });
        self.arm
            .lro(
                Method::PUT,
                &self.configuration_path(READ_ONLY),
                api::POSTGRES,
                &[],
                Some(&body),
            )
            .await?;
        if self.read_only().await? != on {
            return Err(self.arm.answer(
                ErrorKind::Fatal,
                format!(
                    "server `{}`: {READ_ONLY} is not `{value}` after setting it",
                    self.cfg.server
                ),
            ));
        }
        Ok(())
    }

    pub(crate) async fn read(&self) -> Result<PgState, ProviderError> {
        let v = self
            .arm
            .get(&self.path_of(&self.cfg.server), api::POSTGRES, &[])
            .await?;
        Ok(self.parse(&v))
    }
}
