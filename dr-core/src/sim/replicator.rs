//! `sim.replicator`: a replication link with a fixed lag, and the link logic
//! `sim.store` shares.

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
    #[serde(default)]
    divergence: Option<SimDivergence>,
}

/// `divergence = 4096` (bytes the old source accepted that a reverse would
/// throw away) or `divergence = "unknown"`; default 0.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub(super) enum SimDivergence {
    Bytes(u64),
    Unknown(UnknownWord),
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum UnknownWord {
    Unknown,
}

impl SimDivergence {
    /// The bytes, `None` for unknown; 0 when not set.
    pub fn of(setting: Option<SimDivergence>) -> Option<u64> {
        match setting {
            None => Some(0),
            Some(SimDivergence::Bytes(n)) => Some(n),
            Some(SimDivergence::Unknown(_)) => None,
        }
    }
}

/// A simulated replication link: `lag = "3s"` (default 0s), `state =
/// "replicating"|"paused"|"broken"|"unknown"` (default replicating),
/// `divergence = N | "unknown"` (bytes a reverse would discard, default 0;
/// 0 once reversed).
///
/// Capabilities: stop, reverse. `stop()` pauses the link (counted when it was not
/// paused); `reverse()` makes it replicate again, reversed (counted when it was
/// not already replicating reversed). `status()` always reports `lag`. A
/// `sim.store` is a replicator too and behaves the same (one implementation).
#[derive(Debug)]
pub struct SimReplicator {
    common: Common,
    link: Link,
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
            link: Link {
                initial: cfg.state.unwrap_or(ReplicationState::Replicating),
                lag: opt_duration("lag", cfg.lag.as_deref())?,
                divergence: SimDivergence::of(cfg.divergence),
            },
        })
    }
}

#[async_trait]
impl Replicator for SimReplicator {
    fn capabilities(&self) -> ReplicatorCapabilities {
        Link::capabilities()
    }

    async fn status(&self) -> Result<ReplicationStatus, ProviderError> {
        self.link.status(&self.common).await
    }

    async fn stop(&self) -> Result<(), ProviderError> {
        self.link.stop(&self.common).await
    }

    async fn reverse(&self) -> Result<(), ProviderError> {
        self.link.reverse(&self.common).await
    }

    async fn divergence(&self) -> Result<Option<u64>, ProviderError> {
        self.link.divergence(&self.common).await
    }
}

/// The replicator behaviour of every sim resource that is one (`sim.replicator`,
/// and `sim.store` as the link into the store), written once.
///
/// The link's state lives in the resource's `link` and `reversed` fields; `None`
/// means `initial` (what the settings say).
/// - `status()`: the state, and always `lag`;
/// - `stop()`: `Paused`; a no-op (not counted) when already paused;
/// - `reverse()`: re-protect, i.e. replicate from the new primary back to the old
///   one: `Replicating` *and* reversed. A no-op only when the link is already
///   replicating reversed: a link still replicating the original way is not
///   re-protected, so reversing it takes effect and counts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Link {
    /// The state before anything changed it.
    pub initial: ReplicationState,
    /// The lag `status()` reports.
    pub lag: Duration,
    /// What a reverse would discard (`divergence`; `None`: unknown).
    pub divergence: Option<u64>,
}

impl Link {
    pub fn capabilities() -> ReplicatorCapabilities {
        let mut caps = ReplicatorCapabilities::full();
        caps.discards = true;
        caps
    }

    /// `divergence` until the link is reversed, then 0.
    pub async fn divergence(&self, common: &Common) -> Result<Option<u64>, ProviderError> {
        common
            .read("divergence", |state, _| {
                if state.reversed {
                    Some(0)
                } else {
                    self.divergence
                }
            })
            .await
    }

    /// The link's state in `state`.
    pub fn state_in(&self, state: &ResourceState) -> ReplicationState {
        state.link.unwrap_or(self.initial)
    }

    pub async fn status(&self, common: &Common) -> Result<ReplicationStatus, ProviderError> {
        common
            .read("status", |state, _| {
                ReplicationStatus::new(self.state_in(state), Some(self.lag))
            })
            .await
    }

    pub async fn stop(&self, common: &Common) -> Result<(), ProviderError> {
        common
            .mutate("stop", |state| {
                if self.state_in(state) == ReplicationState::Paused {
                    return Ok(false);
                }
                state.link = Some(ReplicationState::Paused);
                Ok(true)
            })
            .await
    }

    pub async fn reverse(&self, common: &Common) -> Result<(), ProviderError> {
        common
            .mutate("reverse", |state| {
                if self.state_in(state) == ReplicationState::Replicating && state.reversed {
                    return Ok(false);
                }
                state.link = Some(ReplicationState::Replicating);
                state.reversed = true;
                Ok(true)
            })
            .await
    }
}
