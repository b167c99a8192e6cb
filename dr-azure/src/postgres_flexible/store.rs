//! A PostgreSQL flexible server as a [`DataStore`].
//!
//! The role comes from `replicationRole` (`Primary` and `None` are writable
//! servers, reported as `primary`; `AsyncReplica`/`GeoAsyncReplica` a replica of
//! `sourceServerResourceId`). `promote()` PATCHes `replica.promoteMode` /
//! `replica.promoteOption` (`promote_option` in a graceful run, `Forced` in an
//! ungraceful one) and polls the operation; `fence()` stops the server
//! (`POST .../stop`): a stopped server accepts no connection at all, which is the
//! only write fence ARM offers. `writable()` is a primary whose `state` is `Ready`.

use std::sync::Arc;

use dr_core::http::Method;
use dr_core::{
    ConfigError, DataStore, ErrorKind, Promotion, ProviderError, Role, RunMode, Settings,
    StoreCapabilities, async_trait,
};
use serde_json::json;

use super::PgServer;
use super::config::{PostgresConfig, PromoteMode, PromoteOption};
use crate::client::api;
use crate::config::ArmConfig;
use crate::credential::TokenSource;
use crate::error::invalid;

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
        let mut caps = StoreCapabilities::promote_and_fence();
        caps.modes = true;
        caps
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
        self.promote_with(Promotion::new(RunMode::Graceful)).await
    }

    /// `promote_option` in a graceful run (default `planned`); `Forced` in an
    /// ungraceful one, whatever `promote_option` says.
    async fn promote_with(&self, how: Promotion) -> Result<(), ProviderError> {
        let s = &self.server;
        let st = s.read().await?;
        if !st.is_replica() {
            return Ok(());
        }
        let mode = match s.cfg.promote_mode {
            PromoteMode::Standalone => "Standalone",
            PromoteMode::Switchover => "Switchover",
        };
        let option = match (how.mode, s.cfg.promote_option) {
            (RunMode::Graceful, PromoteOption::Planned) => "Planned",
            (RunMode::Graceful, PromoteOption::Forced) | (RunMode::Ungraceful, _) => "Forced",
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
