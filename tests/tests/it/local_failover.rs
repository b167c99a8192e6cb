//! A local failover with real components: PostgreSQL and Redis primary/replica
//! pairs, an edge router, and a phased shift gated on a real HTTP health
//! endpoint. The application keeps writing to east while the plan runs; every
//! write east acknowledged must be on west afterwards, west takes new writes and
//! east refuses them.

use std::sync::Arc;
use std::time::Duration;

use dr_core::executor::{Executor, RunOptions, RunStatus};
use dr_core::{LoadOptions, Plan, TrafficSplit};
use dr_redis::testing::Reply;
use dr_tests::local_failover::{APP_ROLE, Gate, plan, registry, world};
use tokio::sync::Notify;

/// Inserts rows into east's database as the application until east refuses;
/// returns the ids east acknowledged and the error that stopped it.
async fn pg_writer(port: u16, started: Arc<Notify>) -> (Vec<i64>, String) {
    let (client, conn) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(port)
        .user(APP_ROLE.0)
        .password(APP_ROLE.1)
        .dbname("postgres")
        .connect(tokio_postgres::NoTls)
        .await
        .expect("the application connects to east");
    tokio::spawn(conn);
    let mut acked = Vec::new();
    for id in 0.. {
        match client
            .execute("INSERT INTO orders (id, note) VALUES ($1, 'east')", &[&id])
            .await
        {
            Ok(_) => acked.push(id),
            Err(e) => {
                let why = match e.as_db_error() {
                    Some(db) => format!("SQLSTATE {}: {}", db.code().code(), db.message()),
                    None if e.is_closed() => "connection closed".to_string(),
                    None => format!("{e:?}"),
                };
                return (acked, why);
            }
        }
        if id == 20 {
            started.notify_one();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    unreachable!()
}

/// Sets keys on east's cache until east refuses; returns the acknowledged keys.
async fn redis_writer(
    world: &dr_tests::local_failover::World,
    started: &Notify,
) -> (Vec<String>, String) {
    let mut acked = Vec::new();
    for i in 0.. {
        let key = format!("order:{i}");
        match world.cache_east.cmd(&["SET", &key, "east"]).await {
            Ok(Reply::Simple(ok)) if ok == "OK" => acked.push(key),
            other => return (acked, format!("{other:?}")),
        }
        if i == 20 {
            started.notify_one();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fence_stop_promote_both_stores_and_a_gated_shift_lose_no_acknowledged_write() {
    let world = world().await;
    let plan_text = plan(&world, Gate::CAREFUL);
    let plan = Plan::parse(
        "local.toml",
        &plan_text,
        &registry(),
        &LoadOptions::default(),
    )
    .unwrap_or_else(|d| panic!("{d}"));
    let state = tempfile::tempdir().unwrap();
    let started = Arc::new(Notify::new());
    let pg = tokio::spawn(pg_writer(world.pg_east.port(), started.clone()));
    started.notified().await;

    let executor = Executor::new(plan, RunOptions::new(state.path()));
    let cache_started = Notify::new();
    let run = async {
        cache_started.notified().await;
        executor.run().await
    };
    let (outcome, (cache_acked, cache_stop)) =
        tokio::join!(run, redis_writer(&world, &cache_started));
    let outcome = outcome.expect("the run could be carried out");
    let (pg_acked, pg_stop) = pg.await.unwrap();
    assert_eq!(
        outcome.status,
        RunStatus::Succeeded,
        "{}",
        outcome.report.to_markdown()
    );

    // The writers were stopped by the fences, not by anything else.
    assert!(
        ["57P01", "25006", "connection closed"]
            .iter()
            .any(|why| pg_stop.contains(why)),
        "{pg_stop}"
    );
    assert!(cache_stop.contains("READONLY"), "{cache_stop}");
    assert!(pg_acked.len() > 20 && !cache_acked.is_empty());

    // No write east acknowledged is missing on west.
    let west = world.pg_west.client().await;
    let ids: Vec<i64> = west
        .query("SELECT id FROM orders ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let missing: Vec<_> = pg_acked.iter().filter(|id| !ids.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged on east, missing on west: {missing:?}"
    );
    for key in &cache_acked {
        assert_eq!(
            world.cache_west.get(key).await.as_deref(),
            Some("east"),
            "{key} was acknowledged by east"
        );
    }

    // West takes the application's writes; east refuses them.
    let app_west = world.pg_west.connect(APP_ROLE.0, APP_ROLE.1).await.unwrap();
    app_west
        .execute("INSERT INTO orders (id, note) VALUES (-1, 'west')", &[])
        .await
        .unwrap();
    assert!(world.pg_east.connect(APP_ROLE.0, APP_ROLE.1).await.is_err());
    let err = world
        .pg_east
        .client()
        .await
        .execute("INSERT INTO orders (id, note) VALUES (-2, 'east')", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("25006"), "{err}");
    assert_eq!(
        world.cache_west.set("after", "west").await,
        Reply::Simple("OK".into())
    );
    assert_eq!(
        world.cache_east.set("after", "east").await.error_code(),
        Some("READONLY")
    );

    // Traffic is on west, the report measured the RTO and the RPO.
    let front = executor.plan().resource("front").unwrap().router().unwrap();
    let split = front.current(None).await.unwrap();
    assert!(split.same_as(&TrafficSplit::all_to("west")), "{split}");
    let report = &outcome.report;
    assert!(
        report.rto_ms.is_some() && report.rpo_ms.is_some(),
        "{report:?}"
    );
    assert_eq!(report.rpo_met, Some(true));
}
