//! The sim provider: conformance suites, shared state files, fault and latency injection.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dr_core::sim::{self, SimWorld};
use dr_core::testing::{
    probe_conformance, replicator_conformance, replicator_reverse_conformance, router_conformance,
    router_scope_conformance, store_conformance,
};
use dr_core::{
    DataStore, ErrorKind, HealthProbe, HealthStatus, Kind, Registry, ReplicationState, Replicator,
    Role, Settings, TrafficRouter, TrafficSplit,
};
use serde_json::{Value, json};

fn settings(name: &str, provider: &str, values: Value) -> Settings {
    Settings::from_json(name, provider, values)
}

fn router(registry: &Registry, name: &str, values: Value) -> Arc<dyn TrafficRouter> {
    registry
        .build_router(&settings(name, "sim.router", values))
        .expect("sim.router is registered")
        .expect("valid settings")
}

fn probe(registry: &Registry, name: &str, values: Value) -> Arc<dyn HealthProbe> {
    registry
        .build_probe(&settings(name, "sim.probe", values))
        .expect("sim.probe is registered")
        .expect("valid settings")
}

fn store(registry: &Registry, name: &str, values: Value) -> Arc<dyn DataStore> {
    registry
        .build_store(&settings(name, "sim.store", values))
        .expect("sim.store is registered")
        .expect("valid settings")
}

