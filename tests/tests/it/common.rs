//! What the end-to-end tests share: the registry the CLI builds, and a plan runner.
//! The redis-server harness is [`dr_redis::testing`] (the `testing` feature).
#![allow(dead_code)]

use std::path::Path;

use dr_core::executor::{Executor, RunOptions, RunOutcome};
use dr_core::{LoadOptions, Plan, Registry};

/// The built-in providers plus `redis` and `cloudflare.*`, as the CLI registers them.
pub fn registry() -> Registry {
    let mut r = Registry::with_builtins();
    dr_redis::register(&mut r);
    dr_cloudflare::register(&mut r);
    r
}

/// Parses `toml` against [`registry`], panicking with the diagnostics if invalid.
pub fn parse(toml: &str) -> Plan {
    Plan::parse("plan.toml", toml, &registry(), &LoadOptions::default())
        .unwrap_or_else(|d| panic!("the plan does not validate:\n{d}\n{toml}"))
}

/// Runs `plan` with `state_dir` and returns the executor (for its plan's
/// resources) and the outcome.
pub async fn run(plan: Plan, state_dir: &Path) -> (Executor, RunOutcome) {
    let executor = Executor::new(plan, RunOptions::new(state_dir));
    let outcome = executor.run().await.expect("the run could be carried out");
    (executor, outcome)
}

/// Asserts the run succeeded with every step succeeded, printing the report if not.
pub fn assert_all_succeeded(outcome: &RunOutcome) {
    let report = &outcome.report;
    let failed: Vec<_> = report
        .steps
        .iter()
        .filter(|s| s.status != "succeeded")
        .collect();
    assert!(
        outcome.status == dr_core::executor::RunStatus::Succeeded && failed.is_empty(),
        "run {}: {failed:#?}\n{}",
        outcome.status,
        report.to_markdown()
    );
    assert_eq!(report.status, "succeeded");
}
