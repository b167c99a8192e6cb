//! The `sim` provider: in-memory or file-backed routers, probes, stores and replicators.

use crate::Registry;

/// Registers `sim.router`, `sim.probe`, `sim.store`, `sim.replicator`.
pub fn register(_registry: &mut Registry) {}
