//! Data stores with a role: promote the replica, fence the old primary.

use std::fmt::Debug;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::ProviderError;

/// A store's role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Role {
    /// Accepts writes and is the source of replication.
    Primary,
    /// Follows a primary.
    Replica {
        /// The primary it follows, if known (`127.0.0.1:6390`, an ARN).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        of: Option<String>,
    },
    /// Neither: not replicating, not replicated to.
    Standalone,
}

impl Role {
    /// `primary`, `replica` or `standalone`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Replica { .. } => "replica",
            Role::Standalone => "standalone",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Replica { of: Some(of) } => write!(f, "replica of {of}"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// How a run fails over: the run's mode (`[plan] mode`, `dr run --ungraceful`,
/// `dr resume RUN_ID --ungraceful`), which every promote is given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "engine", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    /// A planned switchover: the old primary is there, the replica catches up
    /// first, no write is lost (Redis `FAILOVER`, Aurora switchover, Azure
    /// PostgreSQL `planned`). A store that needs the old primary fails when it
    /// does not answer, and the operator may switch the run to ungraceful.
    #[default]
    Graceful,
    /// A forced failover: the old primary is gone or not waited for (Redis
    /// `REPLICAOF NO ONE`, Aurora failover with `AllowDataLoss`, Azure
    /// PostgreSQL `forced`, an unplanned storage account failover). Writes not
    /// yet replicated may be lost; the RPO gate still applies.
    Ungraceful,
}

impl RunMode {
    /// `graceful` or `ungraceful`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RunMode::Graceful => "graceful",
            RunMode::Ungraceful => "ungraceful",
        }
    }
}

impl std::fmt::Display for RunMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a promote is asked to do: the run's [`RunMode`], and whether the run
/// accepts losing writes (`--accept-data-loss`), which a store whose forced
/// failover loses data knowingly (Aurora `AllowDataLoss`) may require.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Promotion {
    /// The run's mode.
    pub mode: RunMode,
    /// The operator accepted data loss for this run.
    pub accept_data_loss: bool,
}

impl Promotion {
    /// A promotion in `mode`, data loss not accepted.
    pub fn new(mode: RunMode) -> Self {
        Promotion {
            mode,
            accept_data_loss: false,
        }
    }

    /// Sets whether the run accepts data loss.
    pub fn accept_data_loss(mut self, yes: bool) -> Self {
        self.accept_data_loss = yes;
        self
    }

    /// Whether the run is ungraceful.
    pub fn ungraceful(&self) -> bool {
        self.mode == RunMode::Ungraceful
    }
}

/// What a store can do.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StoreCapabilities {
    /// `promote()` is supported.
    pub promote: bool,
    /// `fence()` is supported.
    pub fence: bool,
    /// `flush()` is supported.
    pub flush: bool,
    /// [`DataStore::promote_with`] promotes differently in a graceful and an
    /// ungraceful run (false: one way only, whatever the mode).
    pub modes: bool,
}

impl StoreCapabilities {
    /// Supports promote, fence and flush.
    pub fn full() -> Self {
        StoreCapabilities {
            promote: true,
            fence: true,
            flush: true,
            modes: false,
        }
    }

    /// Supports promote and fence, not flush (a database, not a cache).
    pub fn promote_and_fence() -> Self {
        StoreCapabilities {
            promote: true,
            fence: true,
            flush: false,
            modes: false,
        }
    }
}

/// A stateful store with a role.
///
/// # Contract
///
/// - `role()` and `writable()` have no side effect.
/// - `promote()` makes the store a writable primary; afterwards `role()` is
///   `Primary` and `writable()` is `true`. Promoting a primary is `Ok` and changes
///   nothing.
/// - `promote_with()` is `promote()` in the run's [`RunMode`]: graceful is a
///   planned switchover (it may need the old primary, and fails without it),
///   ungraceful a forced failover. The executor calls `promote_with`; its
///   default calls `promote()`, for a store that promotes one way only. A
///   store that tells the modes apart says so in
///   [`StoreCapabilities::modes`].
/// - `fence()` makes the store refuse writes (to prevent split brain after a
///   failover); afterwards `writable()` is `false`. Fencing a fenced store is `Ok`.
///   A store that cannot be reached cannot be fenced: that is an error (kind
///   `Transient` if it may come back), never a silent success.
/// - `flush()` drops the data the new region rebuilds (a cache). Flushing an empty
///   store is `Ok`.
/// - An operation the provider does not declare in [`capabilities`](Self::capabilities)
///   returns [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest).
#[async_trait]
pub trait DataStore: Send + Sync + Debug {
    /// What this store can do.
    fn capabilities(&self) -> StoreCapabilities;

    /// The store's role now.
    async fn role(&self) -> Result<Role, ProviderError>;

    /// Whether the store accepts writes now.
    async fn writable(&self) -> Result<bool, ProviderError>;

    /// Makes the store a writable primary.
    async fn promote(&self) -> Result<(), ProviderError>;

    /// Makes the store a writable primary the way `how` says (graceful or
    /// ungraceful). Default: [`promote`](Self::promote), whatever the mode.
    async fn promote_with(&self, how: Promotion) -> Result<(), ProviderError> {
        let _ = how;
        self.promote().await
    }

    /// Makes the store refuse writes.
    async fn fence(&self) -> Result<(), ProviderError>;

    /// Drops cached state.
    async fn flush(&self) -> Result<(), ProviderError>;
}