fn replicator(
    registry: &Registry,
    provider: &str,
    name: &str,
    values: Value,
) -> Arc<dyn Replicator> {
    registry
        .build_replicator(&settings(name, provider, values))
        .expect("registered as a replicator")
        .expect("valid settings")
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn state_path(dir: &tempfile::TempDir) -> String {
    dir.path().join("sim.json").to_string_lossy().into_owned()
}

#[test]
fn registers_every_sim_provider_with_its_kinds() {
    let registry = Registry::with_builtins();
    assert_eq!(registry.kinds("sim.router"), vec![Kind::Router]);
    assert_eq!(registry.kinds("sim.probe"), vec![Kind::Probe]);
    assert_eq!(
        registry.kinds("sim.store"),
        vec![Kind::Store, Kind::Replicator]
    );
    assert_eq!(registry.kinds("sim.replicator"), vec![Kind::Replicator]);
}

#[tokio::test]
async fn router_passes_conformance_in_memory_and_in_a_file() {
    let registry = Registry::with_builtins();
    let r = router(
        &registry,
        "front",
        json!({ "targets": ["east", "west", "maint"] }),
    );
    router_conformance(r.as_ref()).await;
    router_scope_conformance(r.as_ref(), "WNAM").await;
    assert!(
        r.current(None)
            .await
            .unwrap()
            .same_as(&TrafficSplit::all_to("east"))
    );

    let dir = tempfile::tempdir().unwrap();
    let r = router(
        &registry,
        "front",
        json!({ "targets": ["east", "west"], "initial": { "east": 60, "west": 40 }, "state_file": state_path(&dir) }),
    );
    router_conformance(r.as_ref()).await;
    router_scope_conformance(r.as_ref(), "ENAM").await;
}

#[tokio::test]
async fn probes_pass_conformance() {
    let registry = Registry::with_builtins();
    let timeout = Duration::from_secs(1);
    for values in [
        json!({}),
        json!({ "healthy": false }),
        json!({ "sequence": ["unhealthy", "degraded", "healthy"] }),
        json!({ "follows": "front:west" }),
        json!({ "healthy": true, "latency": "100ms" }),
    ] {
        probe_conformance(probe(&registry, "web", values).as_ref(), timeout).await;
    }
}

#[tokio::test]
async fn store_passes_store_and_replicator_conformance() {
    let registry = Registry::with_builtins();
    let db = store(&registry, "db", json!({ "role": "replica", "lag": "3s" }));
    store_conformance(db.as_ref()).await;

    let link = replicator(
        &registry,
        "sim.store",
        "db2",
        json!({ "role": "replica", "lag": "3s" }),
    );
    assert_eq!(
        link.status().await.unwrap().lag,
        Some(Duration::from_secs(3))
    );
    replicator_conformance(link.as_ref()).await;
    replicator_reverse_conformance(link.as_ref()).await;
    assert_eq!(
        link.status().await.unwrap().state,
        ReplicationState::Replicating
    );
}

#[tokio::test]
async fn replicator_passes_conformance() {
    let registry = Registry::with_builtins();
    let link = replicator(&registry, "sim.replicator", "link", json!({ "lag": "2s" }));
    replicator_conformance(link.as_ref()).await;
    replicator_reverse_conformance(link.as_ref()).await;

    let dir = tempfile::tempdir().unwrap();
    let link = replicator(
        &registry,
        "sim.replicator",
        "link",
        json!({ "state_file": state_path(&dir) }),
    );
    replicator_conformance(link.as_ref()).await;
    replicator_reverse_conformance(link.as_ref()).await;
    let file = Path::new(&state_path(&dir)).to_path_buf();
    assert_eq!(
        sim::read_calls(&file, "link").unwrap(),
        counts(&[("reverse", 1), ("stop", 1)])
    );
}

/// `sim.store` as a replicator and `sim.replicator` share one link
/// implementation: driven through the same calls from the same state, they
/// report the same status and count the same calls, in memory and in a file.
#[tokio::test]
async fn the_stores_link_and_sim_replicator_behave_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let file = state_path(&dir);
    // (store settings, replicator settings): the same link state, two ways.
    let cases = [
        (
            json!({ "role": "replica", "lag": "3s" }),
            json!({ "lag": "3s" }),
        ),
        (
            json!({ "role": "primary", "lag": "1s", "fail_first": 1 }),
            json!({ "state": "paused", "lag": "1s", "fail_first": 1 }),
        ),
        (
            json!({ "role": "replica", "state_file": file }),
            json!({ "state_file": file }),
        ),
    ];
    for (store_values, replicator_values) in cases {
        let world = SimWorld::new();
        let mut registry = Registry::new();
        world.register(&mut registry);
        let file = store_values
            .get("state_file")
            .map(|f| f.as_str().unwrap().to_string());
        let links = [
            (
                "db",
                replicator(&registry, "sim.store", "db", store_values.clone()),
            ),
            (
                "link",
                replicator(&registry, "sim.replicator", "link", replicator_values),
            ),
        ];
        let counters = |name: &str| match &file {
            Some(f) => (
                sim::read_calls(Path::new(f), name).unwrap(),
                sim::read_invocations(Path::new(f), name).unwrap(),
            ),
            None => (world.calls(name), world.invocations(name)),
        };
        // reverse twice on a link that replicates the original way: the first one
        // re-protects (counted), the second finds it done; then stop, stop, reverse.
        let ops = [
            "status", "reverse", "reverse", "stop", "stop", "reverse", "stop",
        ];
        for (i, op) in ops.iter().enumerate() {
            let mut seen = Vec::new();
            for (name, link) in &links {
                let result = match *op {
                    "status" => link.status().await.map(|_| ()),
                    "reverse" => link.reverse().await,
                    _ => link.stop().await,
                };
                let status = link.status().await.unwrap();
                let (calls, invocations) = counters(name);
                seen.push((
                    result.map_err(|e| e.kind().clone()),
                    status.state,
                    status.lag,
                    calls,
                    invocations,
                ));
            }
            assert_eq!(
                seen[0], seen[1],
                "after {op} (call {i}) with {store_values}: the store's link (left) and \
                 sim.replicator (right) differ"
            );
        }
        let (calls, _) = counters("db");
        assert_eq!(
            calls,
            counts(&[("reverse", 2), ("stop", 2)]),
            "{store_values}"
        );
    }
}

