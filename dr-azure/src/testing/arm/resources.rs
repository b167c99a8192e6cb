//! The stand-in's resources: what each documented ARM call does to them.

use std::collections::BTreeMap;

use dr_core::testing::http::Answer;
use serde_json::{Value, json};

use super::{State, arm_error, merge};

/// Whether every key of `body` (recursively) is one of `allowed`'s.
fn keys_within(body: &Value, allowed: &Value) -> bool {
    match (body, allowed) {
        // `{}` allows any key (a map keyed by resource id).
        (Value::Object(_), Value::Object(a)) if a.is_empty() => true,
        (Value::Object(b), Value::Object(a)) => b
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| keys_within(v, av))),
        _ => true,
    }
}

use crate::storage_account::is_geo_sku;

/// What a replica create `body` lacks of what Azure requires for a replica of
/// `src`: a server in a virtual network needs `network.delegatedSubnetResourceId`
/// and `privateDnsZoneArmResourceId` (and its `publicNetworkAccess`), one with
/// customer-managed keys its `dataEncryption` and user-assigned `identity`, one
/// in an availability zone its `availabilityZone`. A delegated subnet must be
/// one of a virtual network the stand-in holds (`vnet_location` gives its
/// region), in the replica's region: a subnet is regional. With customer-managed
/// keys and geo-redundant backup, the geo-backup key and its identity are
/// required (such a server uses two keys, each read by its own identity), and
/// every key's identity must be among the replica's user-assigned identities.
fn missing_for_replica(
    src: &Value,
    body: &Value,
    vnet_location: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let sp = &src["properties"];
    let bp = &body["properties"];
    let has = |v: &Value| v.as_str().is_some_and(|s| !s.is_empty());
    let mut missing = Vec::new();
    if let Some(subnet) = bp["network"]["delegatedSubnetResourceId"].as_str() {
        let vnet = subnet
            .to_ascii_lowercase()
            .split_once("/subnets/")
            .map(|(v, _)| v.to_string())
            .unwrap_or_default();
        let here = body["location"].as_str().unwrap_or("");
        match vnet_location(&vnet) {
            None => missing.push(format!("an existing subnet (not {subnet})")),
            Some(there) if !there.eq_ignore_ascii_case(here) => missing.push(format!(
                "a subnet in {here} (subnet {subnet} is in {there})"
            )),
            Some(_) => {}
        }
    }
    let cmk = has(&sp["dataEncryption"]["primaryKeyURI"]);
    let geo_backup = sp["backup"]["geoRedundantBackup"] == json!("Enabled");
    if cmk && geo_backup {
        for k in ["geoBackupKeyURI", "geoBackupUserAssignedIdentityId"] {
            if !has(&bp["dataEncryption"][k]) {
                missing.push(format!("dataEncryption.{k} (geo-redundant backup)"));
            }
        }
    }
    for k in [
        "primaryUserAssignedIdentityId",
        "geoBackupUserAssignedIdentityId",
    ] {
        if let Some(id) = bp["dataEncryption"][k].as_str().filter(|s| !s.is_empty())
            && !body
                .pointer("/identity/userAssignedIdentities")
                .and_then(Value::as_object)
                .is_some_and(|m| m.keys().any(|k| k.eq_ignore_ascii_case(id)))
        {
            missing.push(format!("identity {id} (dataEncryption.{k})"));
        }
    }
    for k in [
        "delegatedSubnetResourceId",
        "privateDnsZoneArmResourceId",
        "publicNetworkAccess",
    ] {
        if has(&sp["network"][k]) && !has(&bp["network"][k]) {
            missing.push(format!("network.{k}"));
        }
    }
    for k in [
        "primaryKeyURI",
        "primaryUserAssignedIdentityId",
        "geoBackupKeyURI",
        "geoBackupUserAssignedIdentityId",
    ] {
        if has(&sp["dataEncryption"][k]) && bp["dataEncryption"][k] != sp["dataEncryption"][k] {
            missing.push(format!("dataEncryption.{k}"));
        }
    }
    if let Some(ids) = src
        .pointer("/identity/userAssignedIdentities")
        .and_then(Value::as_object)
    {
        for id in ids.keys() {
            if body
                .pointer("/identity/userAssignedIdentities")
                .and_then(|m| m.get(id))
                .is_none()
            {
                missing.push(format!("identity {id}"));
            }
        }
    }
    if has(&sp["availabilityZone"]) && !has(&bp["availabilityZone"]) {
        missing.push("availabilityZone".into());
    }
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// Server parameters of the PostgreSQL stand-in: name, default, allowed values,
/// dynamic.
const PG_PARAMETERS: [(&str, &str, &str, bool); 2] = [
    ("default_transaction_read_only", "off", "on,off", true),
    ("max_connections", "50", "25,50,100,200,5000", false),
];

/// Front Door origins per page of the origins list.
const ORIGIN_PAGE: usize = 2;

fn pair(region: &str) -> &'static str {
    match region {
        "eastus" => "westus",
        "westus" => "eastus",
        "eastus2" => "centralus",
        _ => "centralus",
    }
}

