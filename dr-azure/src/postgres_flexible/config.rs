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
}

fn standalone() -> PromoteMode {
    PromoteMode::Standalone
}
fn planned() -> PromoteOption {
    PromoteOption::Planned
}

impl PostgresConfig {
    /// `server` with the defaults (standalone, planned; no reverse).
    pub fn new(server: impl Into<String>) -> Self {
        PostgresConfig {
            server: server.into(),
            promote_mode: PromoteMode::Standalone,
            promote_option: PromoteOption::Planned,
            reverse_replica: None,
            reverse_location: None,
        }
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
