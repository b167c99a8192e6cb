//! The Proseware failover playbook (eastus -> westus) as a plan run by the dr-core
//! executor against the ARM stand-in, and the failback plan that brings the
//! system back to where it started.
//!
//! Failover: maintenance page (Traffic Manager), storage account failover after
//! the lag check, fence the eastus PostgreSQL server and promote the westus
//! replica, point the web app's connection string at westus, a phased Traffic
//! Manager shift 20/40/60/80/100 with a health gate (eastus stays disabled), then
//! re-protect both: the storage account geo-redundant again, a new replica of the
//! westus server in eastus. Failback is the same story the other way.

use std::sync::Arc;

use dr_azure::testing::{
    ArmStandIn, SUBSCRIPTION, connection_strings_path, db_connection_string, names, pg_path, rpath,
    storage_path, tm_endpoint_path,
};
use dr_core::executor::{Executor, RunOptions, RunOutcome, RunStatus};
use dr_core::{LoadOptions, Plan, Registry};
use serde_json::{Value, json};

/// The eastus replica the failover creates, and the westus one the failback creates.
const DB_EAST_2: &str = "proseware-db-eastus-2";
const DB_WEST_2: &str = "proseware-db-westus-2";

fn registry() -> Registry {
    let mut r = Registry::with_builtins();
    dr_azure::register_with(
        &mut r,
        Arc::new(dr_azure::StaticToken::new(dr_azure::testing::TOKEN)),
    );
    r
}

/// The plan moving everything from `from` to `to`.
fn plan(name: &str, from: &str, to: &str, db_from: &str, db_to: &str, db_new: &str) -> String {
    format!(
        r#"
[plan]
name = "{name}"
rto = "15m"
rpo = "15m"

[resources.front]
provider = "azure.traffic_manager"
subscription = "${{env:AZURE_SUBSCRIPTION_ID}}"
resource_group = "proseware"
arm_endpoint = "${{env:ARM_ENDPOINT}}"
poll_interval = "10ms"
profile = "proseware-tm"
targets = {{ eastus = "azureEndpoints/eastus-app", westus = "azureEndpoints/westus-app", maintenance = "externalEndpoints/maintenance-page" }}

[resources.web_{to}]
provider = "azure.traffic_manager"
subscription = "${{env:AZURE_SUBSCRIPTION_ID}}"
resource_group = "proseware"
arm_endpoint = "${{env:ARM_ENDPOINT}}"
profile = "proseware-tm"
targets = {{ eastus = "azureEndpoints/eastus-app", westus = "azureEndpoints/westus-app", maintenance = "externalEndpoints/maintenance-page" }}
probe_target = "{to}"

[resources.videos_{to}]
provider = "azure.storage_account"
subscription = "${{env:AZURE_SUBSCRIPTION_ID}}"
resource_group = "proseware"
arm_endpoint = "${{env:ARM_ENDPOINT}}"
poll_interval = "10ms"
account = "prosewarevideos"
location = "{to}"

[resources.db_{from}]
provider = "azure.postgres_flexible"
subscription = "${{env:AZURE_SUBSCRIPTION_ID}}"
resource_group = "proseware"
arm_endpoint = "${{env:ARM_ENDPOINT}}"
poll_interval = "10ms"
server = "{db_from}"

[resources.db_{to}]
provider = "azure.postgres_flexible"
subscription = "${{env:AZURE_SUBSCRIPTION_ID}}"
resource_group = "proseware"
arm_endpoint = "${{env:ARM_ENDPOINT}}"
poll_interval = "10ms"
server = "{db_to}"
promote_option = "forced"        # the old primary is stopped first: nothing to wait for
reverse_replica = "{db_new}"
reverse_location = "{from}"

[[steps]]
id = "maintenance"
action = "traffic.set"
router = "front"
split = {{ maintenance = 100 }}

[[steps]]
id = "storage-lag"
action = "replication.check"
replicator = "videos_{to}"
max_lag = "15m"
depends_on = ["maintenance"]

[[steps]]
id = "storage-failover"
action = "datastore.promote"
store = "videos_{to}"
max_lag = "15m"
depends_on = ["storage-lag"]

[[steps]]
id = "db-lag"
action = "replication.check"
replicator = "db_{to}"
max_lag = "15m"
depends_on = ["maintenance"]

[[steps]]
id = "fence-{from}"
action = "datastore.fence"
store = "db_{from}"
depends_on = ["db-lag"]

[[steps]]
id = "promote-{to}"
action = "datastore.promote"
store = "db_{to}"
max_lag = "15m"
depends_on = ["fence-{from}"]

[[steps]]
id = "connection-string"
action = "azure.web_app.set_connection_string"
subscription = "${{env:AZURE_SUBSCRIPTION_ID}}"
resource_group = "proseware"
arm_endpoint = "${{env:ARM_ENDPOINT}}"
app = "proseware-web-westus"
name = "ProsewareDb"
type = "PostgreSQL"
value = "${{env:PROSEWARE_DB_CONNECTION_STRING}}"
depends_on = ["promote-{to}", "storage-failover"]

[[steps]]
id = "shift"
action = "traffic.shift"
router = "front"
to = "{to}"
phases = [20, 40, 60, 80, 100]
gate = {{ probe = "web_{to}", times = 2, every = "10ms", timeout = "10s" }}
on_failure = "rollback"
depends_on = ["connection-string"]

[[steps]]
id = "storage-reprotect"
action = "replication.reverse"
replicator = "videos_{to}"
depends_on = ["shift"]

[[steps]]
id = "db-reprotect"
action = "replication.reverse"
replicator = "db_{to}"
depends_on = ["shift"]
"#
    )
}

