//! Objects as the registry builds them, against the ARM stand-in.

use std::sync::Arc;

use dr_azure::testing::{ArmStandIn, TOKEN, names};
use dr_azure::{StaticToken, register_with};
use dr_core::{Action, DataStore, HealthProbe, Registry, Replicator, Settings, TrafficRouter};
use serde_json::{Value, json};

pub fn registry_with_token(token: &str) -> Registry {
    let mut r = Registry::new();
    register_with(&mut r, Arc::new(StaticToken::new(token)));
    r
}

pub fn registry() -> Registry {
    registry_with_token(TOKEN)
}

pub fn settings(arm: &ArmStandIn, name: &str, provider: &str, extra: Value) -> Settings {
    Settings::from_json(name, provider, arm.settings(extra))
}

pub fn tm_settings(_arm: &ArmStandIn) -> Value {
    json!({
        "profile": names::TM_PROFILE,
        "targets": {
            "eastus": "azureEndpoints/eastus-app",
            "westus": "azureEndpoints/westus-app",
            "maintenance": "externalEndpoints/maintenance-page",
        },
    })
}

pub fn tm_router(arm: &ArmStandIn) -> Arc<dyn TrafficRouter> {
    let s = settings(arm, "front", "azure.traffic_manager", tm_settings(arm));
    registry().build_router(&s).unwrap().unwrap()
}

pub fn tm_probe(arm: &ArmStandIn, target: &str) -> Arc<dyn HealthProbe> {
    let mut extra = tm_settings(arm);
    extra["probe_target"] = json!(target);
    let s = settings(arm, "front_health", "azure.traffic_manager", extra);
    registry().build_probe(&s).unwrap().unwrap()
}

pub fn fd_settings() -> Value {
    json!({
        "profile": names::FD_PROFILE,
        "origin_group": names::FD_ORIGIN_GROUP,
        "targets": { "eastus": "origin-eastus", "westus": "origin-westus" },
    })
}

pub fn fd_router(arm: &ArmStandIn) -> Arc<dyn TrafficRouter> {
    let s = settings(arm, "edge", "azure.front_door", fd_settings());
    registry().build_router(&s).unwrap().unwrap()
}

pub fn fd_probe(arm: &ArmStandIn, target: &str) -> Arc<dyn HealthProbe> {
    let mut extra = fd_settings();
    extra["probe_target"] = json!(target);
    let s = settings(arm, "edge_health", "azure.front_door", extra);
    registry().build_probe(&s).unwrap().unwrap()
}

pub fn storage_settings(location: &str) -> Value {
    json!({ "account": names::STORAGE, "location": location })
}

pub fn storage_store(arm: &ArmStandIn, location: &str) -> Arc<dyn DataStore> {
    let s = settings(
        arm,
        "videos",
        "azure.storage_account",
        storage_settings(location),
    );
    registry().build_store(&s).unwrap().unwrap()
}

pub fn storage_replicator(arm: &ArmStandIn, location: &str) -> Arc<dyn Replicator> {
    let s = settings(
        arm,
        "videos",
        "azure.storage_account",
        storage_settings(location),
    );
    registry().build_replicator(&s).unwrap().unwrap()
}

pub fn pg_settings(server: &str, reverse: Option<(&str, &str)>) -> Value {
    let mut v = json!({ "server": server });
    if let Some((name, location)) = reverse {
        v["reverse_replica"] = json!(name);
        v["reverse_location"] = json!(location);
    }
    v
}

pub fn pg_store(arm: &ArmStandIn, server: &str) -> Arc<dyn DataStore> {
    let s = settings(
        arm,
        "db",
        "azure.postgres_flexible",
        pg_settings(server, None),
    );
    registry().build_store(&s).unwrap().unwrap()
}

pub fn pg_replicator(
    arm: &ArmStandIn,
    server: &str,
    reverse: Option<(&str, &str)>,
) -> Arc<dyn Replicator> {
    let s = settings(
        arm,
        "db",
        "azure.postgres_flexible",
        pg_settings(server, reverse),
    );
    registry().build_replicator(&s).unwrap().unwrap()
}

pub fn conn_action(arm: &ArmStandIn, value: &str) -> Arc<dyn Action> {
    let s = settings(
        arm,
        "set-conn",
        "azure.web_app.set_connection_string",
        json!({ "app": names::WEB_APP, "name": names::CONNECTION_STRING, "value": value, "type": "PostgreSQL" }),
    );
    registry()
        .build_action("azure.web_app.set_connection_string", &s)
        .unwrap()
        .unwrap()
}

/// `METHOD path` of every request.
pub fn lines(reqs: &[dr_azure::testing::Recorded]) -> Vec<String> {
    reqs.iter().map(|r| r.line()).collect()
}
