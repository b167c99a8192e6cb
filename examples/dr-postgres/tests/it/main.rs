//! The integration tests of dr-postgres, linked into one binary (`cargo test -p
//! dr-postgres --test it`) instead of one per file: each former `tests/NAME.rs`
//! is the module `NAME`, so a test is now `NAME::test_name`.
//!
//! They run on parallel threads of one process, so none may change what the
//! process shares (environment, current directory, signal handlers): a test
//! passes what it needs explicitly.

mod cli;
mod cli_failback;
mod common;
mod conformance;
mod failback;
mod scenarios;