fn parse(toml: &str, arm: &ArmStandIn, connection_string: String) -> Plan {
    let endpoint = arm.uri();
    let env = move |name: &str| match name {
        "AZURE_SUBSCRIPTION_ID" => Some(SUBSCRIPTION.to_string()),
        "ARM_ENDPOINT" => Some(endpoint.clone()),
        "PROSEWARE_DB_CONNECTION_STRING" => Some(connection_string.clone()),
        _ => None,
    };
    Plan::parse("plan.toml", toml, &registry(), &LoadOptions::with_env(env))
        .unwrap_or_else(|d| panic!("the plan does not validate:\n{d}\n{toml}"))
}

async fn run(plan: Plan, state: &std::path::Path) -> RunOutcome {
    let outcome = Executor::new(plan, RunOptions::new(state))
        .run()
        .await
        .expect("the run could be carried out");
    let failed: Vec<_> = outcome
        .report
        .steps
        .iter()
        .filter(|s| s.status != "succeeded")
        .collect();
    assert!(
        outcome.status == RunStatus::Succeeded && failed.is_empty(),
        "run {}: {failed:#?}\n{}",
        outcome.status,
        outcome.report.to_markdown()
    );
    outcome
}

/// Every file under `dir`, as text.
fn all_text(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.push_str(&all_text(&path));
        } else {
            out.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proseware_failover_and_failback_plans_run_end_to_end_against_arm() {
    let arm = ArmStandIn::proseware().await;
    let start_routing = arm.proseware_routing();
    let start_account = arm.proseware_account();
    let start_topology = arm.pg_topology();
    let conn = connection_strings_path(names::WEB_APP);
    let start_conn = arm.get(&conn).unwrap();
    assert_eq!(
        start_topology,
        vec![
            ("eastus".to_string(), "Primary".to_string(), String::new()),
            (
                "westus".to_string(),
                "GeoAsyncReplica".to_string(),
                "eastus".to_string()
            ),
        ]
    );

    // Failover.
    let state = tempfile::tempdir().unwrap();
    let failover = plan(
        "proseware-eastus-to-westus",
        "eastus",
        "westus",
        names::DB_EAST,
        names::DB_WEST,
        DB_EAST_2,
    );
    let outcome = run(
        parse(&failover, &arm, db_connection_string(names::DB_WEST)),
        state.path(),
    )
    .await;

    let ep = |name: &str| arm.get(&tm_endpoint_path("AzureEndpoints", name)).unwrap();
    assert_eq!(
        ep("westus-app")["properties"]["endpointStatus"],
        json!("Enabled")
    );
    assert_eq!(ep("westus-app")["properties"]["weight"], json!(1000));
    assert_eq!(
        ep("eastus-app")["properties"]["endpointStatus"],
        json!("Disabled"),
        "primary route disabled"
    );
    assert_eq!(
        arm.get(&tm_endpoint_path("ExternalEndpoints", "maintenance-page"))
            .unwrap()["properties"]["endpointStatus"],
        json!("Disabled")
    );
    let acct = arm.get(&storage_path()).unwrap();
    assert_eq!(acct["properties"]["primaryLocation"], json!("westus"));
    assert_eq!(
        acct["properties"]["secondaryLocation"],
        json!("eastus"),
        "re-protected"
    );
    assert_eq!(acct["sku"]["name"], json!("Standard_RAGRS"));
    let east = arm.get(&pg_path(names::DB_EAST)).unwrap();
    assert_eq!(east["properties"]["state"], json!("Stopped"), "fenced");
    let west = arm.get(&pg_path(names::DB_WEST)).unwrap();
    assert_eq!(
        west["properties"]["replicationRole"],
        json!("Primary"),
        "promoted, with a replica again"
    );
    let east2 = arm.get(&pg_path(DB_EAST_2)).unwrap();
    assert_eq!(
        east2["properties"]["sourceServerResourceId"],
        json!(pg_path(names::DB_WEST))
    );
    assert_eq!(east2["location"], json!("eastus"));
    assert_eq!(
        arm.get(&conn).unwrap()["properties"][names::CONNECTION_STRING]["value"],
        json!(db_connection_string(names::DB_WEST))
    );

    // The traffic went through every phase, gated, in order.
    let weights: Vec<Value> = arm
        .requests()
        .iter()
        .filter(|r| {
            r.method == "PATCH" && r.path == tm_endpoint_path("AzureEndpoints", "westus-app")
        })
        .map(|r| r.body.clone().unwrap()["properties"]["weight"].clone())
        .collect();
    assert_eq!(
        weights,
        vec![json!(200), json!(400), json!(600), json!(800), json!(1000)]
    );
    // The storage failover came after its lag check; the promote after the fence.
    let order: Vec<String> = arm
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| r.line())
        .collect();
    let at = |needle: &str| {
        order
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle}: {order:#?}"))
    };
    assert!(at("/stop") < at(&format!("PATCH {}", pg_path(names::DB_WEST))));
    assert!(at("/failover") < at("/config/connectionstrings"));
    assert!(at("/config/connectionstrings") < at("westus-app"));

    let report = &outcome.report;
    assert_eq!(
        report.rpo_ms.map(|r| (3_000..900_000).contains(&r)),
        Some(true),
        "{:?}",
        report.rpo_ms
    );
    assert!(report.rto_ms.is_some());
    dr_core::audit::verify(state.path(), None).expect("audit chain intact");
    let written = all_text(state.path());
    assert!(
        !written.contains("pw-proseware-db-westus"),
        "the connection string leaked into the state dir"
    );
    assert!(written.contains("connection-string"));

    // Failback: everything back to eastus.
    let failback = plan(
        "proseware-westus-to-eastus",
        "westus",
        "eastus",
        names::DB_WEST,
        DB_EAST_2,
        DB_WEST_2,
    );
    let _ = run(
        parse(
            &failback,
            &arm,
            start_conn["properties"][names::CONNECTION_STRING]["value"]
                .as_str()
                .unwrap()
                .to_string(),
        ),
        state.path(),
    )
    .await;

    assert_eq!(
        arm.proseware_routing(),
        start_routing,
        "Traffic Manager routes as at the start"
    );
    assert_eq!(
        arm.proseware_account(),
        start_account,
        "the storage account is as at the start"
    );
    assert_eq!(
        arm.get(&conn).unwrap(),
        start_conn,
        "the web app's connection strings are as at the start"
    );
    // PostgreSQL: the same topology (a primary in eastus, its geo replica in
    // westus). ARM cannot turn a promoted or stopped server back into a replica, so
    // the playbook's "create a new database" makes new servers; the old ones stay
    // stopped for the operator to delete.
    assert_eq!(arm.pg_topology(), start_topology);
    for old in [names::DB_EAST, names::DB_WEST] {
        assert_eq!(
            arm.get(&pg_path(old)).unwrap()["properties"]["state"],
            json!("Stopped"),
            "{old}"
        );
    }
    assert_eq!(
        arm.get(&pg_path(DB_WEST_2)).unwrap()["properties"]["sourceServerResourceId"],
        json!(pg_path(DB_EAST_2))
    );
    let front_profile = rpath(&format!(
        "Microsoft.Network/trafficmanagerprofiles/{}",
        names::TM_PROFILE
    ));
    assert!(arm.get(&front_profile).is_some());
    assert!(arm.violations().is_empty(), "{:#?}", arm.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_gate_rolls_back_to_the_maintenance_page_and_halts_at_the_one_way_step() {
    let arm = ArmStandIn::proseware().await;
    // West is enabled by the first phase but Traffic Manager never sees it Online.
    arm.set_monitor_status(
        &tm_endpoint_path("AzureEndpoints", "westus-app"),
        "Degraded",
    );
    let failover = plan(
        "proseware-eastus-to-westus",
        "eastus",
        "westus",
        names::DB_EAST,
        names::DB_WEST,
        DB_EAST_2,
    )
    .replace(r#"timeout = "10s""#, r#"timeout = "300ms""#);
    let state = tempfile::tempdir().unwrap();
    let outcome = Executor::new(
        parse(&failover, &arm, db_connection_string(names::DB_WEST)),
        RunOptions::new(state.path()),
    )
    .run()
    .await
    .expect("the run could be carried out");
    assert_eq!(
        outcome.status,
        RunStatus::Halted,
        "{}",
        outcome.report.to_markdown()
    );
    // The rollback stopped at the last one-way step (the storage failover or the
    // PostgreSQL promotion, whichever finished last): traffic went back to the
    // maintenance page, not to the fenced eastus.
    let halted_by = outcome.report.halted_by.clone().unwrap_or_default();
    assert!(
        ["storage-failover", "promote-westus"].contains(&halted_by.as_str()),
        "{halted_by}"
    );
    let status = |kind: &str, name: &str| {
        arm.get(&tm_endpoint_path(kind, name)).unwrap()["properties"]["endpointStatus"].clone()
    };
    assert_eq!(
        status("ExternalEndpoints", "maintenance-page"),
        json!("Enabled")
    );
    assert_eq!(status("AzureEndpoints", "westus-app"), json!("Disabled"));
    assert_eq!(status("AzureEndpoints", "eastus-app"), json!("Disabled"));
    // Nothing was re-protected, and the promoted server stays promoted.
    assert!(arm.get(&pg_path(DB_EAST_2)).is_none());
    assert_eq!(
        arm.get(&pg_path(names::DB_WEST)).unwrap()["properties"]["replicationRole"],
        json!("None")
    );
    let written = all_text(state.path());
    assert!(
        !written.contains("pw-proseware-db-westus"),
        "the connection string leaked into the state dir"
    );
}
