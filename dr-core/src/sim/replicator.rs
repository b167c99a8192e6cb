//! `sim.replicator`: a replication link with a fixed lag.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use super::state::ResourceState;
use super::{Common, SimWorld, opt_duration};
use crate::{
    ConfigError, ProviderError, ReplicationState, ReplicationStatus, Replicator,
    ReplicatorCapabilities, Settings,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplicatorConfig {
    #[serde(default)]
    lag: Option<String>,
    #[serde(default)]
    state: Option<ReplicationState>,
    #[serde(default)]
    latency: Option<String>,
    #[serde(default)]
    fail_first: Option<u64>,
    #[serde(default)]
    state_file: Option<PathBuf>,
}

/// A simulated replication link: `lag = "3s"` (default 0s), `state =
/// "replicating"|"paused"|"broken"|"unknown"` (default replicating).
///
/// Capabilities: stop, reverse. `stop()` pauses the link (counted when it was not
/// paused); `reverse()` makes it replicate again, reversed (counted when it was
/// not already replicating reversed). `status()` always reports `lag`.
#[derive(Debug)]
pub struct SimReplicator {
    common: Common,
    initial: ReplicationState,
    lag: Duration,
}

impl SimReplicator {
    /// Builds the replicator from a plan resource's settings; without a
    /// `state_file` its state lives in `world`.
    pub fn from_settings(settings: &Settings, world: &SimWorld) -> Result<Self, ConfigError> {
        let cfg: ReplicatorConfig = settings.deserialize()?;
        Ok(SimReplicator {
            common: Common::new(
                settings,
                "sim.replicator",
                cfg.latency.as_deref(),
                cfg.fail_first,
                cfg.state_file,
                world,
            )?,
            initial: cfg.state.unwrap_or(ReplicationState::Replicating),
            lag: opt_duration("lag", cfg.lag.as_deref())?,
        })
    }

    fn link_in(&self, state: &ResourceState) -> ReplicationState {
        state.link.unwrap_or(self.initial)
    }
}

#[async_trait]
impl Replicator for SimReplicator {
    fn capabilities(&self) -> ReplicatorCapabilities {
        ReplicatorCapabilities::full()
    }

    async fn status(&self) -> Result<ReplicationStatus, ProviderError> {
        self.common
            .read("status", |state, _| {
                ReplicationStatus::new(self.link_in(state), Some(self.lag))
            })
            .await
    }

    async fn stop(&self) -> Result<(), ProviderError> {
        self.common
            .mutate("stop", |state| {
                if self.link_in(state) == ReplicationState::Paused {
                    return Ok(false);
                }
                state.link = Some(ReplicationState::Paused);
                Ok(true)
            })
            .await
    }

    async fn reverse(&self) -> Result<(), ProviderError> {
        self.common
            .mutate("reverse", |state| {
                if self.link_in(state) == ReplicationState::Replicating && state.reversed {
                    return Ok(false);
                }
                state.link = Some(ReplicationState::Replicating);
                state.reversed = true;
                Ok(true)
            })
            .await
    }
}
