//! Objects as the registry builds them from plan settings, against the harness's
//! servers.
#![allow(dead_code)]

use std::sync::Arc;

use dr_core::{DataStore, HealthProbe, Registry, Replicator, Settings};
use dr_postgres::testing::{PgServer, SUPERUSER_PASSWORD};
use serde_json::{Value, json};

/// A registry with the built-ins and `postgres`.
pub fn registry() -> Registry {
    let mut r = Registry::with_builtins();
    dr_postgres::register(&mut r);
    r
}

fn settings(name: &str, server: &PgServer, extra: Value) -> Settings {
    let mut values = json!({ "url": server.url(), "password": SUPERUSER_PASSWORD });
    if let (Some(map), Some(extra)) = (values.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            map.insert(k.clone(), v.clone());
        }
    }
    Settings::from_json(name, "postgres", values)
}

pub fn store(server: &PgServer, extra: Value) -> Arc<dyn DataStore> {
    registry()
        .build_store(&settings("db", server, extra))
        .expect("postgres is registered")
        .expect("a postgres store")
}

pub fn replicator(standby: &PgServer, primary: &PgServer) -> Arc<dyn Replicator> {
    registry()
        .build_replicator(&settings("link", standby, json!({ "peer": primary.url() })))
        .expect("postgres is registered")
        .expect("a postgres replicator")
}

/// The link into `standby` from `primary` with more settings
/// (`reverse_command`, `reverse_timeout`, another user).
pub fn replicator_with(
    standby: &PgServer,
    primary: &PgServer,
    extra: Value,
) -> Arc<dyn Replicator> {
    let mut values = json!({ "peer": primary.url() });
    if let (Some(map), Some(extra)) = (values.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            map.insert(k.clone(), v.clone());
        }
    }
    registry()
        .build_replicator(&settings("link", standby, values))
        .expect("postgres is registered")
        .expect("a postgres replicator")
}

/// `SELECT count(*) FROM table` on `server`.
pub async fn count(server: &PgServer, table: &str) -> i64 {
    server
        .client()
        .await
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

/// `pg_is_in_recovery()` on `server`.
pub async fn in_recovery(server: &PgServer) -> bool {
    server
        .client()
        .await
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .unwrap()
        .get(0)
}

pub fn probe(server: &PgServer, extra: Value) -> Arc<dyn HealthProbe> {
    registry()
        .build_probe(&settings("db_probe", server, extra))
        .expect("postgres is registered")
        .expect("a postgres probe")
}

/// Creates the application's role `app` (password `app-pw`) and a table it may
/// write, on `primary`.
pub async fn app_schema(primary: &PgServer) {
    primary
        .exec(
            "CREATE ROLE app LOGIN PASSWORD 'app-pw'; \
             CREATE TABLE orders (id bigint PRIMARY KEY, note text); \
             GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO app;",
        )
        .await;
}
