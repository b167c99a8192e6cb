//! `azure.blob_canary` (feature `blob`): replication lag of an RA-GRS account
//! measured with a canary blob, as a [`Replicator`](dr_core::Replicator), through
//! the official `azure_storage_blob` crate: the one part of this crate on the
//! Azure SDK rather than ARM.

mod config;
mod replicator;

use std::sync::Arc;

use dr_core::Registry;

pub use config::BlobCanaryConfig;
pub use replicator::BlobCanaryReplicator;

/// `provider = "azure.blob_canary"`.
pub const BLOB_CANARY: &str = "azure.blob_canary";

/// Registers the replicator (which takes no ARM token).
pub(crate) fn register(registry: &mut Registry) {
    registry.replicator(BLOB_CANARY, |s| {
        Ok(Arc::new(BlobCanaryReplicator::from_settings(s)?))
    });
}
