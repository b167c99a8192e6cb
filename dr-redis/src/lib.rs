//! dr provider crate for redis.
#![warn(missing_docs)]

use dr_core::Registry;

/// Registers this crate's providers.
pub fn register(_registry: &mut Registry) {}
