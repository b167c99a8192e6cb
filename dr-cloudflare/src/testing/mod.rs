//! A fake Cloudflare API v4 on dr-core's recording stand-in (the `testing` feature): load balancers,
//! pools, pool health and DNS records kept in memory (PATCH changes them, GET
//! returns them), every request recorded, and every request and response body
//! checked against the OpenAPI extract. A fake whose traffic broke the schema
//! fails the test when dropped. This crate's tests use it, and so do plans run
//! end to end through the `dr` binary (`dr-cli/tests/it/playbook_*.rs`): point a
//! plan's `api_base` at [`FakeCloudflare::api_base`] and its token at
//! [`FakeCloudflare::token`].
#![allow(missing_docs)]

mod schema;

use std::collections::BTreeMap;
use std::sync::Arc;

use dr_core::testing::http::{Answer, Call, Canned, Service, StandIn};
use dr_core::{Action, HealthProbe, Registry, Settings, TrafficRouter};
use serde_json::{Value, json};

pub use schema::OpenApi;

pub const ACCOUNT: &str = "acc1";
pub const ZONE: &str = "zone1";
pub const LB: &str = "lb1";
pub const POOL_EAST: &str = "pool-east";
pub const POOL_WEST: &str = "pool-west";
pub const POOL_WNAM: &str = "pool-wnam";
pub const RECORD: &str = "rec1";
pub const REGIONS: [&str; 13] = [
    "WNAM", "ENAM", "WEU", "EEU", "NSAM", "SSAM", "OC", "ME", "NAF", "SAF", "SAS", "SEAS", "NEAS",
];
const PREFIX: &str = "/client/v4";
const TS: &str = "2024-08-06T10:00:00.000000Z";

pub fn lb_path() -> String {
    format!("/zones/{ZONE}/load_balancers/{LB}")
}
pub fn pool_path(pool: &str) -> String {
    format!("/accounts/{ACCOUNT}/load_balancers/pools/{pool}")
}
pub fn health_path(pool: &str) -> String {
    format!("{}/health", pool_path(pool))
}
pub fn record_path() -> String {
    format!("/zones/{ZONE}/dns_records/{RECORD}")
}

/// One request the fake received.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub body: Option<Value>,
}

impl Recorded {
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// The Cloudflare API's own rules in the shared stand-in: its objects, its
/// token, its schema.
struct Api {
    objects: BTreeMap<String, Value>,
    api: OpenApi,
    token: String,
}

/// The path below the API prefix.
fn api_path(call: &Call) -> &str {
    call.path.strip_prefix(PREFIX).unwrap_or(&call.path)
}

fn envelope(result: Value) -> Value {
    json!({ "success": true, "errors": [], "messages": [], "result": result })
}

pub fn failure(code: u32, message: &str) -> Value {
    json!({ "success": false, "errors": [{ "code": code, "message": message }], "messages": [], "result": null })
}

impl Service for Api {
    fn request_id_header(&self) -> &'static str {
        "cf-ray"
    }

    fn request_id(&self, n: u64) -> String {
        format!("fake{n:06}-LAX")
    }

    fn name(&self) -> &str {
        "the fake Cloudflare API (checked against its OpenAPI schema)"
    }

    fn admit(&mut self, call: &Call, violations: &mut Vec<String>) -> Option<Answer> {
        if let Err(e) = self
            .api
            .check_request(&call.method, api_path(call), call.body.as_ref())
        {
            violations.push(e);
        }
        None
    }

    fn handle(&mut self, call: &Call, _violations: &mut Vec<String>) -> Answer {
        if call.header("authorization") != Some(format!("Bearer {}", self.token).as_str()) {
            return Answer::json(403, failure(10000, "Authentication error"));
        }
        let (status, body) = handle(
            &mut self.objects,
            &call.method,
            api_path(call),
            call.body.clone(),
        );
        Answer::json(status, body)
    }

    fn answered(&mut self, call: &Call, answer: &Answer, violations: &mut Vec<String>) {
        let body = answer.body.clone().unwrap_or(Value::Null);
        if let Err(e) = self
            .api
            .check_response(&call.method, api_path(call), answer.status, &body)
        {
            violations.push(e);
        }
    }
}

