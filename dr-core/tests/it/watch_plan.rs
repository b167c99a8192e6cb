//! `[plan.watch]` in the typed plan and the published schema.

use std::time::Duration;

use dr_core::plan::WatchMode;
use dr_core::{LoadOptions, Plan, Registry};
use serde_json::json;

fn plan(watch: serde_json::Value) -> serde_json::Value {
    json!({
        "plan": { "name": "p", "watch": watch },
        "resources": {
            "a": { "provider": "sim.probe", "healthy": true },
            "b": { "provider": "sim.probe", "healthy": true }
        }
    })
}

fn load(doc: &serde_json::Value) -> Result<Plan, dr_core::Diagnostics> {
    Plan::parse(
        "p.json",
        &serde_json::to_string_pretty(doc).unwrap(),
        &Registry::with_builtins(),
        &LoadOptions::default(),
    )
}

#[test]
fn defaults_and_explicit_values() {
    let p = load(&plan(json!({ "probes": ["a", "b"] }))).unwrap();
    let w = p.watch.clone().unwrap();
    assert_eq!(w.probes, ["a", "b"]);
    assert_eq!(w.interval, Duration::from_secs(10));
    assert_eq!(w.timeout, Duration::from_secs(5));
    assert_eq!(w.failure_threshold, 3);
    assert_eq!(w.quorum, 2, "default quorum: all probes");
    assert_eq!(w.hold_down, Duration::from_secs(1800));
    assert_eq!(w.mode, WatchMode::Auto);
    assert_eq!(w.check_every, Duration::from_secs(1800));
    // The probes are built as probes.
    assert!(p.resource("a").unwrap().probe().is_some());

    let p = load(&plan(json!({
        "probes": ["a"], "interval": "200ms", "failure_threshold": 1, "quorum": 1,
        "hold_down": "0s", "mode": "approve", "check_every": "1m"
    })))
    .unwrap();
    let w = p.watch.unwrap();
    assert_eq!(
        w.timeout,
        Duration::from_millis(200),
        "default timeout: at most the interval"
    );
    assert_eq!(w.mode, WatchMode::Approve);
    assert_eq!(
        dr_core::watch::detection_bound(&w),
        Duration::from_millis(400)
    );
    assert!(
        load(&json!({ "plan": { "name": "p" } }))
            .unwrap()
            .watch
            .is_none()
    );
}

#[test]
fn the_schema_knows_plan_watch() {
    let schema = dr_core::plan::json_schema();
    let v = jsonschema::validator_for(&schema).unwrap();
    assert!(v.is_valid(&plan(
        json!({ "probes": ["a"], "mode": "approve", "quorum": 1 })
    )));
    assert!(!v.is_valid(&plan(json!({ "probes": ["a"], "mode": "sometimes" }))));
    assert!(!v.is_valid(&plan(json!({ "probes": ["a"], "every": "1s" }))));
    assert!(
        !v.is_valid(&plan(json!({ "interval": "1s" }))),
        "probes is required"
    );
}

#[test]
fn errors_are_located_at_the_key() {
    let text = "[plan]\nname = \"p\"\n[plan.watch]\nprobes = [\"a\", \"a\"]\nquorum = 3\n\n[resources.a]\nprovider = \"sim.probe\"\n";
    let d = Plan::parse(
        "p.toml",
        text,
        &Registry::with_builtins(),
        &LoadOptions::default(),
    )
    .unwrap_err();
    let all: Vec<String> =
        d.0.iter()
            .map(|d| {
                format!(
                    "{}:{}:{} {}: {}",
                    d.file, d.line, d.column, d.key, d.message
                )
            })
            .collect();
    assert!(
        all.iter()
            .any(|m| m.starts_with("p.toml:4:16 plan.watch.probes[1]: probe `a` is listed twice")),
        "{all:#?}"
    );
    assert!(all.iter().any(|m| m.starts_with("p.toml:5:10 plan.watch.quorum: quorum must be between 1 and the number of probes (2), not 3")), "{all:#?}");
}