impl State {
    /// Serves one authenticated request with the right api-version.
    pub(super) fn respond(
        &mut self,
        method: &str,
        path: &str,
        query: &BTreeMap<String, String>,
        body: Option<&Value>,
    ) -> Answer {
        let lower = path.to_ascii_lowercase();
        // Operation status.
        if let Some(rest) = lower.split("/providers/microsoft.stand-in/").nth(1) {
            let (kind, id) = rest.split_once('/').unwrap_or(("", ""));
            let Some(op) = id
                .parse()
                .ok()
                .and_then(|id: u64| self.operations.get_mut(&id))
            else {
                return arm_error(404, "OperationNotFound", "no such operation");
            };
            let done = op.polls_left == 0;
            op.polls_left = op.polls_left.saturating_sub(1);
            return match (kind, done, &op.failure) {
                ("azureasyncoperation", false, _) => Answer::new(200)
                    .header("Retry-After", "0")
                    .body(json!({ "name": id, "status": "InProgress", "startTime": State::now() })),
                ("azureasyncoperation", true, None) => Answer::new(200)
                    .body(json!({ "name": id, "status": "Succeeded", "startTime": State::now(), "endTime": State::now() })),
                ("azureasyncoperation", true, Some((code, message))) => Answer::new(200)
                    .body(json!({ "name": id, "status": "Failed", "error": { "code": code, "message": message } })),
                ("operationresults", false, _) => Answer::new(202).header("Retry-After", "0"),
                ("operationresults", true, None) => {
                    if op.result.is_null() { Answer::new(204) } else { Answer::new(200).body(op.result.clone()) }
                }
                ("operationresults", true, Some((code, message))) => arm_error(409, code, message),
                _ => arm_error(404, "OperationNotFound", "no such operation"),
            };
        }
        // Metrics.
        if let Some(resource) = lower.strip_suffix("/providers/microsoft.insights/metrics") {
            return self.metrics_answer(method, path, resource, query);
        }
        let key = path.to_string();
        // Traffic Manager.
        if lower.contains("/microsoft.network/trafficmanagerprofiles/") {
            let depth = lower
                .split("/trafficmanagerprofiles/")
                .nth(1)
                .map(|r| r.split('/').count())
                .unwrap_or(0);
            if depth == 1 && method == "GET" {
                let Some(mut profile) = self.resources.get(&key).cloned() else {
                    return arm_error(404, "ResourceNotFound", "profile not found");
                };
                let prefix = format!("{key}/");
                let endpoints: Vec<Value> = self
                    .resources
                    .range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .map(|(_, v)| v.clone())
                    .collect();
                profile["properties"]["endpoints"] = Value::Array(endpoints);
                return Answer::new(200).body(profile);
            }
            if depth == 3 {
                return match (method, self.resources.get_mut(&key), body) {
                    ("GET", Some(ep), _) => Answer::new(200).body(ep.clone()),
                    ("PATCH", Some(ep), Some(b)) => {
                        let allowed = json!({"properties": {"endpointStatus": 0, "weight": 0, "priority": 0}});
                        if !keys_within(b, &allowed) {
                            self.violations
                                .push(format!("PATCH {path}: unexpected keys in {b}"));
                        }
                        if let Some(w) = b.pointer("/properties/weight").and_then(Value::as_u64)
                            && !(1..=1000).contains(&w)
                        {
                            return arm_error(
                                400,
                                "BadRequest",
                                "weight must be between 1 and 1000",
                            );
                        }
                        merge(ep, b);
                        let status = ep["properties"]["endpointStatus"].clone();
                        ep["properties"]["endpointMonitorStatus"] =
                            match (status == "Enabled", self.monitor.get(&key)) {
                                (true, Some(forced)) => json!(forced),
                                (true, None) => json!("Online"),
                                (false, _) => json!("Disabled"),
                            };
                        Answer::new(200).body(ep.clone())
                    }
                    (_, None, _) => arm_error(404, "NotFound", "endpoint not found"),
                    _ => arm_error(405, "MethodNotAllowed", "not served"),
                };
            }
        }
        // Front Door origins.
        if lower.contains("/microsoft.cdn/profiles/") && lower.contains("/origins") {
            if lower.ends_with("/origins") && method == "GET" {
                // ARM pages lists; this one after ORIGIN_PAGE items, with `nextLink`.
                let prefix = format!("{key}/");
                let skip: usize = query
                    .get("$skiptoken")
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                let all: Vec<Value> = self
                    .resources
                    .range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .filter(|(k, _)| !k[prefix.len()..].contains('/'))
                    .map(|(_, v)| v.clone())
                    .collect();
                let value: Vec<Value> = all.iter().skip(skip).take(ORIGIN_PAGE).cloned().collect();
                let mut page = json!({ "value": value });
                if skip + ORIGIN_PAGE < all.len() {
                    page["nextLink"] = json!(format!(
                        "{}{key}?api-version={}&$skiptoken={}",
                        self.base,
                        crate::api::FRONT_DOOR,
                        skip + ORIGIN_PAGE
                    ));
                }
                return Answer::new(200).body(page);
            }
            return match (method, body) {
                ("GET", _) => match self.resources.get(&key) {
                    Some(o) => Answer::new(200).body(o.clone()),
                    None => arm_error(404, "NotFound", "origin not found"),
                },
                ("PATCH", Some(b)) => {
                    let allowed =
                        json!({"properties": {"enabledState": 0, "weight": 0, "priority": 0}});
                    if !keys_within(b, &allowed) {
                        self.violations
                            .push(format!("PATCH {path}: unexpected keys in {b}"));
                    }
                    if !self.resources.contains_key(&key) {
                        return arm_error(404, "NotFound", "origin not found");
                    }
                    let headers = self.operation("cdn", Value::Null);
                    if self.operations[&self.next_op].failure.is_none() {
                        let o = self.resources.get_mut(&key).expect("checked");
                        merge(o, b);
                    }
                    let o = self.resources[&key].clone();
                    let mut r = Answer::new(202).body(json!({"id": o["id"], "name": o["name"], "properties": {"provisioningState": "Updating", "deploymentStatus": "NotStarted"}}));
                    for (k, v) in headers {
                        r = r.header(k.as_str(), v.as_str());
                    }
                    r
                }
                _ => arm_error(405, "MethodNotAllowed", "not served"),
            };
        }
        // Storage accounts.
        if lower.contains("/microsoft.storage/storageaccounts/") {
            let (acct_key, action) = match key.strip_suffix("/failover") {
                Some(k) => (k.to_string(), Some("failover")),
                None => (key.clone(), None),
            };
            let Some(acct) = self.resources.get(&acct_key).cloned() else {
                return arm_error(404, "ResourceNotFound", "storage account not found");
            };
            return match (method, action) {
                ("GET", None) => {
                    self.advance_conversion(&acct_key);
                    let mut a = self.resources[&acct_key].clone();
                    if query.get("$expand").map(String::as_str) != Some("geoReplicationStats") {
                        a["properties"]
                            .as_object_mut()
                            .map(|p| p.remove("geoReplicationStats"));
                    }
                    Answer::new(200).body(a)
                }
                ("POST", Some("failover")) => {
                    if body.is_some() {
                        self.violations
                            .push(format!("POST {path}: failover takes no body"));
                    }
                    let planned = query.get("failoverType").map(String::as_str) == Some("Planned");
                    let flag = if planned {
                        "canPlannedFailover"
                    } else {
                        "canFailover"
                    };
                    if acct["properties"]["geoReplicationStats"][flag] != json!(true) {
                        return arm_error(
                            409,
                            "FailoverNotAllowed",
                            "the account cannot fail over now",
                        );
                    }
                    let headers = self.operation("storage", Value::Null);
                    if self.operations[&self.next_op].failure.is_none() {
                        let a = self.resources.get_mut(&acct_key).expect("checked");
                        let p = a["properties"]["primaryLocation"].clone();
                        let s = a["properties"]["secondaryLocation"].clone();
                        a["properties"]["primaryLocation"] = s.clone();
                        a["location"] = s;
                        if planned {
                            a["properties"]["secondaryLocation"] = p;
                        } else {
                            a["sku"]["name"] = json!("Standard_LRS");
                            a["properties"]
                                .as_object_mut()
                                .map(|m| m.remove("secondaryLocation"));
                            a["properties"]["statusOfSecondary"] = Value::Null;
                            a["properties"]["geoReplicationStats"] = json!({"status": "Unavailable", "canFailover": false, "canPlannedFailover": false});
                        }
                    }
                    let mut r = Answer::new(202);
                    for (k, v) in headers {
                        r = r.header(k.as_str(), v.as_str());
                    }
                    r
                }
                ("PATCH", None) => {
                    let b = body.cloned().unwrap_or(Value::Null);
                    if !keys_within(&b, &json!({"sku": {"name": 0}})) {
                        self.violations
                            .push(format!("PATCH {path}: unexpected keys in {b}"));
                    }
                    let sku = b
                        .pointer("/sku/name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    if !crate::storage_account::GEO_SKUS
                        .iter()
                        .chain(
                            [
                                "Standard_LRS",
                                "Standard_ZRS",
                                "StandardV2_LRS",
                                "StandardV2_ZRS",
                            ]
                            .iter(),
                        )
                        .any(|k| *k == sku)
                    {
                        return arm_error(
                            400,
                            "InvalidValuesForRequestParameters",
                            &format!("`{sku}` is not a SKU this account can convert to"),
                        );
                    }
                    if let Some(c) = acct.pointer(
                        "/properties/storageAccountSkuConversionStatus/skuConversionStatus",
                    ) && c == "InProgress"
                    {
                        return arm_error(
                            409,
                            "StorageAccountOperationInProgress",
                            "a SKU conversion is in progress",
                        );
                    }
                    let a = self.resources.get_mut(&acct_key).expect("checked");
                    if a["sku"]["name"] != json!(sku) {
                        // A conversion: the SKU changes when it has finished, hours later on Azure.
                        a["properties"]["storageAccountSkuConversionStatus"] = json!({
                            "skuConversionStatus": "InProgress", "targetSkuName": sku, "startTime": State::now()});
                        let (reads, fails) = self.conversion_plan;
                        self.conversions.insert(acct_key.clone(), (reads, fails));
                    }
                    let a = &self.resources[&acct_key];
                    Answer::new(200).body(a.clone())
                }
                _ => arm_error(405, "MethodNotAllowed", "not served"),
            };
        }
        // PostgreSQL server parameters.
        if lower.contains("/microsoft.dbforpostgresql/flexibleservers/")
            && lower.contains("/configurations/")
        {
            return self.pg_configuration(method, path, body);
        }
        // PostgreSQL flexible servers.
        if lower.contains("/microsoft.dbforpostgresql/flexibleservers/") {
            let (srv_key, action) = match (key.strip_suffix("/stop"), key.strip_suffix("/start")) {
                (Some(k), _) => (k.to_string(), Some("stop")),
                (_, Some(k)) => (k.to_string(), Some("start")),
                _ => (key.clone(), None),
            };
            let existing = self.resources.get(&srv_key).cloned();
            return match (method, action, existing) {
                ("GET", None, Some(s)) => Answer::new(200).body(s),
                ("GET", None, None) => arm_error(404, "ResourceNotFound", "server not found"),
                ("POST", Some("stop"), Some(_)) => {
                    let headers = self.operation("pg", Value::Null);
                    if self.operations[&self.next_op].failure.is_none() {
                        self.resources.get_mut(&srv_key).expect("checked")["properties"]["state"] =
                            json!("Stopped");
                    }
                    let mut r = Answer::new(202);
                    for (k, v) in headers {
                        r = r.header(k.as_str(), v.as_str());
                    }
                    r
                }
                // Azure starts only a stopped server.
                ("POST", Some("start"), Some(s)) if s["properties"]["state"] != "Stopped" => {
                    self.violations
                        .push(format!("POST {path}: the server is not stopped"));
                    arm_error(
                        409,
                        "ServerNotInStoppedState",
                        "the server must be stopped to be started",
                    )
                }
                ("POST", Some("start"), Some(_)) => {
                    let headers = self.operation("pg", Value::Null);
                    if self.operations[&self.next_op].failure.is_none() {
                        self.resources.get_mut(&srv_key).expect("checked")["properties"]["state"] =
                            json!("Ready");
                    }
                    let mut r = Answer::new(202);
                    for (k, v) in headers {
                        r = r.header(k.as_str(), v.as_str());
                    }
                    r
                }
                ("PATCH", None, Some(s)) => {
                    let b = body.cloned().unwrap_or(Value::Null);
                    let allowed =
                        json!({"properties": {"replica": {"promoteMode": 0, "promoteOption": 0}}});
                    let mode = b
                        .pointer("/properties/replica/promoteMode")
                        .and_then(Value::as_str);
                    let option = b
                        .pointer("/properties/replica/promoteOption")
                        .and_then(Value::as_str);
                    if !keys_within(&b, &allowed)
                        || !matches!(mode, Some("Standalone" | "Switchover"))
                        || !matches!(option, Some("Planned" | "Forced"))
                    {
                        self.violations
                            .push(format!("PATCH {path}: not a promote body: {b}"));
                        return arm_error(400, "InvalidParameterValue", "bad promote body");
                    }
                    let headers = self.operation("pg", Value::Null);
                    if self.operations[&self.next_op].failure.is_none() {
                        let source = s["properties"]["sourceServerResourceId"]
                            .as_str()
                            .unwrap_or("")
                            .to_string();
                        let srv = self.resources.get_mut(&srv_key).expect("checked");
                        srv["properties"]["replicationRole"] = json!("None");
                        srv["properties"]["sourceServerResourceId"] = json!("");
                        srv["properties"]["replica"] = json!({"role": "None", "capacity": 5});
                        self.recount_primary(&source);
                    }
                    let mut r = Answer::new(202);
                    for (k, v) in headers {
                        r = r.header(k.as_str(), v.as_str());
                    }
                    r
                }
                ("PUT", None, None) => {
                    let b = body.cloned().unwrap_or(Value::Null);
                    let allowed = json!({"location": 0,
                        "identity": {"type": 0, "userAssignedIdentities": {}},
                        "properties": {"createMode": 0, "sourceServerResourceId": 0, "availabilityZone": 0,
                            "network": {"delegatedSubnetResourceId": 0, "privateDnsZoneArmResourceId": 0, "publicNetworkAccess": 0},
                            "dataEncryption": {"type": 0, "primaryKeyURI": 0, "primaryUserAssignedIdentityId": 0,
                                "geoBackupKeyURI": 0, "geoBackupUserAssignedIdentityId": 0}}});
                    let source = b
                        .pointer("/properties/sourceServerResourceId")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    if !keys_within(&b, &allowed)
                        || b.pointer("/properties/createMode") != Some(&json!("Replica"))
                        || source.is_empty()
                    {
                        self.violations
                            .push(format!("PUT {path}: not a replica create body: {b}"));
                        return arm_error(400, "InvalidParameterValue", "bad create body");
                    }
                    let source_path = source.clone();
                    let Some(src) = self.resources.get(&source_path).cloned() else {
                        return arm_error(404, "ResourceNotFound", "source server not found");
                    };
                    let vnet_location = |vnet: &str| {
                        self.resources
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(vnet))
                            .and_then(|(_, v)| v["location"].as_str().map(str::to_string))
                    };
                    if let Some(missing) = missing_for_replica(&src, &b, vnet_location) {
                        self.violations.push(format!(
                            "PUT {path}: a replica of this server needs {missing}: {b}"
                        ));
                        return arm_error(
                            400,
                            "InvalidParameterValue",
                            &format!(
                                "A replica of server '{}' requires {missing}.",
                                src["name"].as_str().unwrap_or("")
                            ),
                        );
                    }
                    let location = b["location"].as_str().unwrap_or("").to_string();
                    let name = key.rsplit('/').next().unwrap_or("").to_string();
                    let role = if src["location"].as_str() == Some(location.as_str()) {
                        "AsyncReplica"
                    } else {
                        "GeoAsyncReplica"
                    };
                    let headers = self.operation("pg-create", Value::Null);
                    if self.operations[&self.next_op].failure.is_none() {
                        let mut created = json!({
                            "id": key, "name": name, "type": "Microsoft.DBforPostgreSQL/flexibleServers", "location": location,
                            "properties": {"state": "Ready", "replicationRole": role, "sourceServerResourceId": source,
                                "replica": {"role": role, "capacity": 0, "replicationState": "Active"}}
                        });
                        for k in ["network", "dataEncryption", "availabilityZone"] {
                            if let Some(v) = b["properties"].get(k) {
                                created["properties"][k] = v.clone();
                            }
                        }
                        if let Some(id) = b.get("identity") {
                            created["identity"] = id.clone();
                        }
                        self.resources.insert(key.clone(), created);
                        self.recount_primary(&source);
                        // A new replica reports 1 s of replication delay.
                        self.metrics.insert(
                            format!(
                                "{}|physical_replication_delay_in_seconds",
                                key.to_ascii_lowercase()
                            ),
                            1.0,
                        );
                    }
                    // Azure answers a create 202 Accepted with `Azure-AsyncOperation`
                    // only (never 201).
                    let mut r = Answer::new(202);
                    for (k, v) in headers {
                        r = r.header(k.as_str(), v.as_str());
                    }
                    r
                }
                ("PUT", None, Some(_)) => {
                    arm_error(409, "ServerAlreadyExists", "a server with this name exists")
                }
                _ => arm_error(405, "MethodNotAllowed", "not served"),
            };
        }
        // Web app connection strings.
        if lower.contains("/microsoft.web/sites/") && lower.contains("/config/connectionstrings") {
            let base = key.trim_end_matches("/list").to_string();
            return match (method, lower.ends_with("/list")) {
                ("POST", true) => match self.resources.get(&base) {
                    Some(v) => Answer::new(200).body(v.clone()),
                    None => arm_error(404, "ResourceNotFound", "web app not found"),
                },
                ("PUT", false) => {
                    let b = body.cloned().unwrap_or(Value::Null);
                    let ok = b
                        .get("properties")
                        .and_then(Value::as_object)
                        .is_some_and(|m| {
                            m.values().all(|e| {
                                e.get("value").is_some_and(Value::is_string)
                                    && e.get("type").is_some_and(Value::is_string)
                            })
                        });
                    if !ok || !self.resources.contains_key(&base) {
                        self.violations
                            .push(format!("PUT {path}: not a connection string dictionary"));
                        return arm_error(400, "BadRequest", "bad connection strings");
                    }
                    let v = self.resources.get_mut(&base).expect("checked");
                    v["properties"] = b["properties"].clone();
                    Answer::new(200).body(v.clone())
                }
                _ => arm_error(405, "MethodNotAllowed", "not served"),
            };
        }
        match (method, self.resources.get(&key)) {
            ("GET", Some(v)) => Answer::new(200).body(v.clone()),
            _ => arm_error(
                404,
                "ResourceNotFound",
                &format!("the stand-in does not serve {method} on this path"),
            ),
        }
    }

