//! Replication links: how far behind is the copy, and how to break or reverse it.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Preflight, ProviderError};

/// The state of a replication link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplicationState {
    /// Changes flow from source to target.
    Replicating,
    /// The link exists but does not flow (stopped on purpose).
    Paused,
    /// The link is down or failed.
    Broken,
    /// The provider cannot tell.
    Unknown,
}

impl ReplicationState {
    /// `replicating`, `paused`, `broken` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicationState::Replicating => "replicating",
            ReplicationState::Paused => "paused",
            ReplicationState::Broken => "broken",
            ReplicationState::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ReplicationState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`Replicator::status`] observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationStatus {
    /// The link's state.
    pub state: ReplicationState,
    /// How far the target is behind, as time (the RPO if the source died now).
    #[serde(default, with = "crate::duration::opt_millis", rename = "lag_ms")]
    pub lag: Option<Duration>,
    /// How far the target is behind, in bytes, where the provider measures that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_bytes: Option<u64>,
    /// When the target was last known to be in sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<DateTime<Utc>>,
    /// What else the provider says about the link (a storage account's SKU
    /// conversion in progress): `dr check` and `dr status` show it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ReplicationStatus {
    /// A status with the given state and lag.
    pub fn new(state: ReplicationState, lag: Option<Duration>) -> Self {
        ReplicationStatus {
            state,
            lag,
            lag_bytes: None,
            last_sync: None,
            detail: None,
        }
    }

    /// Adds what else the provider says about the link.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// What a replicator can do.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplicatorCapabilities {
    /// `stop()` is supported.
    pub stop: bool,
    /// `reverse()` is supported.
    pub reverse: bool,
    /// `reverse()` makes the old source a copy of the new primary, so what only
    /// the old source has (what it accepted after the new primary's last
    /// replicated byte) is thrown away; [`Replicator::divergence`] says how
    /// much, and the executor refuses a reverse that would discard writes
    /// (or cannot tell) unless the run accepts data loss. False (the
    /// default): the reverse keeps every write (a mirror rule, a SKU change).
    pub discards: bool,
}

impl ReplicatorCapabilities {
    /// Supports both `stop` and `reverse`.
    pub fn full() -> Self {
        ReplicatorCapabilities {
            stop: true,
            reverse: true,
            discards: false,
        }
    }

    /// Observes only (status, lag).
    pub fn observe_only() -> Self {
        Self::default()
    }
}

/// One replication link from a source to a target.
///
/// # Contract
///
/// - `status()` has no side effect. `lag` is `None` when the provider cannot
///   measure it; the executor's RPO gate then refuses unless `--accept-data-loss`.
/// - `stop()` breaks the link so the target can be promoted; afterwards `status()`
///   is not `Replicating`. Stopping a stopped link is `Ok` and changes nothing.
/// - `reverse()` re-protects after a failover: the old source becomes a replica of
///   the new primary. Reversing an already reversed link is `Ok` and changes nothing.
/// - `divergence()` (for a replicator whose reverse [`discards`]) has no side
///   effect: how many bytes the old source accepted after the last byte the new
///   primary received, which a reverse would throw away; `Some(0)` when nothing
///   (also once the link is reversed), `None` when it cannot tell.
/// - `reverse_preflight()` is what `dr check` asks of a link a plan reverses,
///   before the run: whether what `reverse()` needs holds now (what it must
///   carry over to the new copy can be carried). Read only, and never needing
///   the failover to have happened. Each [`Preflight`] is one finding of the
///   `replication.reverse` step (its message never a secret); an `Err` is a
///   preflight that could not read, which `dr check` reports as not ok.
///
/// [`discards`]: ReplicatorCapabilities::discards
/// - An operation the provider does not declare in [`capabilities`](Self::capabilities)
///   returns [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest) (plans
///   asking for it are rejected by validation before anything runs).
#[async_trait]
pub trait Replicator: Send + Sync + Debug {
    /// What this replicator can do.
    fn capabilities(&self) -> ReplicatorCapabilities;

    /// The link's state and lag now.
    async fn status(&self) -> Result<ReplicationStatus, ProviderError>;

    /// Breaks the link.
    async fn stop(&self) -> Result<(), ProviderError>;

    /// Replicates from the new primary back to the old one.
    async fn reverse(&self) -> Result<(), ProviderError>;

    /// What a reverse would discard on the old source, in bytes (`None`:
    /// unknown). Default: unknown.
    async fn divergence(&self) -> Result<Option<u64>, ProviderError> {
        Ok(None)
    }

    /// What `dr check` checks before a plan reverses this link. Default:
    /// nothing to check.
    async fn reverse_preflight(&self) -> Result<Vec<Preflight>, ProviderError> {
        Ok(Vec::new())
    }
}