#[tokio::test]
async fn a_state_file_is_shared_by_independently_built_resources() {
    let dir = tempfile::tempdir().unwrap();
    let file = state_path(&dir);
    let values = json!({ "targets": ["east", "west"], "state_file": file });
    // Two registries: two in-memory worlds, as two processes would have.
    let first = router(&Registry::with_builtins(), "front", values.clone());
    let second = router(&Registry::with_builtins(), "front", values);
    first
        .apply(&TrafficSplit::all_to("west"), None)
        .await
        .unwrap();
    assert!(
        second
            .current(None)
            .await
            .unwrap()
            .same_as(&TrafficSplit::all_to("west"))
    );
    second
        .apply(&TrafficSplit::all_to("west"), None)
        .await
        .unwrap();
    let path = Path::new(&file);
    assert_eq!(
        sim::read_calls(path, "front").unwrap(),
        counts(&[("apply", 1)])
    );
    assert_eq!(
        sim::read_invocations(path, "front").unwrap(),
        counts(&[("apply", 2)])
    );
    let s = settings(
        "front",
        "sim.router",
        json!({ "targets": ["east"], "state_file": file }),
    );
    assert_eq!(sim::calls_of(&s), Some(counts(&[("apply", 1)])));
    assert_eq!(sim::invocations_of(&s), Some(counts(&[("apply", 2)])));

    // Without a state file, two registries do not share anything.
    let a = router(
        &Registry::with_builtins(),
        "front",
        json!({ "targets": ["east", "west"] }),
    );
    let b = router(
        &Registry::with_builtins(),
        "front",
        json!({ "targets": ["east", "west"] }),
    );
    a.apply(&TrafficSplit::all_to("west"), None).await.unwrap();
    assert!(
        b.current(None)
            .await
            .unwrap()
            .same_as(&TrafficSplit::all_to("east"))
    );
    assert_eq!(
        sim::calls_of(&settings("front", "sim.router", json!({}))),
        None
    );
}

#[tokio::test]
async fn follows_probe_tracks_targets_marked_down() {
    let dir = tempfile::tempdir().unwrap();
    let file = state_path(&dir);
    let path = Path::new(&file);
    let registry = Registry::with_builtins();
    let qualified = probe(
        &registry,
        "web_west",
        json!({ "follows": "front:west", "state_file": file }),
    );
    let bare = probe(
        &registry,
        "web_west2",
        json!({ "follows": "west", "state_file": file }),
    );
    let east = probe(
        &registry,
        "web_east",
        json!({ "follows": "front:east", "state_file": file }),
    );

    assert!(qualified.probe().await.unwrap().is_healthy());
    sim::set_target_down(path, "west", true).unwrap();
    let health = qualified.probe().await.unwrap();
    assert_eq!(health.status, HealthStatus::Unhealthy);
    assert!(health.detail.contains("front:west"), "{}", health.detail);
    assert!(!bare.probe().await.unwrap().is_healthy());
    assert!(east.probe().await.unwrap().is_healthy());
    assert_eq!(sim::targets_down(path).unwrap(), vec!["west".to_string()]);

    sim::set_target_down(path, "west", false).unwrap();
    assert!(qualified.probe().await.unwrap().is_healthy());
    assert!(bare.probe().await.unwrap().is_healthy());

    sim::set_target_down(path, "front:east", true).unwrap();
    assert!(!east.probe().await.unwrap().is_healthy());
    assert!(qualified.probe().await.unwrap().is_healthy());
}

#[tokio::test]
async fn follows_probe_in_memory_follows_its_world() {
    let world = SimWorld::new();
    let mut registry = Registry::new();
    world.register(&mut registry);
    let p = probe(&registry, "web", json!({ "follows": "front:west" }));
    world.set_target_down("front:west", true);
    assert!(!p.probe().await.unwrap().is_healthy());
    world.set_target_down("front:west", false);
    assert!(p.probe().await.unwrap().is_healthy());
}

#[tokio::test]
async fn sequence_is_consumed_once_per_probe_and_the_last_repeats() {
    let registry = Registry::with_builtins();
    let p = probe(
        &registry,
        "web",
        json!({ "sequence": ["unhealthy", "degraded", "healthy"] }),
    );
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(p.probe().await.unwrap().status);
    }
    use HealthStatus::*;
    assert_eq!(seen, vec![Unhealthy, Degraded, Healthy, Healthy, Healthy]);

    // In a state file, the position survives the process.
    let dir = tempfile::tempdir().unwrap();
    let values = json!({ "sequence": ["unhealthy", "healthy"], "state_file": state_path(&dir) });
    let first = probe(&Registry::with_builtins(), "web", values.clone());
    assert_eq!(first.probe().await.unwrap().status, Unhealthy);
    let resumed = probe(&Registry::with_builtins(), "web", values);
    assert_eq!(resumed.probe().await.unwrap().status, Healthy);
}

