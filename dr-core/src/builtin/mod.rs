//! Built-in probes: `http` and `tcp`.

use crate::Registry;

/// Registers `http` and `tcp`.
pub fn register(_registry: &mut Registry) {}
