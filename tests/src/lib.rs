//! Cross-crate end-to-end tests for `dr`.
//!
//! This crate has no code of its own. Its `tests/` directory runs whole plans
//! through the `dr-core` executor against the real provider crates: `dr-redis`
//! against `redis-server` processes the harness starts on loopback ports, and
//! `dr-cloudflare` against a fake Cloudflare API on `wiremock`. Each test parses
//! a TOML plan, runs it with `Executor::run`, and then checks the world itself
//! (roles and writability read straight from Redis, the requests Cloudflare
//! received, the sim router's split), the run report and the audit log.
//!
//! ```sh
//! apt-get install -y redis-server   # or run scripts/test
//! cargo test -p dr-tests
//! ```
#![warn(missing_docs)]
