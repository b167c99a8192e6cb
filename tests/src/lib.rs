//! Cross-crate end-to-end tests for `dr`.
//!
//! Its `tests/` directory runs whole plans
//! through the `dr-core` executor against the real provider crates: `dr-redis`
//! against `redis-server` processes the harness starts on loopback ports, and
//! `dr-cloudflare` against a fake Cloudflare API on `wiremock`. Each test parses
//! a TOML plan, runs it with `Executor::run`, and then checks the world itself
//! (roles and writability read straight from Redis, the requests Cloudflare
//! received, the sim router's split), the run report and the audit log.
//!
//! [`local_failover`] is the one piece of code of its own: a failover of real
//! components (PostgreSQL, Redis, an HTTP health endpoint) that both
//! `tests/it/local_failover.rs` and the benchmark `benches/local_failover.rs` run.
//!
//! ```sh
//! scripts/test -p dr-tests          # installs redis-server and PostgreSQL if missing
//! cargo bench -p dr-tests --bench local_failover
//! ```
#![warn(missing_docs)]

pub mod local_failover;
