//! The integration tests of dr-redis, linked into one binary (`cargo test -p
//! dr-redis --test it`) instead of one per file: each former `tests/NAME.rs` is
//! the module `NAME`, so a test is now `NAME::test_name`; `common` builds the
//! providers against `redis-server`s the tests start.
//!
//! They run on parallel threads of one process, so none may change what the
//! process shares (environment, current directory, signal handlers): a test
//! passes what it needs explicitly.

mod common;
mod conformance;
mod failover;
mod readme;
mod tls;