    /// `GET`/`PUT .../flexibleServers/{server}/configurations/{name}`: the server
    /// parameters the stand-in knows ([`PG_PARAMETERS`]) with their defaults until a
    /// PUT changes them (a long-running operation, as on Azure); an unknown name is
    /// 404, a value outside `allowedValues` 400, a change on a stopped server 409.
    fn pg_configuration(&mut self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let Some((srv_key, name)) = path.rsplit_once("/configurations/") else {
            return arm_error(404, "ResourceNotFound", "no such configuration");
        };
        let Some(server) = self.resources.get(srv_key).cloned() else {
            return arm_error(404, "ResourceNotFound", "server not found");
        };
        let Some((_, default, allowed, dynamic)) = PG_PARAMETERS.iter().find(|(n, ..)| *n == name)
        else {
            return arm_error(
                404,
                "ResourceNotFound",
                &format!(
                    "The configuration '{name}' does not exist for server '{}'.",
                    server["name"].as_str().unwrap_or("")
                ),
            );
        };
        let current = self.resources.get(path).cloned().unwrap_or_else(|| {
            json!({"id": path, "name": name, "type": "Microsoft.DBforPostgreSQL/flexibleServers/configurations",
                "properties": {"value": default, "defaultValue": default, "dataType": "Enumeration",
                    "allowedValues": allowed, "source": "system-default", "isDynamicConfig": dynamic,
                    "isReadOnly": false, "isConfigPendingRestart": false}})
        });
        match (method, body) {
            ("GET", _) => Answer::new(200).body(current),
            ("PUT", Some(b)) => {
                let allowed_keys = json!({"properties": {"value": 0, "source": 0}});
                let value = b.pointer("/properties/value").and_then(Value::as_str);
                if !keys_within(b, &allowed_keys) || value.is_none() {
                    self.violations
                        .push(format!("PUT {path}: not a configuration body: {b}"));
                    return arm_error(400, "InvalidParameterValue", "bad configuration body");
                }
                let value = value.expect("checked");
                if !allowed.split(',').any(|a| a.eq_ignore_ascii_case(value)) {
                    return arm_error(
                        400,
                        "InvalidParameterValue",
                        &format!(
                            "Invalid value given for parameter '{name}'. Specify a valid parameter value: {allowed}."
                        ),
                    );
                }
                if server["properties"]["state"] != "Ready" {
                    return arm_error(
                        409,
                        "ServerNotReady",
                        "the server is not running; start it first",
                    );
                }
                let headers = self.operation("pg", Value::Null);
                if self.operations[&self.next_op].failure.is_none() {
                    let mut c = current;
                    c["properties"]["value"] = json!(value);
                    c["properties"]["source"] = b
                        .pointer("/properties/source")
                        .cloned()
                        .unwrap_or(json!("user-override"));
                    self.resources.insert(path.to_string(), c);
                }
                let mut r = Answer::new(202);
                for (k, v) in headers {
                    r = r.header(k.as_str(), v.as_str());
                }
                r
            }
            _ => arm_error(405, "MethodNotAllowed", "not served"),
        }
    }

