//! A PostgreSQL flexible server as a [`DataStore`].
//!
//! The role comes from `replicationRole` (`Primary` and `None` are writable
//! servers, reported as `primary`; `AsyncReplica`/`GeoAsyncReplica` a replica of
//! `sourceServerResourceId`). `promote()` PATCHes `replica.promoteMode` /
//! `replica.promoteOption` (`promote_option` in a graceful run, `Forced` in an
//! ungraceful one) and polls the operation, then undoes a read-only fence
//! (`default_transaction_read_only` back to `off`) of a running server.
//! `fence()` follows `fence`: `read_only` sets server parameter
//! `default_transaction_read_only = on` through the configurations API (dynamic,
//! and it persists when Azure starts a stopped server again after 7 days or for
//! maintenance); `stop` stops the server (`POST .../stop`: no connection at all,
//! until Azure starts it); `both` (default) does the first, then the second.
//! `writable()` is a primary whose `state` is `Ready` and whose
//! `default_transaction_read_only` is not `on`.

use std::sync::Arc;

use dr_core::http::Method;
use dr_core::{
    ConfigError, DataStore, ErrorKind, Promotion, ProviderError, Role, RunMode, Settings,
    StoreCapabilities, async_trait,
};
use serde_json::json;

use super::config::{PostgresConfig, PromoteMode, PromoteOption};
use super::{PgServer, READ_ONLY};
use crate::client::api;
use crate::config::ArmConfig;
use crate::credential::TokenSource;
use crate::error::{conflict, invalid};

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

impl PostgresStore {
    /// After a promotion (or of a server already primary): a running server's
    /// read-only fence is undone (`default_transaction_read_only` back to `off`),
    /// so the promoted server takes writes. A stopped server is left as it is
    /// (it takes no parameter change; `writable()` says false).
    /// Undoes a fence on a primary promoted again (failback): starts it when
    /// the fence stopped it, then sets `default_transaction_read_only` back
    /// to `off` (a stopped server takes no parameter change).
    async fn undo_read_only(&self, state: &str) -> Result<(), ProviderError> {
        let s = &self.server;
        if state == "Stopped" {
            s.arm
                .lro(
                    Method::POST,
                    &format!("{}/start", s.path_of(&s.cfg.server)),
                    api::POSTGRES,
                    &[],
                    None,
                )
                .await?;
            let after = s.read().await?;
            if after.state != "Ready" {
                return Err(s.arm.answer(
                    ErrorKind::Fatal,
                    format!(
                        "server `{}`: after the start its state is `{}`",
                        s.cfg.server, after.state
                    ),
                ));
            }
        }
        s.set_read_only(false).await
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
        if st.is_replica() || st.state != "Ready" {
            return Ok(false);
        }
        Ok(!self.server.read_only().await?)
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
            return self.undo_read_only(&st.state).await;
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
        self.undo_read_only(&after.state).await
    }

    /// `fence`: `read_only` first (a stopped server takes no parameter change),
    /// then `stop`.
    async fn fence(&self) -> Result<(), ProviderError> {
        let s = &self.server;
        let fence = s.cfg.fence;
        let st = s.read().await?;
        if fence.read_only() {
            if st.state == "Stopped" {
                if !s.read_only().await? {
                    return Err(conflict(format!(
                        "server `{}` is stopped and {READ_ONLY} is not `on`: a stopped server \
                         takes no parameter change, and Azure starts it again after 7 days or \
                         for maintenance; start it and fence again (or set fence = \"stop\")",
                        s.cfg.server
                    )));
                }
            } else {
                s.set_read_only(true).await?;
            }
        }
        if !fence.stop() {
            return Ok(());
        }
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
