//! What `dr` adds to a real failover's RTO.
//!
//! Runs the local failover of `dr_tests::local_failover` (PostgreSQL and Redis
//! primary/replica pairs, a sim edge router, a gated shift on a real HTTP health
//! endpoint) with its gates at their minimum (one healthy answer per phase), and
//! prints the run's RTO next to the sum of the providers' own operation times
//! measured in the same run (each call timed around the provider object), as a
//! ratio. Goal: RTO <= 2x the providers' mutating operations.
//!
//! ```sh
//! cargo bench -p dr-tests --bench local_failover          # 10 runs
//! DR_BENCH_RUNS=3 cargo bench -p dr-tests --bench local_failover
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dr_core::executor::{Executor, RunOptions, RunStatus};
use dr_core::{LoadOptions, Plan};
use dr_tests::local_failover::{Gate, plan, timed_registry, world};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: usize = std::env::var("DR_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    println!(
        "local failover: postgres + redis pairs, sim edge, http-gated 2-phase shift, gates minimal"
    );
    println!(
        "{:>3} {:>9} {:>12} {:>9} {:>12} {:>9} {:>11} {:>11}",
        "run",
        "rto_ms",
        "mutating_ms",
        "ratio",
        "all_calls_ms",
        "ratio",
        "promote_pg",
        "promote_rd"
    );
    let mut ratios = Vec::new();
    let mut per_op: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for run in 1..=runs {
        let world = world().await;
        let log = Arc::new(Mutex::new(Vec::new()));
        let registry = timed_registry(log.clone());
        let text = plan(&world, Gate::MINIMAL);
        let plan = Plan::parse("local.toml", &text, &registry, &LoadOptions::default())
            .unwrap_or_else(|d| panic!("{d}"));
        let state = tempfile::tempdir().unwrap();
        let outcome = Executor::new(plan, RunOptions::new(state.path()))
            .run()
            .await
            .expect("the run could be carried out");
        assert_eq!(
            outcome.status,
            RunStatus::Succeeded,
            "{}",
            outcome.report.to_markdown()
        );
        let rto = outcome.report.rto_ms.expect("rto_ms") as f64;
        let calls = log.lock().unwrap().clone();
        let mutating: f64 = calls
            .iter()
            .filter(|c| c.mutating)
            .map(|c| ms(c.took))
            .sum();
        let all: f64 = calls.iter().map(|c| ms(c.took)).sum();
        for c in calls.iter().filter(|c| c.mutating) {
            per_op.entry(c.what.clone()).or_default().push(ms(c.took));
        }
        let find = |what: &str| {
            calls
                .iter()
                .find(|c| c.what == what)
                .map(|c| ms(c.took))
                .unwrap_or(f64::NAN)
        };
        println!(
            "{run:>3} {rto:>9.0} {mutating:>12.1} {:>9.2} {all:>12.1} {:>9.2} {:>11.1} {:>11.1}",
            rto / mutating,
            rto / all,
            find("db_west.promote"),
            find("cache_west.promote"),
        );
        ratios.push(rto / mutating);
    }
    ratios.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = ratios[ratios.len() / 2];
    println!();
    println!("mutating provider calls, median ms over {runs} runs:");
    for (what, mut v) in per_op {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("  {what:<28} {:>8.1}", v[v.len() / 2]);
    }
    println!();
    println!(
        "RTO / providers' mutating operations: median {median:.2}x, min {:.2}x, max {:.2}x (goal <= 2x)",
        ratios[0],
        ratios[ratios.len() - 1]
    );
}
