//! `dr check` benchmark; prints figures, asserts nothing about time (run with
//! `cargo bench -p dr-core --bench check`).
//!
//! 1. Cost that grows with the plan: chains of 5,000, 10,000 and 20,000 `wait`
//!    steps (listed last-first, the worst order for a naive walk): the time
//!    `check` takes and the process's peak resident set while it runs. Both are meant to
//!    grow linearly: four times the steps, about four times the figures.
//! 2. Reads at once: 20 sim resources (routers, stores, replicators, probes)
//!    whose every call takes 400 ms, read by `check`, `status` and `plan`
//!    (the preview). Read one at a time that is 8 s and more;
//!    read concurrently (bounded by `max_parallel`) it is about one read's time
//!    (a store's status is two: its role, then whether it is writable).

use std::time::Instant;

use dr_core::sim::SimWorld;
use dr_core::{LoadOptions, Plan, Registry};

/// Resets the process's peak resident set (Linux: `5` to `/proc/self/clear_refs`).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak resident set since the last reset, in MiB (`VmHWM`).
fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn registry() -> Registry {
    let mut r = Registry::with_builtins();
    SimWorld::new().register(&mut r);
    r
}

fn chain(n: usize) -> String {
    let mut t = String::from("[plan]\nname = \"chain\"\nrto = \"1h\"\n");
    for i in (0..n).rev() {
        t.push_str(&format!(
            "[[steps]]\nid = \"s{i}\"\naction = \"wait\"\nduration = \"1s\"\n"
        ));
        if i > 0 {
            t.push_str(&format!("depends_on = [\"s{}\"]\n", i - 1));
        }
    }
    t
}

fn slow_resources(n: usize) -> String {
    let mut t = String::from("[plan]\nname = \"slow\"\nmax_parallel = 32\n");
    let mut steps = String::new();
    for i in 0..n {
        let (provider, extra, step) = match i % 4 {
            0 => (
                "sim.router",
                "targets = [\"east\", \"west\"]\n",
                "action = \"traffic.set\"\nrouter = \"RES\"\nsplit = { west = 100 }\n",
            ),
            1 => (
                "sim.store",
                "role = \"replica\"\n",
                "action = \"datastore.promote\"\nstore = \"RES\"\n",
            ),
            2 => (
                "sim.replicator",
                "lag = \"1s\"\n",
                "action = \"replication.check\"\nreplicator = \"RES\"\nmax_lag = \"1m\"\n",
            ),
            _ => (
                "sim.probe",
                "",
                "action = \"probe.wait\"\nprobe = \"RES\"\n",
            ),
        };
        t.push_str(&format!(
            "[resources.r{i}]\nprovider = \"{provider}\"\nlatency = \"400ms\"\n{extra}"
        ));
        steps.push_str(&format!(
            "[[steps]]\nid = \"s{i}\"\n{}",
            step.replace("RES", &format!("r{i}"))
        ));
    }
    t + &steps
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let registry = registry();
    println!("dr check, {} build", build());
    for n in [5_000, 10_000, 20_000] {
        let plan = Plan::parse("chain.toml", &chain(n), &registry, &LoadOptions::default())
            .expect("valid chain");
        reset_peak();
        let started = Instant::now();
        let findings = rt.block_on(dr_core::check::check(&plan));
        let took = started.elapsed();
        let peak = peak_mib();
        let rto = findings.iter().find(|f| f.check == "rto").expect("rto");
        println!(
            "  chain of {n:>6} steps: {:>8.1} ms, peak RSS {:>7.1} MiB (plan included), rto line {} bytes",
            took.as_secs_f64() * 1000.0,
            peak,
            rto.message.len()
        );
    }
    let plan = Plan::parse(
        "slow.toml",
        &slow_resources(20),
        &registry,
        &LoadOptions::default(),
    )
    .expect("valid");
    let started = Instant::now();
    let findings = rt.block_on(dr_core::check::check(&plan));
    println!(
        "  20 resources of 400 ms reads: check {:>6.2} s ({} findings)",
        started.elapsed().as_secs_f64(),
        findings.len()
    );
    let started = Instant::now();
    let report = rt.block_on(dr_core::status::collect(&plan, &registry));
    println!(
        "  20 resources of 400 ms reads: status {:>6.2} s ({} rows)",
        started.elapsed().as_secs_f64(),
        report.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let exec =
        dr_core::executor::Executor::new(plan, dr_core::executor::RunOptions::new(dir.path()));
    let started = Instant::now();
    let preview = rt.block_on(exec.preview());
    println!(
        "  20 resources of 400 ms reads: plan   {:>6.2} s ({} steps)",
        started.elapsed().as_secs_f64(),
        preview.len()
    );
}

fn build() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}