#[tokio::test]
async fn fail_first_fails_the_first_mutating_calls_then_succeeds_and_is_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let file = state_path(&dir);
    let values = json!({ "role": "replica", "fail_first": 2, "state_file": file });
    let db = store(&Registry::with_builtins(), "db", values.clone());
    // Reads are not mutating calls: they never fail.
    assert_eq!(db.role().await.unwrap(), Role::Replica { of: None });
    for n in 1..=2 {
        let err = db.promote().await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Transient, "{err}");
        assert!(err.is_retryable());
        assert_eq!(err.operation(), Some("promote"));
        assert_eq!(err.resource(), Some("db"));
        assert!(err.message().contains(&format!("{n} of 2")), "{err}");
        assert_eq!(
            db.role().await.unwrap(),
            Role::Replica { of: None },
            "no effect"
        );
    }
    db.promote().await.unwrap();
    assert_eq!(db.role().await.unwrap(), Role::Primary);

    // A resumed process does not fail again.
    let resumed = store(&Registry::with_builtins(), "db", values);
    resumed.fence().await.unwrap();
    let path = Path::new(&file);
    assert_eq!(
        sim::read_calls(path, "db").unwrap(),
        counts(&[("fence", 1), ("promote", 1)])
    );
    assert_eq!(
        sim::read_invocations(path, "db").unwrap(),
        counts(&[("fence", 1), ("promote", 3)])
    );

    // In memory too.
    let world = SimWorld::new();
    let mut registry = Registry::new();
    world.register(&mut registry);
    let r = router(
        &registry,
        "front",
        json!({ "targets": ["a", "b"], "fail_first": 1 }),
    );
    let err = r.apply(&TrafficSplit::all_to("b"), None).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Transient);
    assert!(
        r.current(None)
            .await
            .unwrap()
            .same_as(&TrafficSplit::all_to("a"))
    );
    r.apply(&TrafficSplit::all_to("b"), None).await.unwrap();
    assert_eq!(world.calls("front"), counts(&[("apply", 1)]));
    assert_eq!(world.invocations("front"), counts(&[("apply", 2)]));
}

#[tokio::test]
async fn calls_count_only_effective_changes() {
    let world = SimWorld::new();
    let mut registry = Registry::new();
    world.register(&mut registry);

    let r = router(&registry, "front", json!({ "targets": ["east", "west"] }));
    r.apply(&TrafficSplit::all_to("east"), None).await.unwrap(); // already in place
    r.apply(
        &TrafficSplit::from_pairs([("east", 50), ("west", 50)]),
        None,
    )
    .await
    .unwrap();
    r.apply(
        &TrafficSplit::from_pairs([("west", 50), ("east", 50)]),
        None,
    )
    .await
    .unwrap();
    let err = r
        .apply(&TrafficSplit::all_to("north"), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidRequest);
    assert!(err.to_string().contains("unknown target `north`"), "{err}");
    r.apply(&TrafficSplit::all_to("west"), Some("WNAM"))
        .await
        .unwrap();
    r.apply(&TrafficSplit::all_to("west"), Some("WNAM"))
        .await
        .unwrap();
    assert_eq!(world.calls("front"), counts(&[("apply", 2)]));
    assert_eq!(world.invocations("front"), counts(&[("apply", 6)]));
    assert!(
        r.current(Some("WNAM"))
            .await
            .unwrap()
            .same_as(&TrafficSplit::all_to("west"))
    );
    assert!(
        r.current(Some("ENAM"))
            .await
            .unwrap()
            .same_as(&TrafficSplit::from_pairs([("east", 50), ("west", 50)]))
    );

    let db = store(&registry, "db", json!({ "role": "replica" }));
    assert!(!db.writable().await.unwrap());
    db.promote().await.unwrap();
    db.promote().await.unwrap();
    db.flush().await.unwrap();
    db.flush().await.unwrap();
    db.fence().await.unwrap();
    db.fence().await.unwrap();
    assert!(!db.writable().await.unwrap());
    assert_eq!(
        world.calls("db"),
        counts(&[("fence", 1), ("flush", 1), ("promote", 1)])
    );
    assert_eq!(
        world.invocations("db"),
        counts(&[("fence", 2), ("flush", 2), ("promote", 2)])
    );

    // The store is also the link into it: promote paused it, and its lag is readable.
    let link = replicator(
        &registry,
        "sim.store",
        "db",
        json!({ "role": "replica", "lag": "4s" }),
    );
    let status = link.status().await.unwrap();
    assert_eq!(status.state, ReplicationState::Paused);
    assert_eq!(status.lag, Some(Duration::from_secs(4)));
    link.stop().await.unwrap(); // already paused
    assert_eq!(world.calls("db").get("stop"), None);

    let primary = store(&registry, "old", json!({ "role": "primary" }));
    assert!(primary.writable().await.unwrap());
    primary.promote().await.unwrap();
    assert_eq!(world.calls("old"), BTreeMap::new());
}

