//! The end-to-end tests of dr-tests, linked into one binary (`cargo test -p
//! dr-tests --test it`) instead of one per file: each former `tests/NAME.rs` is
//! the module `NAME`, so a test is now `NAME::test_name`.
//!
//! They run on parallel threads of one process, so none may change what the
//! process shares (environment, current directory, signal handlers): a test
//! passes what it needs explicitly.

mod aws_failover_plan;
mod azure_failover_plan;
mod canonical_failover;
mod common;
mod edge_and_cache;
mod local_failover;
mod redis_failover_plan;
mod redis_tls_failover_plan;
