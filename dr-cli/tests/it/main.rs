//! The integration tests of dr-cli, linked into one binary (`cargo test -p dr-cli
//! --test it`) instead of one per file: each former `tests/NAME.rs` is the
//! module `NAME`, so a test is now `NAME::test_name`. `support` holds what the
//! modules share (running `dr`, its JSON lines, the sim failover plan);
//! `playbook` what the `playbook_*` modules share.
//!
//! They run on parallel threads of one process, so none may change what the
//! process shares (environment, current directory, signal handlers): each `dr` a
//! test runs gets its directory and variables on its command.

mod after_window;
mod check;
mod child_plans;
mod cli;
mod coordination;
mod divergence;
mod drill;
mod epipe;
mod lock_and_audit_cli;
mod log_secrets;
mod operator_skip;
mod output_safety;
mod plan_notify;
mod playbook;
mod playbook_aws_pilot_light;
mod playbook_guiding_care;
mod playbook_proseware;
mod playbook_web_tier;
mod polish;
mod report_html;
mod report_screenshot;
mod resume_integrity;
mod run_modes;
mod signals;
mod status_readonly;
mod support;
mod validate_unset_env;
mod watch;
mod webhook_secrets;