#[tokio::test]
async fn reads_are_not_invocations() {
    let world = SimWorld::new();
    let mut registry = Registry::new();
    world.register(&mut registry);
    let r = router(&registry, "front", json!({ "targets": ["east"] }));
    let db = store(&registry, "db", json!({ "role": "replica" }));
    let link = replicator(&registry, "sim.replicator", "link", json!({}));
    r.current(None).await.unwrap();
    db.role().await.unwrap();
    db.writable().await.unwrap();
    link.status().await.unwrap();
    for name in ["front", "db", "link"] {
        assert_eq!(world.invocations(name), BTreeMap::new(), "{name}");
    }
}

#[tokio::test(start_paused = true)]
async fn latency_is_slept_on_every_call_in_virtual_time() {
    let registry = Registry::with_builtins();
    let r = router(
        &registry,
        "front",
        json!({ "targets": ["east", "west"], "latency": "30s" }),
    );
    let db = store(
        &registry,
        "db",
        json!({ "role": "replica", "latency": "1m" }),
    );
    let p = probe(&registry, "web", json!({ "latency": "2s" }));

    let start = tokio::time::Instant::now();
    r.current(None).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    r.apply(&TrafficSplit::all_to("west"), None).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    db.promote().await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(120),
        "{:?}",
        start.elapsed()
    );
    let health = p.probe().await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(122),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(health.latency, Some(Duration::from_secs(2)));
}

#[test]
fn bad_settings_are_config_errors_naming_the_key() {
    let registry = Registry::with_builtins();
    let key = |provider: &str, values: Value| {
        let s = settings("r", provider, values);
        let err = match provider {
            "sim.router" => registry.build_router(&s).unwrap().err(),
            "sim.probe" => registry.build_probe(&s).unwrap().err(),
            "sim.store" => registry.build_store(&s).unwrap().err(),
            _ => registry.build_replicator(&s).unwrap().err(),
        };
        err.unwrap_or_else(|| panic!("{provider} accepted bad settings"))
            .key
    };
    let k = |s: &str| Some(s.to_string());
    assert_eq!(
        key("sim.router", json!({ "targets": ["a"], "weights": 1 })),
        k("weights")
    );
    assert_eq!(key("sim.router", json!({ "targets": [] })), k("targets"));
    assert_eq!(
        key("sim.router", json!({ "targets": ["a", "a"] })),
        k("targets")
    );
    assert_eq!(
        key(
            "sim.router",
            json!({ "targets": ["a"], "initial": { "b": 100 } })
        ),
        k("initial")
    );
    assert_eq!(
        key(
            "sim.router",
            json!({ "targets": ["a"], "initial": { "a": 90 } })
        ),
        k("initial")
    );
    assert_eq!(
        key("sim.router", json!({ "targets": ["a"], "latency": "soon" })),
        k("latency")
    );
    assert_eq!(
        key("sim.probe", json!({ "healthy": true, "follows": "a" })),
        k("follows")
    );
    assert_eq!(key("sim.probe", json!({ "sequence": [] })), k("sequence"));
    assert_eq!(
        key("sim.probe", json!({ "sequence": ["fine"] })),
        k("sequence[0]")
    );
    assert_eq!(key("sim.store", json!({ "role": "leader" })), k("role"));
    assert_eq!(
        key("sim.store", json!({ "role": "primary", "lag": "x" })),
        k("lag")
    );
    assert_eq!(
        key("sim.store", json!({ "role": "primary", "fail_frist": 1 })),
        k("fail_frist")
    );
    assert_eq!(
        key("sim.replicator", json!({ "state": "flowing" })),
        k("state")
    );
}

