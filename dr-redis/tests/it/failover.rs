//! Failover and failback against real redis-server processes, driven through the
//! trait objects the registry builds (as the executor does).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dr_core::{ErrorKind, ReplicationState, Role};
use dr_redis::testing::{RedisServer, pair};
use tokio::sync::Mutex;

use crate::common::{self, exists, pair_settings, replicator, set_ok, store};

/// The writes a writer got acknowledged: (N, when).
type Acked = Arc<Mutex<Vec<(u64, Instant)>>>;

/// Writes `prefix:N` for N = 0, 1, ... to `server` until a write fails or `stop` is
/// set, recording when each write was acknowledged.
fn spawn_writer(
    server: &RedisServer,
    prefix: &'static str,
    stop: Arc<AtomicBool>,
) -> (Acked, tokio::task::JoinHandle<()>) {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let url = server.url();
    let log = acked.clone();
    let handle = tokio::spawn(async move {
        let client = redis::Client::open(url).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let r: redis::RedisResult<String> = redis::cmd("SET")
                .arg(format!("{prefix}:{i}"))
                .arg(i)
                .query_async(&mut conn)
                .await;
            if r.is_err() {
                break;
            }
            log.lock().await.push((i, Instant::now()));
            i += 1;
        }
    });
    (acked, handle)
}

async fn wait_for_writes(acked: &Mutex<Vec<(u64, Instant)>>, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().await.len() < n {
        assert!(Instant::now() < deadline, "the writer never wrote {n} keys");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplanned_failover_under_load_loses_no_more_than_the_reported_lag() {
    let (mut east, west) = pair().await;
    let link = replicator(&pair_settings("link", &west, &east));
    let new_primary = store(&pair_settings("cache_west", &west, &east));
    let old_primary = store(&pair_settings("cache_east", &east, &west));

    let stop = Arc::new(AtomicBool::new(false));
    let (acked, writer) = spawn_writer(&east, "w", stop.clone());
    wait_for_writes(&acked, 2000).await;

    // The primary region dies under load.
    east.kill();
    writer.await.unwrap();

    // The plan's RPO gate reads the link just before promoting.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, read_at) = loop {
        let read_at = Instant::now();
        let status = link.status().await.unwrap();
        if status.state != ReplicationState::Replicating {
            break (status, read_at);
        }
        assert!(
            Instant::now() < deadline,
            "the replica never saw the link go down"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(status.state, ReplicationState::Broken, "{status:?}");
    let lag = status
        .lag
        .expect("a broken link reports the time since it broke");

    new_primary.promote().await.unwrap();
    assert_eq!(new_primary.role().await.unwrap(), Role::Primary);
    assert!(new_primary.writable().await.unwrap());
    let r = west.set("after-failover", "1").await;
    assert!(r.is_ok(), "the new primary accepts writes: {r:?}");

    // Every acknowledged write the new primary lacks was acknowledged within the
    // lag window the replicator reported.
    let acked = acked.lock().await.clone();
    let window_start = read_at.checked_sub(lag).unwrap();
    let mut lost = Vec::new();
    for (i, at) in &acked {
        if !exists(&west, &format!("w:{i}")).await {
            lost.push((*i, *at));
        }
    }
    for (i, at) in &lost {
        assert!(
            *at >= window_start,
            "write w:{i} was lost but acknowledged {:?} before the status read, outside the \
             reported lag of {lag:?} ({} of {} writes lost)",
            read_at - *at,
            lost.len(),
            acked.len()
        );
    }
    assert!(
        lost.len() < acked.len(),
        "the replica had nothing: {} lost\n{}",
        lost.len(),
        west.log()
    );
    eprintln!(
        "acked {} writes, lost {} (reported lag {lag:?})",
        acked.len(),
        lost.len()
    );

    // The old primary cannot be fenced while it is down, and says so.
    let e = old_primary.fence().await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Transient, "{e}");
    assert!(e.message().contains("could not be reached"), "{e}");

    // It comes back (empty, as a primary); the plan fences it.
    east.restart().await;
    assert_eq!(east.info_field("role").await.as_deref(), Some("master"));
    old_primary.fence().await.unwrap();
    old_primary.fence().await.unwrap();
    assert!(!old_primary.writable().await.unwrap());
    assert_eq!(
        old_primary.role().await.unwrap(),
        Role::Replica {
            of: Some(format!("127.0.0.1:{}", west.port()))
        }
    );
    assert!(
        common::write_refused_with(&east, "READONLY").await,
        "the returned old primary refuses writes"
    );
    let r = west.set("still-writable", "1").await;
    assert!(r.is_ok(), "the new primary still accepts writes: {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reverse_then_planned_switchover_restores_the_roles_with_no_key_lost() {
    let (mut east, west) = pair().await;
    let west_store = store(&pair_settings("cache_west", &west, &east));
    let east_store = store(&pair_settings("cache_east", &east, &west));
    let link = replicator(&pair_settings("link", &west, &east));

    for i in 0..500 {
        set_ok(&east, &format!("a:{i}"), &i.to_string()).await;
    }
    west.wait_in_sync_with(&east).await;

    // Failover: east dies, west is promoted and takes writes.
    east.kill();
    west_store.promote().await.unwrap();
    for i in 0..500 {
        set_ok(&west, &format!("b:{i}"), &i.to_string()).await;
    }
    east.restart().await;

    // Failback, step 1: re-protect (east follows west) and let it catch up.
    link.reverse().await.unwrap();
    link.reverse().await.unwrap();
    let status = common::wait_caught_up(link.as_ref()).await;
    assert_eq!(status.state, ReplicationState::Replicating, "{status:?}");

    // Step 2: planned switchover back to east while a client keeps writing to west.
    let stop = Arc::new(AtomicBool::new(false));
    let (acked, writer) = spawn_writer(&west, "c", stop.clone());
    wait_for_writes(&acked, 200).await;
    east_store.promote().await.unwrap();
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();

    assert_eq!(east_store.role().await.unwrap(), Role::Primary);
    assert!(east_store.writable().await.unwrap());
    assert_eq!(
        west_store.role().await.unwrap(),
        Role::Replica {
            of: Some(format!("127.0.0.1:{}", east.port()))
        },
        "a planned switchover leaves the old primary following the new one"
    );
    assert!(common::write_refused_with(&west, "READONLY").await);

    for i in 0..500 {
        assert!(exists(&east, &format!("a:{i}")).await, "a:{i} lost");
        assert!(exists(&east, &format!("b:{i}")).await, "b:{i} lost");
    }
    let acked = acked.lock().await.clone();
    for (i, _) in &acked {
        assert!(
            exists(&east, &format!("c:{i}")).await,
            "c:{i} was acknowledged by west before the switchover and is lost"
        );
    }
    let r = east.set("after-failback", "1").await;
    assert!(
        r.is_ok(),
        "the original primary accepts writes again: {r:?}"
    );
}
