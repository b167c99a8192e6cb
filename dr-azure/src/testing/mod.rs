//! Test grounds for dr-azure, for this crate's tests and for yours (feature
//! `testing`):
//!
//! - [`ArmStandIn`]: a stateful Azure Resource Manager stand-in on dr-core's recording stand-in (no
//!   ARM emulator exists), with [`proseware`], the topology of the Proseware
//!   failover playbook;
//! - [`Azurite`]: the Azure Storage emulator (`azurite-blob`, npm) started on a
//!   free loopback port and killed on drop, with [`account_sas`], a SAS signed
//!   with the emulator's well-known key.

mod arm;
mod azurite;

pub use arm::{ArmStandIn, LroStyle, RESOURCE_GROUP, Recorded, SUBSCRIPTION, TOKEN, rpath};
pub use azurite::{AZURITE_ACCOUNT, AZURITE_ENV, AZURITE_KEY, Azurite, account_sas};

use serde_json::{Map, Value, json};

/// Names of the Proseware resources in [`proseware`].
pub mod names {
    /// The Traffic Manager profile.
    pub const TM_PROFILE: &str = "proseware-tm";
    /// The Front Door profile.
    pub const FD_PROFILE: &str = "proseware-fd";
    /// The Front Door origin group.
    pub const FD_ORIGIN_GROUP: &str = "proseware-og";
    /// The storage account holding the training videos.
    pub const STORAGE: &str = "prosewarevideos";
    /// The PostgreSQL primary in eastus.
    pub const DB_EAST: &str = "proseware-db-eastus";
    /// The PostgreSQL replica in westus.
    pub const DB_WEST: &str = "proseware-db-westus";
    /// The web app in westus.
    pub const WEB_APP: &str = "proseware-web-westus";
    /// The connection string the web app uses.
    pub const CONNECTION_STRING: &str = "ProsewareDb";
}

/// The ARM path of a Traffic Manager endpoint of the Proseware profile.
pub fn tm_endpoint_path(kind: &str, name: &str) -> String {
    rpath(&format!(
        "Microsoft.Network/trafficmanagerprofiles/{}/{kind}/{name}",
        names::TM_PROFILE
    ))
}

/// The ARM path of a PostgreSQL flexible server.
pub fn pg_path(server: &str) -> String {
    rpath(&format!(
        "Microsoft.DBforPostgreSQL/flexibleServers/{server}"
    ))
}

/// The ARM path of the storage account.
pub fn storage_path() -> String {
    rpath(&format!(
        "Microsoft.Storage/storageAccounts/{}",
        names::STORAGE
    ))
}

/// The ARM path of a web app.
pub fn web_app_path(app: &str) -> String {
    rpath(&format!("Microsoft.Web/sites/{app}"))
}

/// The ARM path of a web app's connection strings.
pub fn connection_strings_path(app: &str) -> String {
    rpath(&format!(
        "Microsoft.Web/sites/{app}/config/connectionstrings"
    ))
}

/// The ARM path of the Proseware Front Door profile.
pub fn fd_profile_path() -> String {
    rpath(&format!("Microsoft.Cdn/profiles/{}", names::FD_PROFILE))
}

/// The ARM path of a Front Door origin.
pub fn fd_origin_path(origin: &str) -> String {
    rpath(&format!(
        "Microsoft.Cdn/profiles/{}/originGroups/{}/origins/{origin}",
        names::FD_PROFILE,
        names::FD_ORIGIN_GROUP
    ))
}

/// A connection string of the Proseware database in `server` (test data, not a secret).
pub fn db_connection_string(server: &str) -> String {
    format!(
        "Server={server}.postgres.database.azure.com;Database=proseware;User Id=app;Password=pw-{server}"
    )
}

fn endpoint(
    kind: &str,
    name: &str,
    enabled: bool,
    weight: u32,
    priority: u32,
    location: &str,
) -> Value {
    json!({
        "id": tm_endpoint_path(kind, name),
        "name": name,
        "type": format!("Microsoft.Network/trafficManagerProfiles/{kind}"),
        "properties": {
            "endpointStatus": if enabled { "Enabled" } else { "Disabled" },
            "endpointMonitorStatus": if enabled { "Online" } else { "Disabled" },
            "target": format!("{name}.azurewebsites.net"),
            "weight": weight, "priority": priority, "endpointLocation": location,
        }
    })
}

