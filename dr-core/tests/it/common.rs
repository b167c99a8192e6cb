//! Helpers the executor test files share: a sim world, fast retries, an event
//! recorder, reading a sim router's split, the one run in a state dir.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dr_core::executor::{Event, RunOptions};
use dr_core::retry::RetryPolicy;
use dr_core::sim::SimWorld;
use dr_core::{Registry, TrafficSplit};

/// A fresh in-memory sim world and a registry with the built-ins and it.
pub fn world() -> (SimWorld, Registry) {
    let world = SimWorld::new();
    let mut registry = Registry::with_builtins();
    world.register(&mut registry);
    (world, registry)
}

/// Run options on `dir` with fast retries, so tests do not wait on backoff.
pub fn opts(dir: &std::path::Path) -> RunOptions {
    RunOptions::new(dir).with_retry(RetryPolicy {
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        ..Default::default()
    })
}

/// The events a run emits, and the sink that records them.
pub fn recorder() -> (
    Arc<Mutex<Vec<Event>>>,
    impl Fn(&Event) + Send + Sync + 'static,
) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    (events, move |ev: &Event| e.lock().unwrap().push(ev.clone()))
}

/// The split of the in-memory sim router `name` with `targets`.
pub async fn split_of(registry: &Registry, name: &str, targets: &[&str]) -> TrafficSplit {
    let s = dr_core::Settings::from_json(
        name,
        "sim.router",
        serde_json::json!({ "targets": targets }),
    );
    registry
        .build_router(&s)
        .unwrap()
        .unwrap()
        .current(None)
        .await
        .unwrap()
}

/// The id of the one run in a state dir.
pub fn only_run_id(state_dir: &std::path::Path) -> String {
    let mut runs = std::fs::read_dir(state_dir.join("runs")).unwrap();
    runs.next()
        .unwrap()
        .unwrap()
        .file_name()
        .into_string()
        .unwrap()
}
