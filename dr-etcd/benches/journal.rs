//! The cost per step of coordination on etcd; prints figures
//! (`cargo bench -p dr-etcd --bench journal`).
//!
//! The same chain of zero-latency sim steps runs with the state dir's journal
//! (the default) and with `--coordination` on a 3-member etcd cluster on
//! loopback (real `etcd` processes, as the tests start them): every journal
//! entry is then also a fenced etcd transaction and every audit entry a read
//! and a transaction. Target: at most 2 ms more per step. Both state dirs are
//! on tmpfs when there is one, so the difference is etcd's (its members fsync
//! their own WAL on the machine's disk).

use std::sync::Arc;
use std::time::{Duration, Instant};

use dr_core::executor::{Executor, RunOptions, RunStatus};
use dr_core::sim::SimWorld;
use dr_core::{LoadOptions, Plan, Registry};
use dr_etcd::Etcd;
use dr_etcd::testing::EtcdCluster;

fn registry() -> Registry {
    let mut r = Registry::with_builtins();
    SimWorld::new().register(&mut r);
    r
}

fn chain_plan(n: usize) -> String {
    let mut t = String::from(
        "[plan]\nname = \"chain\"\n[resources.front]\nprovider = \"sim.router\"\ntargets = [\"east\", \"west\"]\n",
    );
    for i in 0..n {
        let to = if i % 2 == 0 { "west" } else { "east" };
        t.push_str(&format!(
            "[[steps]]\nid = \"s{i}\"\naction = \"traffic.set\"\nrouter = \"front\"\nsplit = {{ {to} = 100 }}\n"
        ));
        if i > 0 {
            t.push_str(&format!("depends_on = [\"s{}\"]\n", i - 1));
        }
    }
    t
}

fn scratch() -> tempfile::TempDir {
    if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

async fn per_step(n: usize, coordination: Option<Arc<Etcd>>) -> Duration {
    let registry = registry();
    let plan = Plan::parse(
        "chain.toml",
        &chain_plan(n),
        &registry,
        &LoadOptions::default(),
    )
    .expect("valid");
    let dir = scratch();
    let mut opts = RunOptions::new(dir.path());
    if let Some(c) = coordination {
        opts = opts.with_coordination(c);
    }
    let t0 = Instant::now();
    let out = Executor::new(plan, opts).run().await.unwrap();
    let wall = t0.elapsed();
    assert_eq!(out.status, RunStatus::Succeeded);
    wall / n as u32
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let on_disk = EtcdCluster::start(3);
    rt.block_on(measure(&on_disk, "etcd data on disk"));
    drop(on_disk);
    if std::path::Path::new("/dev/shm").is_dir() {
        let in_memory = EtcdCluster::start_in(3, std::path::Path::new("/dev/shm"));
        rt.block_on(measure(&in_memory, "etcd data on tmpfs (no fsync wait)"));
    }
}

/// The latency of one conditioned put (what each journal entry costs), by
/// a raw client: etcd's own floor on this machine.
async fn raw_txn(cluster: &EtcdCluster) -> Duration {
    use etcd_client::{Compare, CompareOp, Txn, TxnOp};
    let mut c = etcd_client::Client::connect(cluster.endpoints(), None)
        .await
        .unwrap();
    let n = 300;
    let t0 = Instant::now();
    for i in 0..n {
        let txn = Txn::new()
            .when([Compare::version("/raw/k", CompareOp::Greater, -1)])
            .and_then([TxnOp::put(format!("/raw/j/{i:012}"), vec![b'x'; 300], None)]);
        c.txn(txn).await.unwrap();
    }
    t0.elapsed() / n
}

async fn measure(cluster: &EtcdCluster, what: &str) {
    let n = 300;
    {
        let raw = raw_txn(cluster).await;
        let etcd = Arc::new(
            Etcd::connect(&cluster.url("?prefix=/bench"))
                .await
                .expect("etcd"),
        );
        // Warm both paths once.
        per_step(20, None).await;
        per_step(20, Some(etcd.clone())).await;
        let mut file = Vec::new();
        let mut shared = Vec::new();
        for _ in 0..3 {
            file.push(per_step(n, None).await);
            shared.push(per_step(n, Some(etcd.clone())).await);
        }
        file.sort();
        shared.sort();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!("per_step: {n} zero-latency steps in a chain, 3 runs each (median); {what}");
        println!("  state dir journal:       {:8.1} us per step", us(file[1]));
        println!(
            "  etcd (3 members, local): {:8.1} us per step",
            us(shared[1])
        );
        println!(
            "  etcd cost:               {:8.1} us per step (target <= 2000 us)",
            us(shared[1]) - us(file[1])
        );
        println!(
            "  for scale: one conditioned put by a raw client takes {:.1} us here; a step \
             journals 2 entries (started, finished), each a fenced put",
            us(raw)
        );
    }
}