fn server(name: &str, location: &str, role: &str, source: Option<&str>) -> Value {
    let mut replica = json!({ "role": role, "capacity": 5 });
    if source.is_some() {
        replica["replicationState"] = json!("Active");
    }
    json!({
        "id": pg_path(name), "name": name, "type": "Microsoft.DBforPostgreSQL/flexibleServers",
        "location": location,
        "properties": {
            "state": "Ready", "version": "16", "replicationRole": role,
            "sourceServerResourceId": source.map(pg_path).unwrap_or_default(),
            "replica": replica,
        }
    })
}

/// The Proseware topology at the start of the failover playbook: eastus serves
/// everything. Traffic Manager `proseware-tm` (weighted) with `eastus-app` enabled,
/// `westus-app` and the `maintenance-page` disabled; Front Door origins
/// `origin-eastus` enabled, `origin-westus` disabled; storage account
/// `prosewarevideos` RA-GRS eastus -> westus, `Live`, synced 30 s ago; PostgreSQL
/// `proseware-db-eastus` primary with the geo replica `proseware-db-westus`; web
/// app `proseware-web-westus` whose `ProsewareDb` connection string points at the
/// eastus server.
pub fn proseware() -> Map<String, Value> {
    use names::*;
    let mut m = Map::new();
    let profile = rpath(&format!(
        "Microsoft.Network/trafficmanagerprofiles/{TM_PROFILE}"
    ));
    m.insert(profile.clone(), json!({
        "id": profile, "name": TM_PROFILE, "type": "Microsoft.Network/trafficManagerProfiles", "location": "global",
        "properties": { "profileStatus": "Enabled", "trafficRoutingMethod": "Weighted",
            "dnsConfig": { "relativeName": "proseware", "fqdn": "proseware.trafficmanager.net", "ttl": 30 },
            "monitorConfig": { "protocol": "HTTPS", "port": 443, "path": "/healthz" } }
    }));
    for (kind, name, enabled, weight, location) in [
        ("AzureEndpoints", "eastus-app", true, 1000, "East US"),
        ("AzureEndpoints", "westus-app", false, 1, "West US"),
        ("ExternalEndpoints", "maintenance-page", false, 1, "West US"),
    ] {
        m.insert(
            tm_endpoint_path(kind, name),
            endpoint(kind, name, enabled, weight, 1, location),
        );
    }
    for (origin, enabled) in [("origin-eastus", true), ("origin-westus", false)] {
        m.insert(fd_origin_path(origin), json!({
            "id": fd_origin_path(origin), "name": origin, "type": "Microsoft.Cdn/profiles/originGroups/origins",
            "properties": { "hostName": format!("{origin}.azurewebsites.net"), "httpPort": 80, "httpsPort": 443,
                "enabledState": if enabled { "Enabled" } else { "Disabled" }, "weight": 1000, "priority": 1,
                "provisioningState": "Succeeded", "deploymentStatus": "NotStarted" }
        }));
    }
    let synced = chrono::Utc::now() - chrono::Duration::seconds(30);
    m.insert(storage_path(), json!({
        "id": storage_path(), "name": STORAGE, "type": "Microsoft.Storage/storageAccounts", "location": "eastus",
        "kind": "StorageV2", "sku": { "name": "Standard_RAGRS", "tier": "Standard" },
        "properties": { "provisioningState": "Succeeded", "primaryLocation": "eastus", "secondaryLocation": "westus",
            "statusOfPrimary": "available", "statusOfSecondary": "available", "failoverInProgress": false,
            "geoReplicationStats": { "status": "Live", "lastSyncTime": synced.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "canFailover": true, "canPlannedFailover": true,
                "postFailoverRedundancy": "Standard_LRS", "postPlannedFailoverRedundancy": "Standard_RAGRS" } }
    }));
    m.insert(pg_path(DB_EAST), server(DB_EAST, "eastus", "Primary", None));
    m.insert(
        pg_path(DB_WEST),
        server(DB_WEST, "westus", "GeoAsyncReplica", Some(DB_EAST)),
    );
    m.insert(web_app_path(WEB_APP), json!({
        "id": web_app_path(WEB_APP), "name": WEB_APP, "type": "Microsoft.Web/sites", "location": "westus",
        "kind": "app", "properties": { "state": "Running", "defaultHostName": format!("{WEB_APP}.azurewebsites.net") }
    }));
    m.insert(connection_strings_path(WEB_APP), json!({
        "id": connection_strings_path(WEB_APP), "name": "connectionstrings", "type": "Microsoft.Web/sites/config",
        "properties": {
            CONNECTION_STRING: { "value": db_connection_string(DB_EAST), "type": "PostgreSQL" },
            "Redis": { "value": "proseware-westus.redis.cache.windows.net:6380,ssl=True", "type": "RedisCache" },
        }
    }));
    m
}