fn handle(
    objects: &mut BTreeMap<String, Value>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    match method {
        "GET" => match objects.get(path) {
            Some(v) => (200, envelope(v.clone())),
            None => (404, failure(1002, "Not found")),
        },
        "PATCH" => {
            let Some(obj) = objects.get_mut(path) else {
                return (404, failure(1002, "Not found"));
            };
            let Some(Value::Object(patch)) = body else {
                return (400, failure(1004, "Invalid request body"));
            };
            for (k, v) in patch {
                obj[&k] = v;
            }
            if let Some(origins) = obj.get_mut("origins").and_then(Value::as_array_mut) {
                for o in origins {
                    if o.get("enabled") == Some(&Value::Bool(false)) {
                        if o.get("disabled_at").is_none() {
                            o["disabled_at"] = json!(TS);
                        }
                    } else if let Some(m) = o.as_object_mut() {
                        m.remove("disabled_at");
                    }
                }
            }
            obj["modified_on"] = json!(TS);
            (200, envelope(obj.clone()))
        }
        _ => (405, failure(7001, "Method not allowed for this route")),
    }
}

/// The fake API and the settings that point providers at it.
pub struct FakeCloudflare {
    stand_in: StandIn<Api>,
    /// The API token the fake accepts (`CLOUDFLARE_API_TOKEN`).
    pub token: String,
}

fn origin(name: &str, address: &str) -> Value {
    json!({ "name": name, "address": address, "enabled": true, "weight": 1 })
}

fn pool(id: &str, name: &str, origins: Vec<Value>) -> Value {
    json!({
        "id": id, "name": name, "enabled": true, "minimum_origins": 1,
        "monitor": "f1aba936b94213e5b8dca0c0dbf1f9cc", "check_regions": ["WNAM", "ENAM"],
        "origins": origins, "created_on": TS, "modified_on": TS,
    })
}

pub fn pop(healthy: bool, origin_ok: bool) -> Value {
    json!({ "healthy": healthy, "origins": [{ "192.0.2.1": {
        "healthy": origin_ok,
        "failure_reason": if origin_ok { "No failures" } else { "HTTP 503 Service Unavailable" },
        "response_code": if origin_ok { 200 } else { 503 },
        "rtt": "12.1ms" } }] })
}

impl std::fmt::Debug for FakeCloudflare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeCloudflare")
            .field("uri", &self.stand_in.uri())
            .finish_non_exhaustive()
    }
}

impl FakeCloudflare {
    /// A fake with one load balancer (`off`, east first), the east, west and WNAM
    /// scoped pools, healthy pool health and a DNS record `www-sec` on the east IP.
    pub async fn start() -> Self {
        let token = format!("test-token-{:016x}", rand::random::<u64>());
        let mut st = Api {
            objects: BTreeMap::new(),
            api: OpenApi::load(),
            token: token.clone(),
        };
        st.objects.insert(
            lb_path(),
            json!({
                "id": LB, "name": "www.example.com", "enabled": true, "proxied": true, "ttl": 30,
                "steering_policy": "off", "default_pools": [POOL_EAST, POOL_WEST],
                "fallback_pool": POOL_WEST, "region_pools": {}, "country_pools": {}, "pop_pools": {},
                "random_steering": { "default_weight": 1 }, "session_affinity": "none",
                "created_on": TS, "modified_on": TS,
            }),
        );
        st.objects.insert(
            pool_path(POOL_EAST),
            pool(
                POOL_EAST,
                "east",
                vec![origin("e1", "192.0.2.1"), origin("e2", "192.0.2.2")],
            ),
        );
        st.objects.insert(
            pool_path(POOL_WEST),
            pool(
                POOL_WEST,
                "west",
                vec![origin("w1", "198.51.100.1"), origin("w2", "198.51.100.2")],
            ),
        );
        st.objects
            .insert(pool_path(POOL_WNAM), pool(POOL_WNAM, "wnam-scoped", vec![]));
        for p in [POOL_EAST, POOL_WEST] {
            st.objects.insert(
                health_path(p),
                json!({ "pool_id": p, "pop_health": {
                    "Los Angeles, US": pop(true, true), "Ashburn, US": pop(true, true), "Amsterdam, NL": pop(true, true) } }),
            );
        }
        st.objects.insert(
            record_path(),
            json!({
                "id": RECORD, "type": "A", "name": "www-sec.example.com", "content": "203.0.113.10",
                "proxiable": true, "proxied": false, "ttl": 60, "comment": "dr test record", "tags": [],
                "created_on": TS, "modified_on": TS, "meta": { "auto_added": false, "source": "primary" },
            }),
        );
        FakeCloudflare {
            stand_in: StandIn::start(st).await,
            token,
        }
    }

