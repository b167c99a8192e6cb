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
}

impl StoreCapabilities {
    /// Supports promote, fence and flush.
    pub fn full() -> Self {
        StoreCapabilities {
            promote: true,
            fence: true,
            flush: true,
        }
    }

    /// Supports promote and fence, not flush (a database, not a cache).
    pub fn promote_and_fence() -> Self {
        StoreCapabilities {
            promote: true,
            fence: true,
            flush: false,
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

    /// Makes the store refuse writes.
    async fn fence(&self) -> Result<(), ProviderError>;

    /// Drops cached state.
    async fn flush(&self) -> Result<(), ProviderError>;
}
