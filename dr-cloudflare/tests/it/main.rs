//! The integration tests of dr-cloudflare, linked into one binary (`cargo test
//! -p dr-cloudflare --test it`) instead of one per file: each former
//! `tests/NAME.rs` is the module `NAME`, so a test is now `NAME::test_name`. The
//! OpenAPI extract the fake checks bodies against stays in `tests/data/`.
//!
//! They run on parallel threads of one process, so none may change what the
//! process shares (environment, current directory, signal handlers): a test
//! passes what it needs explicitly.

mod common;
mod conformance;
mod scenarios;