    pub fn api_base(&self) -> String {
        format!("{}{PREFIX}", self.stand_in.uri())
    }

    pub fn lb_settings(&self) -> Value {
        json!({
            "account_id": ACCOUNT, "zone_id": ZONE, "load_balancer": LB,
            "pools": { "east": POOL_EAST, "west": POOL_WEST },
            "scoped_pools": { "WNAM": POOL_WNAM },
            "api_base": self.api_base(), "token": self.token,
        })
    }

    fn registry() -> Registry {
        let mut r = Registry::new();
        crate::register(&mut r);
        r
    }

    /// The load-balancer router, built through the registry.
    pub fn lb_router(&self) -> Arc<dyn TrafficRouter> {
        let s = Settings::from_json("edge", "cloudflare.load_balancer", self.lb_settings());
        Self::registry()
            .build_router(&s)
            .expect("registered")
            .expect("valid settings")
    }

    /// The pool probe of `target`, built through the registry.
    pub fn pool_probe(&self, target: &str) -> Arc<dyn HealthProbe> {
        let mut v = self.lb_settings();
        v["probe_pool"] = json!(target);
        let s = Settings::from_json("edge_health", "cloudflare.load_balancer", v);
        Self::registry()
            .build_probe(&s)
            .expect("registered")
            .expect("valid settings")
    }

    /// The DNS router over `www-sec`, built through the registry.
    pub fn dns_router(&self) -> Arc<dyn TrafficRouter> {
        let s = Settings::from_json(
            "www_sec",
            "cloudflare.dns_record",
            json!({
                "zone_id": ZONE, "record": RECORD,
                "targets": { "east": "203.0.113.10", "west": "198.51.100.20", "maintenance": "maint.example.com" },
                "api_base": self.api_base(), "token": self.token,
            }),
        );
        Self::registry()
            .build_router(&s)
            .expect("registered")
            .expect("valid settings")
    }

    /// A provider action, built through the registry.
    pub fn origin_action(&self, name: &str, pool: &str, origin: &str) -> Arc<dyn Action> {
        let s = Settings::from_json(
            "drain",
            name,
            json!({ "account_id": ACCOUNT, "pool": pool, "origin": origin,
                    "api_base": self.api_base(), "token": self.token }),
        );
        Self::registry()
            .build_action(name, &s)
            .expect("registered")
            .expect("valid settings")
    }

    pub fn object(&self, path: &str) -> Value {
        self.stand_in.with_service(|api| api.objects[path].clone())
    }

    pub fn set_object(&self, path: &str, v: Value) {
        self.stand_in
            .with_service(|api| api.objects.insert(path.to_string(), v));
    }

    /// The requests received so far, and forgets them.
    pub fn take_requests(&self) -> Vec<Recorded> {
        self.stand_in
            .take_requests()
            .into_iter()
            .map(|c| Recorded {
                method: c.method.clone(),
                path: api_path(&c).to_string(),
                body: c.body,
            })
            .collect()
    }

    /// The next request gets this answer instead of the normal one.
    pub fn queue(&self, status: u16, body: Value, headers: &[(&str, &str)]) {
        self.queue_after(0, status, body, headers);
    }

    /// Like [`queue`](Self::queue), after `skip` requests answered normally.
    pub fn queue_after(&self, skip: usize, status: u16, body: Value, headers: &[(&str, &str)]) {
        let mut canned = Canned::json(status, body).after(skip);
        for (k, v) in headers {
            canned = canned.header(k, v);
        }
        self.stand_in.queue(canned);
    }

