//! The replication link into a PostgreSQL flexible server as a [`Replicator`].
//!
//! The link *into* `server` (a replica). `replica.replicationState`
//! `Active`/`Catchup` is replicating, `Broken` broken, the transitional states
//! unknown; a server that is not a replica has no link into it (broken). The lag
//! is the newest `Maximum` of the Azure Monitor metric
//! `physical_replication_delay_in_seconds` of the replica in the last 15 minutes.
//! A replica stops replicating only by being promoted, so `stop` is not offered
//! (`datastore.promote` does it). `reverse()` re-protects the server after it was
//! promoted: it creates `reverse_replica` in `reverse_location` as its replica
//! (`PUT` with `createMode = "Replica"`), polled to the end; that replica already
//! existing as a replica of this server is `Ok`.

use std::sync::Arc;

use dr_core::http::Method;
use dr_core::{
    ConfigError, ErrorKind, ProviderError, ReplicationState, ReplicationStatus, Replicator,
    ReplicatorCapabilities, Settings, async_trait,
};
use serde_json::{Value, json};

use super::PgServer;
use super::config::PostgresConfig;
use crate::client::api;
use crate::config::ArmConfig;
use crate::credential::TokenSource;
use crate::error::{conflict, invalid};

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
                .and_then(|(secs, _)| dr_core::lag_from_secs(*secs)),
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