#[tokio::test]
async fn a_corrupt_state_file_is_a_fatal_error_not_a_reset() {
    let dir = tempfile::tempdir().unwrap();
    let file = state_path(&dir);
    std::fs::write(&file, "{ not json").unwrap();
    let r = router(
        &Registry::with_builtins(),
        "front",
        json!({ "targets": ["a"], "state_file": file }),
    );
    let err = r.current(None).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Fatal);
    assert!(err.to_string().contains("not valid"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{ not json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_changes_through_one_state_file_are_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let values = json!({ "targets": ["a", "b"], "state_file": state_path(&dir) });
    let mut tasks = Vec::new();
    for i in 0..8 {
        // A registry per task: as many "processes" sharing the file.
        let r = router(&Registry::with_builtins(), "front", values.clone());
        tasks.push(tokio::spawn(async move {
            for j in 0..10 {
                let to = if (i + j) % 2 == 0 { "a" } else { "b" };
                r.apply(&TrafficSplit::all_to(to), None).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let path = Path::new(&values["state_file"].as_str().unwrap()).to_path_buf();
    assert_eq!(
        sim::read_invocations(&path, "front").unwrap(),
        counts(&[("apply", 80)])
    );
}

/// The suites must catch broken providers, not only pass good ones.
mod the_suites_catch_violations {
    use super::*;
    use dr_core::{
        Health, ProviderError, ReplicationStatus, ReplicatorCapabilities, RouterCapabilities,
        StoreCapabilities, async_trait,
    };
    use std::future::Future;
    use std::sync::Mutex;

    async fn panics(f: impl Future<Output = ()> + Send + 'static) -> String {
        let err = tokio::spawn(f)
            .await
            .expect_err("the suite should have panicked");
        let payload = err.into_panic();
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    }

    /// Accepts any split, known targets or not.
    #[derive(Debug, Default)]
    struct Lax(Mutex<Option<TrafficSplit>>);

    #[async_trait]
    impl TrafficRouter for Lax {
        fn targets(&self) -> Vec<String> {
            vec!["a".into(), "b".into()]
        }
        fn capabilities(&self) -> RouterCapabilities {
            RouterCapabilities::weighted()
        }
        async fn current(&self, _: Option<&str>) -> Result<TrafficSplit, ProviderError> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .clone()
                .unwrap_or(TrafficSplit::all_to("a")))
        }
        async fn apply(&self, s: &TrafficSplit, _: Option<&str>) -> Result<(), ProviderError> {
            *self.0.lock().unwrap() = Some(s.clone());
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_router_accepting_unknown_targets() {
        let msg = panics(async { router_conformance(&Lax::default()).await }).await;
        assert!(msg.contains("unknown target"), "{msg}");
    }

    /// Never answers.
    #[derive(Debug)]
    struct Hangs;

    #[async_trait]
    impl HealthProbe for Hangs {
        async fn probe(&self) -> Result<Health, ProviderError> {
            std::future::pending().await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_that_hangs() {
        let msg = panics(async { probe_conformance(&Hangs, Duration::from_secs(5)).await }).await;
        assert!(msg.contains("did not return within"), "{msg}");
    }

    /// Claims to fence but stays writable.
    #[derive(Debug)]
    struct LeakyFence;

    #[async_trait]
    impl DataStore for LeakyFence {
        fn capabilities(&self) -> StoreCapabilities {
            StoreCapabilities::full()
        }
        async fn role(&self) -> Result<Role, ProviderError> {
            Ok(Role::Primary)
        }
        async fn writable(&self) -> Result<bool, ProviderError> {
            Ok(true)
        }
        async fn promote(&self) -> Result<(), ProviderError> {
            Ok(())
        }
        async fn fence(&self) -> Result<(), ProviderError> {
            Ok(())
        }
        async fn flush(&self) -> Result<(), ProviderError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_store_whose_fence_does_nothing() {
        let msg = panics(async { store_conformance(&LeakyFence).await }).await;
        assert!(msg.contains("after fence()"), "{msg}");
    }

    /// Stop returns Ok but the link keeps replicating.
    #[derive(Debug)]
    struct Unstoppable;

    #[async_trait]
    impl Replicator for Unstoppable {
        fn capabilities(&self) -> ReplicatorCapabilities {
            ReplicatorCapabilities::full()
        }
        async fn status(&self) -> Result<ReplicationStatus, ProviderError> {
            Ok(ReplicationStatus::new(ReplicationState::Replicating, None))
        }
        async fn stop(&self) -> Result<(), ProviderError> {
            Ok(())
        }
        async fn reverse(&self) -> Result<(), ProviderError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_replicator_that_does_not_stop() {
        let msg = panics(async { replicator_conformance(&Unstoppable).await }).await;
        assert!(msg.contains("still says replicating"), "{msg}");
    }
}
