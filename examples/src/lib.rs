//! Runnable plans and embedding examples for `dr`.
//!
//! - `local-drill.toml`: the offline failover drill that `dr demo` runs, on the
//!   `sim` providers (`dr run examples/local-drill.toml`).
//! - `plans/*.toml`: plans for the seed scenarios; `tests/it/plans.rs` checks that
//!   each one validates against every built-in provider.
//! - `examples/embed.rs`: a program that registers a provider of its own next to
//!   the built-in ones, loads a plan from a string and runs it, printing events
//!   (`cargo run -p dr-examples --example embed`).
#![warn(missing_docs)]

/// The offline drill plan (`examples/local-drill.toml`).
pub const LOCAL_DRILL: &str = include_str!("../local-drill.toml");
