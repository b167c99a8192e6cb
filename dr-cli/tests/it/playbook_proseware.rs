//! Seed 001, `examples/plans/proseware-azure/`: Proseware eastus -> westus and
//! back (maintenance page, storage account failover, PostgreSQL replica
//! promoted, connection strings, Redis rebuilt, phased Traffic Manager shift,
//! re-protection), through `dr drill`, against the ARM stand-in
//! (`dr_azure::testing`, seeded with the playbook's topology) and real Redis
//! servers standing in for the two Azure Caches for Redis.
//!
//! What "the end equals the start" compares:
//! - Traffic Manager: each endpoint's `endpointStatus`, and the weight of the
//!   enabled ones (a disabled endpoint's weight routes nothing; dr leaves it).
//! - the storage account: the whole resource (primary and secondary location,
//!   SKU, geo-replication status and flags) except `lastSyncTime`, which moves on.
//! - the web apps' connection strings: every entry of both apps as at the start,
//!   except that `ProsewareDb` names the eastus primary, which is a new server
//!   (`proseware-db-eastus-2`): ARM cannot make the stopped original a replica
//!   again, so the playbook's "create a new database" makes new servers.
//! - PostgreSQL: the topology of the running (`Ready`) servers: (location,
//!   replication role, location of its source), i.e. a primary in eastus and its
//!   geo replica in westus; the two original servers are left stopped.
//! - Redis: the stale entries of both regions' caches are gone (each was rebuilt
//!   before its region took traffic).

use dr_azure::testing::{
    ArmStandIn, SUBSCRIPTION, TOKEN, connection_strings_path, names, pg_path, storage_path,
    tm_endpoint_path,
};
use dr_redis::testing::{RedisServer, Reply};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::playbook::{Drill, Retarget, assert_met, example, fast, webhook};

/// The database user's password inside the connection strings (a secret).
const DB_PASSWORD: &str = "pg-app-9c41e2b7d5";
/// The access key of both caches (a secret).
const REDIS_KEY: &str = "redis-key-5d08aa31f4";
/// The eastus web app (the stand-in seeds only the westus one).
const WEB_EAST: &str = "proseware-web-eastus";
/// The eastus replica the failover creates, and the westus one the failback creates.
const DB_EAST_2: &str = "proseware-db-eastus-2";
const DB_WEST_2: &str = "proseware-db-westus-2";

/// The app's connection string to `server`.
fn db_conn(server: &str) -> String {
    format!(
        "Host={server}.postgres.database.azure.com;Port=5432;Database=proseware;\
         Username=proseware_app;Password={DB_PASSWORD};Ssl Mode=Require"
    )
}