impl ArmStandIn {
    /// What the Proseware Traffic Manager profile routes: each endpoint's
    /// status, and the weight of the enabled ones (a disabled endpoint's weight
    /// routes nothing, so it is not compared).
    pub fn proseware_routing(&self) -> Vec<(String, Value, Value)> {
        [
            ("AzureEndpoints", "eastus-app"),
            ("AzureEndpoints", "westus-app"),
            ("ExternalEndpoints", "maintenance-page"),
        ]
        .iter()
        .map(|(kind, name)| {
            let ep = self
                .get(&tm_endpoint_path(kind, name))
                .unwrap_or_else(|| panic!("no endpoint {kind}/{name}"));
            let status = ep["properties"]["endpointStatus"].clone();
            let weight = if status == "Enabled" {
                ep["properties"]["weight"].clone()
            } else {
                Value::Null
            };
            (name.to_string(), status, weight)
        })
        .collect()
    }

    /// The Proseware storage account without its sync time (which moves on by
    /// itself) and without the record of its last SKU conversion
    /// (`storageAccountSkuConversionStatus`: when a reverse converted it back,
    /// not what the account is; a conversion still `InProgress` or `Failed` is
    /// kept, so it shows).
    pub fn proseware_account(&self) -> Value {
        let mut a = self.get(&storage_path()).expect("the storage account");
        a["properties"]["geoReplicationStats"]["lastSyncTime"] = Value::Null;
        if a["properties"]["storageAccountSkuConversionStatus"]["skuConversionStatus"]
            == "Succeeded"
            && let Some(p) = a["properties"].as_object_mut()
        {
            p.remove("storageAccountSkuConversionStatus");
        }
        a
    }

    /// The running PostgreSQL flexible servers as (location, replication role,
    /// location of its source), sorted: the topology, whatever the servers are
    /// called.
    pub fn pg_topology(&self) -> Vec<(String, String, String)> {
        let snapshot = self.snapshot();
        let text = |v: &Value| v.as_str().unwrap_or("").to_string();
        let mut out: Vec<_> = snapshot
            .iter()
            .filter(|(k, v)| k.contains("/flexibleServers/") && v["properties"]["state"] == "Ready")
            .map(|(_, v)| {
                let source = v["properties"]["sourceServerResourceId"]
                    .as_str()
                    .unwrap_or("");
                let source_location = snapshot
                    .get(source)
                    .map(|s| text(&s["location"]))
                    .unwrap_or_default();
                (
                    text(&v["location"]),
                    text(&v["properties"]["replicationRole"]),
                    source_location,
                )
            })
            .collect();
        out.sort();
        out
    }

    /// Sets Front Door's `OriginHealthPercentage` of the Proseware origin `origin`
    /// (its series: `OriginGroup` the origin group, `Origin` the origin's host name,
    /// as Azure Monitor names them).
    pub fn set_origin_health(&self, origin: &str, percent: f64) {
        let host = format!("{origin}.azurewebsites.net");
        self.set_metric_series(
            &fd_profile_path(),
            "OriginHealthPercentage",
            &[("OriginGroup", names::FD_ORIGIN_GROUP), ("Origin", &host)],
            percent,
        );
    }

    /// A stand-in seeded with [`proseware`], with 3 s of replication delay on the
    /// westus replica and both Front Door origins 100% healthy.
    pub async fn proseware() -> Self {
        let s = ArmStandIn::start().await;
        s.seed(proseware());
        s.set_origin_health("origin-eastus", 100.0);
        s.set_origin_health("origin-westus", 100.0);
        s.set_metric(
            &pg_path(names::DB_WEST),
            "physical_replication_delay_in_seconds",
            3.0,
        );
        s
    }
}
