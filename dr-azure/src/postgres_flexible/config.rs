//! Settings of `provider = "azure.postgres_flexible"`.

use dr_core::{ConfigError, Settings};
use serde::Deserialize;

use crate::config::specific;

/// `promote_mode` of a PostgreSQL flexible server replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromoteMode {
    /// Detach the replica: it becomes a standalone read-write server.
    Standalone,
    /// Swap roles with its primary (needs virtual endpoints).
    Switchover,
}

/// `promote_option` of a PostgreSQL flexible server replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromoteOption {
    /// Wait until the replica has caught up.
    Planned,
    /// Promote at once.
    Forced,
}

/// How `datastore.fence` fences a PostgreSQL flexible server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PgFence {
    /// Server parameter `default_transaction_read_only = on` (dynamic, no restart):
    /// persists when Azure starts the server again, but a session can still
    /// `SET TRANSACTION READ WRITE`.
    ReadOnly,
    /// Stop the server: no connection at all, until Azure starts it again (after 7
    /// days, or for maintenance).
    Stop,
    /// `read_only`, then `stop` (the default): nothing connects while stopped, and
    /// the server comes back read-only if Azure starts it.
    Both,
}

impl PgFence {
    /// Whether the fence sets `default_transaction_read_only`.
    pub fn read_only(self) -> bool {
        matches!(self, PgFence::ReadOnly | PgFence::Both)
    }

    /// Whether the fence stops the server.
    pub fn stop(self) -> bool {
        matches!(self, PgFence::Stop | PgFence::Both)
    }
}

/// `provider = "azure.postgres_flexible"`.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// The server this resource stands for.
    pub server: String,
    /// `standalone` (default) or `switchover`.
    #[serde(default = "standalone")]
    pub promote_mode: PromoteMode,
    /// `planned` (default) or `forced`.
    #[serde(default = "planned")]
    pub promote_option: PromoteOption,
    /// The replica `replication.reverse` creates of this server.
    #[serde(default)]
    pub reverse_replica: Option<String>,
    /// Where `reverse_replica` is created.
    #[serde(default)]
    pub reverse_location: Option<String>,
    /// `read_only`, `stop` or `both` (default).
    #[serde(default = "both")]
    pub fence: PgFence,
    /// The delegated subnet of `reverse_replica` when `server` is in a virtual
    /// network (default: `server`'s; a subnet is regional, so set it when
    /// `reverse_location` is another region).
    #[serde(default)]
    pub reverse_subnet: Option<String>,
    /// The private DNS zone of `reverse_replica` (default: `server`'s).
    #[serde(default)]
    pub reverse_private_dns_zone: Option<String>,
}

fn both() -> PgFence {
    PgFence::Both
}

fn standalone() -> PromoteMode {
    PromoteMode::Standalone
}
fn planned() -> PromoteOption {
    PromoteOption::Planned
}

impl PostgresConfig {
    /// `server` with the defaults (standalone, planned; no reverse; fence both).
    pub fn new(server: impl Into<String>) -> Self {
        PostgresConfig {
            server: server.into(),
            promote_mode: PromoteMode::Standalone,
            promote_option: PromoteOption::Planned,
            reverse_replica: None,
            reverse_location: None,
            fence: PgFence::Both,
            reverse_subnet: None,
            reverse_private_dns_zone: None,
        }
    }

    /// Replaces the fence.
    pub fn with_fence(mut self, fence: PgFence) -> Self {
        self.fence = fence;
        self
    }

    /// Replaces the promote option.
    pub fn with_promote_option(mut self, option: PromoteOption) -> Self {
        self.promote_option = option;
        self
    }

    /// `replication.reverse` creates `replica` in `location`.
    pub fn with_reverse(mut self, replica: impl Into<String>, location: impl Into<String>) -> Self {
        self.reverse_replica = Some(replica.into());
        self.reverse_location = Some(location.into());
        self
    }

    /// Reads the resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        settings.str("server")?;
        let cfg: PostgresConfig = specific(settings)?;
        if cfg.reverse_replica.is_some() != cfg.reverse_location.is_some() {
            return Err(ConfigError::key(
                if cfg.reverse_replica.is_some() {
                    "reverse_location"
                } else {
                    "reverse_replica"
                },
                "`reverse_replica` and `reverse_location` go together",
            ));
        }
        Ok(cfg)
    }
}
