//! The integration tests of dr-core, linked into one binary (`cargo test -p
//! dr-core --test it`) instead of one per file: each former `tests/NAME.rs` is
//! the module `NAME`, so a test is now `NAME::test_name`. They run on parallel
//! threads of one process, so none may change process-wide state (environment,
//! current directory, signal handlers): pass values explicitly instead.

mod bounds_run;
mod builtin_probes;
mod check_preflight;
mod common;
mod concurrent_reads;
mod executor;
mod http_layer;
mod lock_and_audit;
mod outcomes;
mod plan_proptest;
mod redaction;
mod safety;
mod schema_and_registry;
mod sim_conformance;
mod status_readonly;
mod unset_env;
mod validation;
mod watch_plan;
