//! The published JSON Schema agrees with the plan format, and the registry maps
//! provider names to factories.

use std::sync::Arc;

use dr_core::{
    ConfigError, Health, HealthProbe, Kind, LoadOptions, Plan, ProviderError, Registry, Settings,
    async_trait,
};
use serde_json::json;

fn schema() -> jsonschema::Validator {
    jsonschema::validator_for(&dr_core::plan::json_schema())
        .expect("the schema is a valid JSON Schema")
}

fn valid_plan() -> serde_json::Value {
    json!({
        "plan": { "name": "proseware", "rto": "15m", "rpo": "15m", "safety": { "never_route_to_unhealthy": true, "min_healthy_targets": 1 } },
        "resources": {
            "front": { "provider": "sim.router", "targets": ["eastus", "westus", "maintenance"], "health": { "westus": "web_west" } },
            "web_west": { "provider": "sim.probe", "healthy": true },
            "db": { "provider": "sim.store", "role": "replica", "lag": "3s" }
        },
        "steps": [
            { "id": "maintenance", "action": "traffic.set", "router": "front", "split": { "maintenance": 100 } },
            { "id": "promote-db", "action": "datastore.promote", "store": "db", "max_lag": "15m", "depends_on": ["maintenance"] },
            { "id": "shift", "action": "traffic.shift", "router": "front", "to": "westus", "phases": [20, 40, 60, 80, 100],
              "gate": { "probe": "web_west", "healthy_for": "2m", "every": "10s" }, "on_failure": "rollback", "depends_on": ["promote-db"] },
            { "id": "ok", "action": "approval", "message": "go?" },
            { "id": "ec2", "action": "aws.ec2.start_instances", "instances": ["i-1"] }
        ]
    })
}

#[test]
fn a_valid_plan_validates_against_the_schema_and_loads() {
    let v = schema();
    let plan = valid_plan();
    let errors: Vec<String> = v
        .iter_errors(&plan)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The same document (minus the provider action nobody registered) loads.
    let mut loadable = plan.clone();
    loadable["steps"].as_array_mut().unwrap().pop();
    let text = serde_json::to_string_pretty(&loadable).unwrap();
    Plan::parse(
        "plan.json",
        &text,
        &Registry::with_builtins(),
        &LoadOptions::default(),
    )
    .unwrap_or_else(|d| panic!("{d}"));
}

type Mutation = Box<dyn Fn(&mut serde_json::Value)>;

#[test]
fn wrong_plans_do_not_validate() {
    let v = schema();
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "missing plan name",
            Box::new(|p| {
                p["plan"].as_object_mut().unwrap().remove("name");
            }),
        ),
        (
            "unknown plan key",
            Box::new(|p| p["plan"]["nmae"] = json!("x")),
        ),
        (
            "bad duration",
            Box::new(|p| p["plan"]["rto"] = json!("soon")),
        ),
        (
            "resource without provider",
            Box::new(|p| {
                p["resources"]["db"]
                    .as_object_mut()
                    .unwrap()
                    .remove("provider");
            }),
        ),
        (
            "builtin step with unknown key",
            Box::new(|p| p["steps"][0]["routr"] = json!("front")),
        ),
        (
            "builtin step missing a key",
            Box::new(|p| {
                p["steps"][0].as_object_mut().unwrap().remove("split");
            }),
        ),
        (
            "negative weight",
            Box::new(|p| p["steps"][0]["split"] = json!({ "maintenance": -5 })),
        ),
        (
            "bad on_failure",
            Box::new(|p| p["steps"][2]["on_failure"] = json!("explode")),
        ),
        (
            "step without id",
            Box::new(|p| {
                p["steps"][3].as_object_mut().unwrap().remove("id");
            }),
        ),
    ];
    for (what, mutate) in cases {
        let mut p = valid_plan();
        mutate(&mut p);
        assert!(!v.is_valid(&p), "schema accepted a plan with {what}");
    }
}

#[derive(Debug)]
struct Up;

#[async_trait]
impl HealthProbe for Up {
    async fn probe(&self) -> Result<Health, ProviderError> {
        Ok(Health::healthy(Default::default()))
    }
}

#[test]
fn the_registry_maps_names_to_factories_and_reports_kinds() {
    let mut r = Registry::with_builtins();
    assert_eq!(r.kinds("sim.store"), vec![Kind::Store, Kind::Replicator]);
    assert_eq!(r.kinds("http"), vec![Kind::Probe]);
    assert!(r.kinds("nope").is_empty());
    assert!(r.providers().contains(&"tcp".to_string()));

    r.probe("my.probe", |s: &Settings| {
        if s.get("fail").is_some() {
            return Err(ConfigError::key("fail", "asked to fail"));
        }
        Ok(Arc::new(Up))
    });
    assert_eq!(r.kinds("my.probe"), vec![Kind::Probe]);
    let ok = Settings::from_json("p", "my.probe", json!({}));
    assert!(r.build_probe(&ok).unwrap().is_ok());
    let bad = Settings::from_json("p", "my.probe", json!({ "fail": true }));
    assert_eq!(
        r.build_probe(&bad).unwrap().unwrap_err().key.as_deref(),
        Some("fail")
    );
    assert!(r.build_router(&ok).is_none(), "my.probe is not a router");
    assert!(!r.has_action("x.y"));
}
