//! Executor benchmarks; prints figures (run with `cargo bench -p dr-core --bench executor`).
//!
//! 1. DAG efficiency: a 50-step, 5-level plan of ~200 ms sim steps; wall time
//!    divided by the critical path computed from the steps' measured durations
//!    (target <= 1.05).
//! 2. Per-step overhead: 1,000 zero-latency sim steps in a chain; fsyncs per step
//!    and time per step beyond those fsyncs (target <= 2 fsyncs + 100 us), then
//!    the same chain with its state dir on tmpfs (no disk wait at all).

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use dr_core::executor::{Executor, RunOptions, RunStatus};
use dr_core::sim::SimWorld;
use dr_core::{LoadOptions, Plan, Registry};

fn registry() -> Registry {
    let mut r = Registry::with_builtins();
    SimWorld::new().register(&mut r);
    r
}

fn dag_plan() -> String {
    // Each sim.store step makes 4 calls (role, promote, role, writable) of 50 ms.
    let mut t = String::from("[plan]\nname = \"dag\"\nmax_parallel = 10\n");
    for i in 0..50 {
        t.push_str(&format!(
            "[resources.s{i}]\nprovider = \"sim.store\"\nrole = \"replica\"\nlatency = \"50ms\"\n"
        ));
    }
    for level in 0..5 {
        for j in 0..10 {
            let i = level * 10 + j;
            t.push_str(&format!(
                "[[steps]]\nid = \"s{i}\"\naction = \"datastore.promote\"\nstore = \"s{i}\"\n"
            ));
            if level > 0 {
                let a = (level - 1) * 10 + j;
                let b = (level - 1) * 10 + (j + 3) % 10;
                t.push_str(&format!("depends_on = [\"s{a}\", \"s{b}\"]\n"));
            }
        }
    }
    t
}

fn chain_plan(n: usize) -> String {
    let mut t = String::from(
        "[plan]\nname = \"chain\"\n[resources.front]\nprovider = \"sim.router\"\ntargets = [\"east\", \"west\"]\n",
    );
    for i in 0..n {
        let to = if i % 2 == 0 { "west" } else { "east" };
        t.push_str(&format!("[[steps]]\nid = \"s{i}\"\naction = \"traffic.set\"\nrouter = \"front\"\nsplit = {{ {to} = 100 }}\n"));
        if i > 0 {
            t.push_str(&format!("depends_on = [\"s{}\"]\n", i - 1));
        }
    }
    t
}

async fn dag_efficiency() {
    let registry = registry();
    let plan =
        Plan::parse("dag.toml", &dag_plan(), &registry, &LoadOptions::default()).expect("valid");
    let deps: HashMap<String, Vec<String>> = plan
        .steps
        .iter()
        .map(|s| (s.id.clone(), s.depends_on.clone()))
        .collect();
    let order: Vec<String> = plan.steps.iter().map(|s| s.id.clone()).collect();
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let out = Executor::new(plan, RunOptions::new(dir.path()))
        .run()
        .await
        .unwrap();
    let wall = t0.elapsed();
    assert_eq!(out.status, RunStatus::Succeeded);
    let dur: HashMap<&str, f64> = out
        .report
        .steps
        .iter()
        .map(|s| (s.id.as_str(), s.duration_ms.unwrap_or(0) as f64))
        .collect();
    let mut finish: HashMap<&str, f64> = HashMap::new();
    for id in &order {
        let start = deps[id]
            .iter()
            .map(|d| finish[d.as_str()])
            .fold(0.0, f64::max);
        finish.insert(id, start + dur[id.as_str()]);
    }
    let critical = finish.values().cloned().fold(0.0, f64::max);
    let mean = dur.values().sum::<f64>() / dur.len() as f64;
    println!("dag_efficiency: 50 steps, 5 levels, mean step {mean:.1} ms");
    println!(
        "  wall {:.1} ms, critical path {critical:.1} ms, ratio {:.3} (target <= 1.05)",
        wall.as_secs_f64() * 1000.0,
        wall.as_secs_f64() * 1000.0 / critical
    );
}

fn fsync_cost(dir: &std::path::Path, n: usize) -> Duration {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("fsync-probe"))
        .unwrap();
    let line = vec![b'x'; 300];
    let t0 = Instant::now();
    for _ in 0..n {
        f.write_all(&line).unwrap();
        f.sync_data().unwrap();
    }
    t0.elapsed() / n as u32
}

async fn per_step_overhead() {
    let n = 1000;
    let registry = registry();
    let plan = Plan::parse(
        "chain.toml",
        &chain_plan(n),
        &registry,
        &LoadOptions::default(),
    )
    .expect("valid");
    let dir = tempfile::tempdir().unwrap();
    let fsync = fsync_cost(dir.path(), 500);
    let t0 = Instant::now();
    let out = Executor::new(plan, RunOptions::new(dir.path()))
        .run()
        .await
        .unwrap();
    let wall = t0.elapsed();
    assert_eq!(out.status, RunStatus::Succeeded);
    let entries = dr_core::journal::read(&dr_core::executor::run_dir(dir.path(), &out.run_id))
        .unwrap()
        .len();
    // every journal entry is one fsync; the audit log is fsync'd once per run
    let fsyncs = entries + 1;
    let per_step = wall / n as u32;
    let fsyncs_per_step = fsyncs as f64 / n as f64;
    let beyond = per_step.as_secs_f64() * 1e6 - fsyncs_per_step * fsync.as_secs_f64() * 1e6;
    println!("per_step_overhead: {n} zero-latency steps in a chain");
    println!(
        "  {:.1} us per step; {fsyncs_per_step:.3} fsyncs per step at {:.1} us each (measured)",
        per_step.as_secs_f64() * 1e6,
        fsync.as_secs_f64() * 1e6
    );
    println!("  overhead beyond fsyncs: {beyond:.1} us per step (target: <= 2 fsyncs + 100 us)");

    // The same chain with the state dir in memory (tmpfs), where an fsync costs
    // about a microsecond: what is left is the executor's own time, without
    // the noise of estimating a disk's fsync separately.
    if std::path::Path::new("/dev/shm").is_dir() {
        let plan = Plan::parse(
            "chain.toml",
            &chain_plan(n),
            &registry,
            &LoadOptions::default(),
        )
        .expect("valid");
        let dir = tempfile::tempdir_in("/dev/shm").unwrap();
        let t0 = Instant::now();
        let out = Executor::new(plan, RunOptions::new(dir.path()))
            .run()
            .await
            .unwrap();
        assert_eq!(out.status, RunStatus::Succeeded);
        println!(
            "  in memory (state dir on tmpfs): {:.1} us per step, fsyncs included",
            t0.elapsed().as_secs_f64() * 1e6 / n as f64
        );
    }

    // Breakdown: the audit append alone.
    let rec = dr_core::audit::AuditRecord {
        operator: "op".into(),
        host: "h".into(),
        plan: "chain".into(),
        plan_digest: "0".repeat(64),
        run_id: "r".into(),
        step: "s1".into(),
        action: "traffic.set".into(),
        before: serde_json::json!({"split": {"east": 100}}),
        after: serde_json::json!({"split": {"west": 100}}),
        result: "succeeded".into(),
    };
    let adir = tempfile::tempdir().unwrap();
    let mut writer = dr_core::audit::AuditWriter::open(adir.path(), None).unwrap();
    let t0 = Instant::now();
    for _ in 0..n {
        writer.append(&rec, &dr_core::Redactor::default()).unwrap();
    }
    println!(
        "  of which audit append: {:.1} us per entry",
        t0.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        dag_efficiency().await;
        per_step_overhead().await;
    });
}
