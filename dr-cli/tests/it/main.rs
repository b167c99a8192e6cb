//! The integration tests of dr-cli, linked into one binary (`cargo test -p dr-cli
//! --test it`) instead of one per file: each former `tests/NAME.rs` is the
//! module `NAME`, so a test is now `NAME::test_name`. `playbook` holds what
//! the `playbook_*` modules share.
//!
//! They run on parallel threads of one process, so none may change what the
//! process shares (environment, current directory, signal handlers): a test
//! passes what it needs explicitly.

mod check;
mod cli;
mod drill;
mod epipe;
mod lock_and_audit_cli;
mod playbook;
mod playbook_aws_pilot_light;
mod playbook_guiding_care;
mod playbook_proseware;
mod playbook_web_tier;
mod polish;
mod report_html;
mod report_screenshot;
mod signals;
mod status_readonly;
mod validate_unset_env;
mod watch;