    /// One read of a storage account moves its SKU conversion on: `InProgress`
    /// for the planned number of reads, then `Succeeded` (the SKU and the geo
    /// replication as the target says) or `Failed` (the SKU unchanged).
    fn advance_conversion(&mut self, acct_key: &str) {
        let Some((reads, fails)) = self.conversions.get_mut(acct_key) else {
            return;
        };
        if *reads > 0 {
            *reads -= 1;
            return;
        }
        let fails = *fails;
        self.conversions.remove(acct_key);
        let a = self
            .resources
            .get_mut(acct_key)
            .expect("a converting account");
        let sku = a["properties"]["storageAccountSkuConversionStatus"]["targetSkuName"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let conv = &mut a["properties"]["storageAccountSkuConversionStatus"];
        conv["endTime"] = json!(State::now());
        if fails {
            conv["skuConversionStatus"] = json!("Failed");
            return;
        }
        conv["skuConversionStatus"] = json!("Succeeded");
        a["sku"]["name"] = json!(sku);
        if is_geo_sku(&sku) {
            let primary = a["properties"]["primaryLocation"]
                .as_str()
                .unwrap_or("")
                .to_string();
            a["properties"]["secondaryLocation"] = json!(pair(&primary));
            a["properties"]["statusOfSecondary"] = json!("available");
            a["properties"]["geoReplicationStats"] = json!({"status": "Live", "lastSyncTime": State::now(), "canFailover": true, "canPlannedFailover": true,
                "postFailoverRedundancy": "Standard_LRS", "postPlannedFailoverRedundancy": sku});
        }
    }

    /// A server with replicas is `Primary`, one without `None`.
    pub(super) fn recount_primary(&mut self, source: &str) {
        let has = self
            .resources
            .values()
            .any(|v| v["properties"]["sourceServerResourceId"].as_str() == Some(source));
        if let Some(src) = self.resources.get_mut(source) {
            src["properties"]["replicationRole"] = json!(if has { "Primary" } else { "None" });
        }
    }

    /// `GET {resource}/providers/Microsoft.Insights/metrics`: the documented
    /// `timespan` (`START/END`, ISO 8601, else 400 `BadRequest`), then the metric's
    /// series: a plain one ([`ArmStandIn::set_metric`](super::ArmStandIn::set_metric)), or
    /// the dimensional ones ([`ArmStandIn::set_metric_series`](super::ArmStandIn::set_metric_series))
    /// that `$filter` selects (`Dim eq 'value'`, `Dim eq '*'` splits by `Dim`).
    fn metrics_answer(
        &mut self,
        method: &str,
        path: &str,
        resource: &str,
        query: &BTreeMap<String, String>,
    ) -> Answer {
        let name = query.get("metricnames").cloned().unwrap_or_default();
        let agg = query
            .get("aggregation")
            .cloned()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if method != "GET" || query.get("interval").is_none() {
            self.violations
                .push(format!("{method} {path}: metrics call without interval"));
        }
        let timespan = query.get("timespan").map(String::as_str).unwrap_or("");
        if let Err(why) = check_timespan(timespan) {
            self.violations
                .push(format!("{method} {path}: timespan {timespan:?}: {why}"));
            return arm_error(
                400,
                "BadRequest",
                &format!(
                    "Invalid timespan '{timespan}': {why}; expected an ISO 8601 interval \
                     startTime/endTime"
                ),
            );
        }
        let key = format!("{resource}|{}", name.to_ascii_lowercase());
        let point = |v: f64| json!([{ "timeStamp": State::now(), agg.clone(): v }]);
        let timeseries = match self.series.get(&key) {
            Some(series) => {
                let filter = match parse_filter(query.get("$filter").map(String::as_str)) {
                    Ok(f) => f,
                    Err(why) => {
                        self.violations.push(format!("{method} {path}: {why}"));
                        return arm_error(400, "BadRequest", &why);
                    }
                };
                series
                    .iter()
                    .filter(|(dims, _)| {
                        filter.iter().all(|(d, want)| {
                            want == "*"
                                || dims.iter().any(|(k, v)| {
                                    k.eq_ignore_ascii_case(d) && v.eq_ignore_ascii_case(want)
                                })
                        })
                    })
                    .map(|(dims, v)| {
                        let meta: Vec<Value> = filter
                            .iter()
                            .filter_map(|(d, _)| {
                                dims.iter().find(|(k, _)| k.eq_ignore_ascii_case(d)).map(
                                    |(k, val)| {
                                        json!({"name": {"value": k.to_ascii_lowercase(), "localizedValue": k}, "value": val})
                                    },
                                )
                            })
                            .collect();
                        json!({ "metadatavalues": meta, "data": point(*v) })
                    })
                    .collect::<Vec<_>>()
            }
            None => {
                let data = match self.metrics.get(&key) {
                    Some(v) => point(*v),
                    None => json!([]),
                };
                vec![json!({ "metadatavalues": [], "data": data })]
            }
        };
        Answer::new(200).body(json!({
            "cost": 0, "timespan": timespan, "interval": "PT1M",
            "value": [{ "id": format!("{path}/{name}"), "type": "Microsoft.Insights/metrics",
                "name": { "value": name, "localizedValue": name }, "unit": "Unspecified",
                "timeseries": timeseries }]
        }))
    }
}

/// The metrics API's `timespan`: `START/END`, both ISO 8601 date-times, START
/// before END.
fn check_timespan(timespan: &str) -> Result<(), String> {
    let (start, end) = timespan
        .split_once('/')
        .ok_or_else(|| "not a startTime/endTime interval".to_string())?;
    let parse = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map_err(|e| format!("`{t}` is not a date-time: {e}"))
    };
    let (start, end) = (parse(start)?, parse(end)?);
    if start >= end {
        return Err("the start is not before the end".into());
    }
    Ok(())
}