fn conn_strings(app: &str, server: &str, redis_region: &str) -> Value {
    json!({
        "id": connection_strings_path(app), "name": "connectionstrings", "type": "Microsoft.Web/sites/config",
        "properties": {
            names::CONNECTION_STRING: { "value": db_conn(server), "type": "PostgreSQL" },
            "Redis": { "value": format!("proseware-{redis_region}.redis.cache.windows.net:6380,ssl=True"), "type": "RedisCache" },
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proseware_fails_over_eastus_to_westus_and_back_through_dr_drill() {
    // The playbook's topology: eastus serves everything through Traffic
    // Manager, the storage account is RA-GRS eastus -> westus, PostgreSQL
    // eastus primary with its westus geo replica; both web apps use the eastus
    // primary.
    let arm = ArmStandIn::proseware().await;
    arm.put(
        &connection_strings_path(names::WEB_APP),
        conn_strings(names::WEB_APP, names::DB_EAST, "westus"),
    );
    arm.put(
        &connection_strings_path(WEB_EAST),
        conn_strings(WEB_EAST, names::DB_EAST, "eastus"),
    );
    let cache_east = RedisServer::start_with_password(REDIS_KEY).await;
    let cache_west = RedisServer::start_with_password(REDIS_KEY).await;
    for (cache, who) in [(&cache_east, "eastus"), (&cache_west, "westus")] {
        assert_eq!(
            cache.set("session:stale", who).await,
            Reply::Simple("OK".into())
        );
    }
    // Both web apps answer on the path Traffic Manager monitors; the webhook
    // takes the start and end notifications of both runs.
    let mut apps = Vec::new();
    for _ in 0..2 {
        let app = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/healthz"))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .expect(1..)
            .mount(&app)
            .await;
        apps.push(app);
    }
    let (app_east, app_west) = (&apps[0], &apps[1]);
    let hook = webhook(4).await;

    let start_routing = arm.proseware_routing();
    let start_account = arm.proseware_account();
    let start_topology = arm.pg_topology();
    let start_conn_west = arm.get(&connection_strings_path(names::WEB_APP)).unwrap();
    let start_conn_east = arm.get(&connection_strings_path(WEB_EAST)).unwrap();
    assert_eq!(
        start_routing,
        vec![
            ("eastus-app".to_string(), json!("Enabled"), json!(1000)),
            ("westus-app".to_string(), json!("Disabled"), Value::Null),
            (
                "maintenance-page".to_string(),
                json!("Disabled"),
                Value::Null
            ),
        ]
    );
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

    let action = r#"action = "azure.web_app.set_connection_string""#;
    let retarget = Retarget::new()
        .replace(
            "rediss://proseware-westus.redis.cache.windows.net:6380",
            cache_west.url(),
        )
        .replace(
            "rediss://proseware-eastus.redis.cache.windows.net:6380",
            cache_east.url(),
        )
        .replace(
            "https://proseware-web-westus.azurewebsites.net",
            app_west.uri(),
        )
        .replace(
            "https://proseware-web-eastus.azurewebsites.net",
            app_east.uri(),
        )
        // The connection-string steps are actions, not resources: their
        // `arm_endpoint` goes under their `action` line.
        .replace(
            action,
            format!("{action}\narm_endpoint = \"{}\"", arm.uri()),
        )
        // The stand-in asks for no wait between polls of a long-running
        // operation; the plans' default is 10s.
        .add_setting(
            "azure.",
            format!("arm_endpoint = \"{}\"\npoll_interval = \"10ms\"", arm.uri()),
        );
    let plans = retarget.apply_all(&[
        &example("proseware-azure/failover.toml"),
        &example("proseware-azure/failback.toml"),
    ]);
    let drill = Drill::new(&fast(&plans[0]), &fast(&plans[1]))
        .env("AZURE_ACCESS_TOKEN", TOKEN)
        .env("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION)
        .env(
            "PROSEWARE_DB_WESTUS_CONNECTION_STRING",
            db_conn(names::DB_WEST),
        )
        .env("PROSEWARE_DB_EASTUS_CONNECTION_STRING", db_conn(DB_EAST_2))
        .env("REDIS_WESTUS_ACCESS_KEY", REDIS_KEY)
        .env("REDIS_EASTUS_ACCESS_KEY", REDIS_KEY)
        .env("DR_NOTIFY_WEBHOOK", format!("{}/hook", hook.uri()));
    drill.validate();

    let (out, report) = drill.run(&[
        "--approve",
        "approve-failover",
        "--approve",
        "approve-failback",
    ]);
    assert_met(&out, &report, true);
    assert_eq!(report["failover"]["plan"], "proseware-eastus-to-westus");
    assert_eq!(report["failback"]["plan"], "proseware-westus-to-eastus");
    for run in ["failover", "failback"] {
        assert_eq!(report[run]["rto_target_ms"], 43 * 60_000, "{report:#}");
        assert_eq!(report[run]["rpo_target_ms"], 15 * 60_000, "{report:#}");
    }
    // The failover's RPO is the storage account's Last Sync Time (30 s old in
    // the seed), larger than PostgreSQL's 3 s of replication delay.
    let rpo = report["failover"]["rpo_ms"].as_u64().unwrap();
    assert!((30_000..900_000).contains(&rpo), "{report:#}");

    // The order the playbook gives, read from the calls ARM received.
    let requests = arm.requests();
    let calls: Vec<String> = requests
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| r.line())
        .collect();
    let first = |needle: &str| {
        calls
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no call to {needle}: {calls:#?}"))
    };
    let maintenance_on = first(&tm_endpoint_path("ExternalEndpoints", "maintenance-page"));
    let storage_failover = first(&format!("POST {}/failover", storage_path()));
    let stop_east = first(&format!("POST {}/stop", pg_path(names::DB_EAST)));
    let promote_west = first(&format!("PATCH {}", pg_path(names::DB_WEST)));
    let conn_west = first(&format!("PUT {}", connection_strings_path(names::WEB_APP)));
    let west_on = first(&tm_endpoint_path("AzureEndpoints", "westus-app"));
    let new_east = first(&format!("PUT {}", pg_path(DB_EAST_2)));
    assert!(maintenance_on < storage_failover && maintenance_on < stop_east);
    assert!(
        stop_east < promote_west,
        "writes stopped before the promotion"
    );
    assert!(storage_failover < conn_west && promote_west < conn_west);
    assert!(conn_west < west_on, "connection string before any traffic");
    assert!(west_on < new_east, "re-protection after the shift");
    // Each region came up in 20/40/60/80/100 % steps; the other went to the
    // maintenance page first.
    let endpoint_patches = |name: &str| -> Vec<(Value, Value)> {
        requests
            .iter()
            .filter(|r| r.method == "PATCH" && r.path == tm_endpoint_path("AzureEndpoints", name))
            .map(|r| {
                let p = r.body.clone().unwrap()["properties"].clone();
                (p["endpointStatus"].clone(), p["weight"].clone())
            })
            .collect()
    };
    let phases = || {
        [200, 400, 600, 800, 1000]
            .map(|w| (json!("Enabled"), json!(w)))
            .to_vec()
    };
    let disabled = (json!("Disabled"), Value::Null);
    let mut west = phases();
    west.push(disabled.clone());
    assert_eq!(endpoint_patches("westus-app"), west);
    let mut east = vec![disabled];
    east.extend(phases());
    assert_eq!(endpoint_patches("eastus-app"), east);

    // The end equals the start (see the module doc for what is compared).
    assert_eq!(
        arm.proseware_routing(),
        start_routing,
        "Traffic Manager routing"
    );
    assert_eq!(
        arm.proseware_account(),
        start_account,
        "the storage account"
    );
    let mut want_west = start_conn_west.clone();
    want_west["properties"][names::CONNECTION_STRING]["value"] = json!(db_conn(DB_EAST_2));
    let mut want_east = start_conn_east.clone();
    want_east["properties"][names::CONNECTION_STRING]["value"] = json!(db_conn(DB_EAST_2));
    assert_eq!(
        arm.get(&connection_strings_path(names::WEB_APP)).unwrap(),
        want_west,
        "the westus app's connection strings: as at the start, on the eastus primary"
    );
    assert_eq!(
        arm.get(&connection_strings_path(WEB_EAST)).unwrap(),
        want_east,
        "the eastus app's connection strings: as at the start, on the eastus primary"
    );
    assert_eq!(arm.pg_topology(), start_topology, "PostgreSQL topology");
    let server = |name: &str| arm.get(&pg_path(name)).unwrap()["properties"].clone();
    assert_eq!(server(DB_EAST_2)["replicationRole"], "Primary");
    assert_eq!(
        server(DB_WEST_2)["sourceServerResourceId"],
        json!(pg_path(DB_EAST_2))
    );
    for old in [names::DB_EAST, names::DB_WEST] {
        assert_eq!(server(old)["state"], "Stopped", "{old} left stopped");
    }
    // Both caches were rebuilt.
    assert_eq!(cache_west.get("session:stale").await, None);
    assert_eq!(cache_east.get("session:stale").await, None);

    // No secret in what dr printed or kept: the connection strings, the
    // database password inside them, the ARM token, the cache key.
    let seen = drill.seen(&out);
    assert!(seen.contains("connection-string-westus") && seen.contains("connection-string-eastus"));
    for secret in [
        db_conn(names::DB_WEST),
        db_conn(DB_EAST_2),
        DB_PASSWORD.to_string(),
        TOKEN.to_string(),
        REDIS_KEY.to_string(),
    ] {
        assert!(!seen.contains(&secret), "a secret leaked: {secret}");
    }
    assert!(arm.violations().is_empty(), "{:#?}", arm.violations());
}
