//! dr-etcd against a real 3-member etcd cluster (Debian `etcd-server`) on
//! loopback, through the library: the lock and its fencing token, the audit
//! chain written from two machines, fetching a run.

use dr_core::audit::{AuditRecord, KeyRefused};
use dr_core::coord::Coordination;
use dr_core::lock::LockError;
use dr_core::{LoadOptions, Plan, Redactor, Registry};
use dr_etcd::Etcd;
use dr_etcd::testing::EtcdCluster;

fn plan(name: &str) -> Plan {
    let text = format!(
        "[plan]\nname = \"{name}\"\n[[steps]]\nid = \"w\"\naction = \"wait\"\nduration = \"1ms\"\n"
    );
    Plan::parse(
        "p.toml",
        &text,
        &Registry::with_builtins(),
        &LoadOptions::default(),
    )
    .unwrap()
}

async fn connect(c: &EtcdCluster, prefix: &str) -> Etcd {
    Etcd::connect(&c.url(&format!("?prefix=/{prefix}&lease_ttl=2s")))
        .await
        .unwrap()
}

fn record(run: &str, step: &str) -> AuditRecord {
    AuditRecord {
        operator: "op".into(),
        host: "h".into(),
        plan: "p".into(),
        plan_digest: "d".into(),
        run_id: run.into(),
        step: step.into(),
        action: "exec".into(),
        before: serde_json::Value::Null,
        after: serde_json::Value::Null,
        result: "succeeded".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_is_exclusive_across_machines_and_each_holder_gets_a_newer_token() {
    let cluster = EtcdCluster::start(3);
    let (m1, m2) = (
        connect(&cluster, "lock").await,
        connect(&cluster, "lock").await,
    );
    let p = plan("p");
    let a = m1.lock(&p, "run-a").await.unwrap();
    match m2.lock(&p, "run-b").await.unwrap_err() {
        LockError::Held { holder, .. } => {
            assert_eq!(holder.run_id, "run-a");
            assert_eq!(holder.token, a.token().to_string());
        }
        other => panic!("{other}"),
    }
    assert!(m2.check_lock(&p).await.is_err());
    // Another plan is not held.
    assert!(m2.check_lock(&plan("other")).await.is_ok());
    a.release().await;
    m2.check_lock(&p).await.unwrap();
    let b = m2.lock(&p, "run-b").await.unwrap();
    assert!(b.token() > a.token(), "{} then {}", a.token(), b.token());
    b.release().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_whose_lease_is_gone_cannot_append_and_the_new_holder_can() {
    let cluster = EtcdCluster::start(3);
    let (m1, m2) = (
        connect(&cluster, "fence").await,
        connect(&cluster, "fence").await,
    );
    let p = plan("p");
    let a = m1.lock(&p, "run-a").await.unwrap();
    let first = a.clone();
    tokio::task::spawn_blocking(move || first.append("run-a", 1, br#"{"seq":1}"#))
        .await
        .unwrap()
        .unwrap();
    // The lease expires under the holder (as if it froze): revoke it from outside.
    let mut raw = etcd_client::Client::connect(cluster.endpoints(), None)
        .await
        .unwrap();
    let kv = raw.get("/fence/locks/p", None).await.unwrap();
    let lease = kv.kvs()[0].lease();
    raw.lease_revoke(lease).await.unwrap();
    let b = m2.lock(&p, "run-a").await.unwrap();
    let stale = a.clone();
    let refused = tokio::task::spawn_blocking(move || stale.append("run-a", 2, br#"{"seq":2}"#))
        .await
        .unwrap()
        .unwrap_err();
    assert!(refused.0.contains("no longer this run's"), "{refused}");
    // And once refused, always refused (no call after a failed append).
    let again = a.clone();
    assert!(
        tokio::task::spawn_blocking(move || again.append("run-a", 2, b"{}"))
            .await
            .unwrap()
            .is_err()
    );
    let fresh = b.clone();
    tokio::task::spawn_blocking(move || fresh.append("run-a", 2, br#"{"seq":2,"by":"b"}"#))
        .await
        .unwrap()
        .unwrap();
    let j = raw
        .get("/fence/runs/run-a/j/000000000002", None)
        .await
        .unwrap();
    assert_eq!(j.kvs()[0].value(), br#"{"seq":2,"by":"b"}"#);
    b.release().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_machines_extend_one_audit_chain_that_verifies_and_refuses_a_missing_key() {
    let cluster = EtcdCluster::start(3);
    let (m1, m2) = (
        connect(&cluster, "audit").await,
        connect(&cluster, "audit").await,
    );
    let key = b"k3y".to_vec();
    let a = m1.open_audit(Some(&key)).await.unwrap();
    let b = m2.open_audit(Some(&key)).await.unwrap();
    tokio::task::spawn_blocking(move || {
        for i in 0..5 {
            a.append(&record("r1", &format!("a{i}")), &Redactor::default())
                .unwrap();
            b.append(&record("r2", &format!("b{i}")), &Redactor::default())
                .unwrap();
        }
        // Written in batches; a sync writes what is still queued.
        a.sync_head().unwrap();
        assert_eq!(b.sync_head().unwrap().unwrap().seq, 10);
        assert_eq!(a.records_of_run("r2").unwrap().len(), 5);
    })
    .await
    .unwrap();
    let report = m1.verify_audit(Some(&key)).await.unwrap().unwrap();
    assert_eq!(report.entries, 10);
    assert!(report.keyed);
    // Without the key: refused before anything is written.
    let e = m2.open_audit(None).await.unwrap_err();
    assert!(
        matches!(KeyRefused::find(&e), Some(KeyRefused::Missing { .. })),
        "{e}"
    );
    // An entry edited in etcd is found.
    let mut raw = etcd_client::Client::connect(cluster.endpoints(), None)
        .await
        .unwrap();
    let e3 = raw.get("/audit/audit/e/000000000003", None).await.unwrap();
    let edited = String::from_utf8(e3.kvs()[0].value().to_vec())
        .unwrap()
        .replace("succeeded", "failed");
    raw.put("/audit/audit/e/000000000003", edited, None)
        .await
        .unwrap();
    let t = m1.verify_audit(Some(&key)).await.unwrap().unwrap_err();
    assert_eq!(t.line, 3, "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_fetched_whole_and_its_files_stay_inside_the_run_directory() {
    let cluster = EtcdCluster::start(3);
    let m1 = connect(&cluster, "fetch").await;
    let p = plan("p");
    let lock = m1.lock(&p, "20261203T185656Z-abc123").await.unwrap();
    let l = lock.clone();
    tokio::task::spawn_blocking(move || {
        l.put_file("20261203T185656Z-abc123", "plan.toml", b"[plan]")
            .unwrap();
        l.put_file("20261203T185656Z-abc123", "../../escape", b"no")
            .unwrap();
        l.append(
            "20261203T185656Z-abc123",
            1,
            br#"{"seq":1,"type":"run_started"}"#,
        )
        .unwrap();
        l.append(
            "20261203T185656Z-abc123",
            2,
            br#"{"seq":2,"type":"step_started"}"#,
        )
        .unwrap();
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sd = dir.path().join("sd");
    assert!(m1.fetch_run("20261203T185656Z-abc123", &sd).await.unwrap());
    let run = sd.join("runs/20261203T185656Z-abc123");
    assert_eq!(std::fs::read(run.join("plan.toml")).unwrap(), b"[plan]");
    assert_eq!(
        std::fs::read_to_string(run.join("journal.jsonl")).unwrap(),
        "{\"seq\":1,\"type\":\"run_started\"}\n{\"seq\":2,\"type\":\"step_started\"}\n"
    );
    assert!(!dir.path().join("escape").exists());
    assert!(!m1.fetch_run("20261203T185656Z-000000", &sd).await.unwrap());
    assert_eq!(m1.fetch_runs(&dir.path().join("all")).await.unwrap(), 1);
    lock.release().await;
}
