//! What `dr` adds to a real failover's RTO.
//!
//! Runs the local failover of `dr_tests::local_failover` (PostgreSQL and Redis
//! primary/replica pairs, a sim edge router, a 2-phase shift gated on a real HTTP
//! health endpoint) with its gates at their minimum (one healthy answer per
//! phase), every provider object wrapped so each call is timed in the same run,
//! and prints per run:
//!
//! - `rto_ms`: the report's RTO (run start to the last traffic phase healthy);
//! - `ops_ms`: the sum of the providers' mutating operations (fence, stop,
//!   promote, apply), and `rto/ops`, the issue's ratio (goal <= 2x);
//! - `busy_ms`: how long at least one provider call (reads and gate probes too)
//!   was running, parallel calls counted once, and `dr_ms` = `rto_ms - busy_ms`:
//!   the time the run spent in `dr` itself (journal, audit, scheduling).
//!
//! Two cache promotions: `force` (`REPLICAOF NO ONE`, the unplanned path the
//! issue's ~14 ms refers to) and `auto` (a planned `FAILOVER`, which Redis's once
//! a second replication cron makes take about a second).
//!
//! ```sh
//! cargo bench -p dr-tests --bench local_failover          # 10 runs of each
//! DR_BENCH_RUNS=3 cargo bench -p dr-tests --bench local_failover
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dr_core::executor::{Executor, RunOptions, RunStatus};
use dr_core::{LoadOptions, Plan};
use dr_tests::local_failover::{Gate, busy, plan, timed_registry, world};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: usize = std::env::var("DR_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    for cache_promote in ["force", "auto"] {
        let gate = Gate {
            cache_promote,
            ..Gate::MINIMAL
        };
        println!(
            "local failover, gates minimal (times = {}, every = {}), cache promote = {cache_promote}",
            gate.times, gate.every
        );
        println!(
            "{:>3} {:>7} {:>7} {:>8} {:>8} {:>8} {:>6}",
            "run", "rto_ms", "ops_ms", "rto/ops", "busy_ms", "rto/busy", "dr_ms"
        );
        let (mut ratios, mut busy_ratios, mut dr_ms) = (Vec::new(), Vec::new(), Vec::new());
        let mut per_op: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for run in 1..=runs {
            let world = world().await;
            let log = Arc::new(Mutex::new(Vec::new()));
            let registry = timed_registry(log.clone());
            let text = plan(&world, gate);
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
            let ops: f64 = calls
                .iter()
                .filter(|c| c.mutating)
                .map(|c| ms(c.took))
                .sum();
            let busy = ms(busy(&calls));
            for c in calls.iter().filter(|c| c.mutating) {
                per_op.entry(c.what.clone()).or_default().push(ms(c.took));
            }
            println!(
                "{run:>3} {rto:>7.0} {ops:>7.1} {:>8.2} {busy:>8.1} {:>8.2} {:>6.0}",
                rto / ops,
                rto / busy,
                rto - busy
            );
            ratios.push(rto / ops);
            busy_ratios.push(rto / busy);
            dr_ms.push(rto - busy);
        }
        println!("  mutating provider calls, median ms:");
        for (what, v) in per_op {
            println!(
                "    {what:<22} {:>8.1}  (x{})",
                median(v.clone()),
                v.len() / runs
            );
        }
        println!(
            "  median over {runs} runs: RTO / providers' mutating operations = {:.2}x (goal <= 2x); \
             RTO / provider-busy time = {:.2}x; time in dr itself = {:.0} ms\n",
            median(ratios),
            median(busy_ratios),
            median(dr_ms)
        );
    }
}