    /// Schema violations so far.
    pub fn violations(&self) -> Vec<String> {
        self.stand_in.violations()
    }

    /// The share of `region`'s traffic each target receives, in percent, computed
    /// from the fake's state under Cloudflare's steering semantics. Independent of
    /// the provider: an origin belongs to the target whose pool has its address.
    pub fn traffic(&self, region: &str) -> BTreeMap<String, f64> {
        let objects = self.stand_in.with_service(|api| api.objects.clone());
        let lb = &objects[&lb_path()];
        let ids = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
                .unwrap_or_default()
        };
        let defaults = ids(&lb["default_pools"]);
        let regions = lb["region_pools"].as_object().cloned().unwrap_or_default();
        let mut policy = lb["steering_policy"].as_str().unwrap_or("").to_string();
        if policy.is_empty() {
            policy = if regions.values().any(|v| !ids(v).is_empty()) {
                "geo"
            } else {
                "off"
            }
            .into();
        }
        let mut chosen: Vec<(String, f64)> = Vec::new();
        match policy.as_str() {
            "off" => chosen.push((defaults[0].clone(), 1.0)),
            "random" => {
                let dw = lb["random_steering"]["default_weight"]
                    .as_f64()
                    .unwrap_or(1.0);
                let ws: Vec<(String, f64)> = defaults
                    .iter()
                    .map(|p| {
                        let w = lb["random_steering"]["pool_weights"][p]
                            .as_f64()
                            .unwrap_or(dw);
                        (p.clone(), w)
                    })
                    .collect();
                let total: f64 = ws.iter().map(|(_, w)| w).sum();
                chosen.extend(ws.into_iter().map(|(p, w)| (p, w / total)));
            }
            "geo" => {
                let list = regions.get(region).map(ids).unwrap_or_default();
                let first = list.first().cloned().unwrap_or_else(|| defaults[0].clone());
                chosen.push((first, 1.0));
            }
            other => panic!("the fake does not model steering_policy {other}"),
        }
        let owner = |address: &str| -> String {
            for (target, id) in [("east", POOL_EAST), ("west", POOL_WEST)] {
                let p = &objects[&pool_path(id)];
                if p["origins"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|o| o["address"] == address)
                {
                    return target.to_string();
                }
            }
            panic!("origin address {address} belongs to no target pool")
        };
        let mut out: BTreeMap<String, f64> = BTreeMap::new();
        for (pool_id, share) in chosen {
            if share == 0.0 {
                continue;
            }
            let p = &objects[&pool_path(&pool_id)];
            let live: Vec<(String, f64)> = p["origins"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|o| o["enabled"].as_bool().unwrap_or(true))
                .map(|o| {
                    (
                        o["address"].as_str().unwrap().to_string(),
                        o["weight"].as_f64().unwrap_or(1.0),
                    )
                })
                .collect();
            let total: f64 = live.iter().map(|(_, w)| w).sum();
            assert!(total > 0.0, "pool {pool_id} would serve nothing");
            for (addr, w) in live {
                *out.entry(owner(&addr)).or_insert(0.0) += 100.0 * share * w / total;
            }
        }
        out.retain(|_, v| *v > 1e-9);
        out
    }

    /// Asserts every region gets `expected` (target → percent), except the regions
    /// listed in `except` with their own expectations.
    pub fn assert_traffic(&self, everywhere: &[(&str, f64)], except: &[(&str, &[(&str, f64)])]) {
        for region in REGIONS {
            let want = except
                .iter()
                .find(|(r, _)| *r == region)
                .map(|(_, w)| *w)
                .unwrap_or(everywhere);
            let got = self.traffic(region);
            let want: BTreeMap<String, f64> =
                want.iter().map(|(t, w)| (t.to_string(), *w)).collect();
            let close = got.len() == want.len()
                && got
                    .iter()
                    .all(|(t, w)| want.get(t).is_some_and(|x| (x - w).abs() < 1e-6));
            assert!(close, "region {region}: traffic {got:?}, expected {want:?}");
        }
    }
}