/// `$filter` of a metrics call: `Dim eq 'value'` clauses joined by `and`.
fn parse_filter(filter: Option<&str>) -> Result<Vec<(String, String)>, String> {
    let Some(filter) = filter else {
        return Ok(Vec::new());
    };
    filter
        .split(" and ")
        .map(|clause| {
            let (dim, value) = clause
                .trim()
                .split_once(" eq ")
                .ok_or_else(|| format!("unsupported $filter clause `{clause}`"))?;
            let value = value
                .trim()
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .ok_or_else(|| format!("$filter value not quoted in `{clause}`"))?;
            Ok((dim.trim().to_string(), value.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics_call(st: &mut State, timespan: &str) -> Answer {
        let query: BTreeMap<String, String> = [
            ("metricnames", "physical_replication_delay_in_seconds"),
            ("aggregation", "Maximum"),
            ("interval", "PT1M"),
            ("timespan", timespan),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        st.respond(
            "GET",
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.DBforPostgreSQL/flexibleServers/db/providers/Microsoft.Insights/metrics",
            &query,
            None,
        )
    }

    #[test]
    fn a_postgres_create_is_202_with_azure_asyncoperation_only() {
        let mut st = State::default();
        let src = "/subscriptions/s/resourceGroups/g/providers/Microsoft.DBforPostgreSQL/flexibleServers/db";
        st.resources.insert(
            src.into(),
            json!({"name": "db", "location": "westus", "properties": {"state": "Ready", "replicationRole": "None"}}),
        );
        let body = json!({"location": "eastus", "properties": {"createMode": "Replica", "sourceServerResourceId": src}});
        let r = st.respond("PUT", &format!("{src}-2"), &BTreeMap::new(), Some(&body));
        assert_eq!(r.status, 202);
        let names: Vec<&str> = r.headers.iter().map(|(k, _)| k.as_str()).collect();
        assert!(names.contains(&"Azure-AsyncOperation"), "{names:?}");
        assert!(!names.contains(&"Location"), "{names:?}");
    }

    /// A replica's delegated subnet must be one of a known virtual network in
    /// the replica's region; customer-managed keys with geo-redundant backup
    /// need the geo-backup key and identity, each key's identity among the
    /// replica's identities.
    #[test]
    fn a_replica_create_needs_a_subnet_of_its_region_and_the_geo_backup_key() {
        let mut st = State::default();
        let src = "/subscriptions/s/resourceGroups/g/providers/Microsoft.DBforPostgreSQL/flexibleServers/db";
        let vnet = |name: &str| {
            format!(
                "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/{name}"
            )
        };
        for (name, location) in [("vnet-west", "westus"), ("vnet-east", "eastus")] {
            st.resources
                .insert(vnet(name), json!({"name": name, "location": location}));
        }
        let key_id = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/key";
        st.resources.insert(
            src.into(),
            json!({"name": "db", "location": "westus",
                "identity": {"type": "UserAssigned", "userAssignedIdentities": {key_id: {}}},
                "properties": {"state": "Ready", "replicationRole": "None",
                    "network": {"delegatedSubnetResourceId": format!("{}/subnets/db", vnet("vnet-west"))},
                    "backup": {"geoRedundantBackup": "Enabled"},
                    "dataEncryption": {"type": "AzureKeyVault", "primaryKeyURI": "https://kv/keys/k/1",
                        "primaryUserAssignedIdentityId": key_id}}}),
        );
        let create = |st: &mut State, subnet: &str, geo: bool| {
            let mut body = json!({"location": "eastus",
                "identity": {"type": "UserAssigned", "userAssignedIdentities": {key_id: {}}},
                "properties": {"createMode": "Replica", "sourceServerResourceId": src,
                    "network": {"delegatedSubnetResourceId": subnet},
                    "dataEncryption": {"type": "AzureKeyVault", "primaryKeyURI": "https://kv/keys/k/1",
                        "primaryUserAssignedIdentityId": key_id}}});
            if geo {
                body["properties"]["dataEncryption"]["geoBackupKeyURI"] =
                    json!("https://kv2/keys/k/1");
                body["properties"]["dataEncryption"]["geoBackupUserAssignedIdentityId"] =
                    json!(key_id);
            }
            let r = st.respond("PUT", &format!("{src}-2"), &BTreeMap::new(), Some(&body));
            let message = r.body.as_ref().map(|b| b.to_string()).unwrap_or_default();
            (r.status, message)
        };
        let west = format!("{}/subnets/db", vnet("vnet-west"));
        let east = format!("{}/subnets/db", vnet("vnet-east"));
        let (status, message) = create(&mut st, &west, true);
        assert_eq!(status, 400);
        assert!(message.contains("a subnet in eastus"), "{message}");
        let (status, message) = create(&mut st, &east, false);
        assert_eq!(status, 400);
        assert!(
            message.contains("dataEncryption.geoBackupKeyURI"),
            "{message}"
        );
        let unknown = format!("{}/subnets/db", vnet("vnet-nowhere"));
        let (status, message) = create(&mut st, &unknown, true);
        assert_eq!(status, 400);
        assert!(message.contains("an existing subnet"), "{message}");
        assert_eq!(st.violations.len(), 3, "{:?}", st.violations);
        let (status, _) = create(&mut st, &east, true);
        assert_eq!(status, 202, "{:?}", st.violations);
    }

    #[test]
    fn a_storage_sku_change_is_in_progress_before_it_succeeds() {
        let mut st = State {
            conversion_plan: (1, false),
            ..State::default()
        };
        let acct =
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a";
        st.resources.insert(
            acct.into(),
            json!({"name": "a", "sku": {"name": "Standard_LRS"}, "properties": {"primaryLocation": "westus"}}),
        );
        let q = BTreeMap::new();
        let patch = json!({"sku": {"name": "Standard_RAGRS"}});
        assert_eq!(st.respond("PATCH", acct, &q, Some(&patch)).status, 200);
        let conv = |a: &Value| {
            a["properties"]["storageAccountSkuConversionStatus"]["skuConversionStatus"].clone()
        };
        let first = st.respond("GET", acct, &q, None).body.unwrap();
        assert_eq!(conv(&first), "InProgress");
        assert_eq!(first["sku"]["name"], "Standard_LRS");
        let second = st.respond("GET", acct, &q, None).body.unwrap();
        assert_eq!(conv(&second), "Succeeded");
        assert_eq!(second["sku"]["name"], "Standard_RAGRS");
    }

    #[test]
    fn pg_configurations_keep_state_and_refuse_unknown_names_and_values() {
        let mut st = State::default();
        let srv = "/subscriptions/s/resourceGroups/g/providers/Microsoft.DBforPostgreSQL/flexibleServers/db";
        st.resources.insert(
            srv.into(),
            json!({"name": "db", "properties": {"state": "Ready"}}),
        );
        let q = BTreeMap::new();
        let ro = format!("{srv}/configurations/default_transaction_read_only");
        let got = st.respond("GET", &ro, &q, None);
        assert_eq!(got.status, 200);
        assert_eq!(got.body.unwrap()["properties"]["value"], "off");
        let on = json!({"properties": {"value": "on", "source": "user-override"}});
        assert_eq!(st.respond("PUT", &ro, &q, Some(&on)).status, 202);
        let got = st.respond("GET", &ro, &q, None).body.unwrap();
        assert_eq!(got["properties"]["value"], "on");
        assert_eq!(got["properties"]["source"], "user-override");
        let unknown = format!("{srv}/configurations/no_such_parameter");
        let nf = st.respond("GET", &unknown, &q, None);
        assert_eq!(nf.status, 404);
        assert_eq!(nf.body.unwrap()["error"]["code"], "ResourceNotFound");
        assert_eq!(st.respond("PUT", &unknown, &q, Some(&on)).status, 404);
        let bad = json!({"properties": {"value": "maybe", "source": "user-override"}});
        let r = st.respond("PUT", &ro, &q, Some(&bad));
        assert_eq!(r.status, 400);
        assert_eq!(r.body.unwrap()["error"]["code"], "InvalidParameterValue");
        assert!(st.violations.is_empty(), "{:?}", st.violations);
    }

    #[test]
    fn a_metrics_timespan_that_is_not_start_slash_end_is_a_400_bad_request() {
        for bad in [
            "PT15M",
            "",
            "2026-12-03T16:15:00Z/2026-12-03T16:00:00Z",
            "x/y",
        ] {
            let mut st = State::default();
            let answer = metrics_call(&mut st, bad);
            assert_eq!(answer.status, 400, "{bad}");
            assert_eq!(
                answer.body.as_ref().unwrap()["error"]["code"],
                "BadRequest",
                "{bad}"
            );
            assert_eq!(st.violations.len(), 1, "{bad}");
        }
        let mut st = State::default();
        let ok = metrics_call(&mut st, "2026-12-03T16:00:00Z/2026-12-03T16:15:00Z");
        assert_eq!(ok.status, 200);
        assert!(st.violations.is_empty(), "{:?}", st.violations);
    }
}
