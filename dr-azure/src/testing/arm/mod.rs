//! A stateful stand-in for Azure Resource Manager on wiremock.
//!
//! No emulator exists for ARM, so this serves the documented request and response
//! shapes of the calls dr-azure makes, keeping the resources in memory (a PATCH
//! changes them, a GET returns them), and records every request. It checks every
//! request as it arrives: the bearer token (else 401 with ARM's
//! `InvalidAuthenticationToken` envelope), the `api-version` of the resource type
//! (else 400 `InvalidApiVersionParameter`) and the body's documented shape; a
//! violation is recorded and fails the test when the stand-in is dropped.
//!
//! Long-running operations answer 202 with `Azure-AsyncOperation` and/or
//! `Location` as ARM does for each resource type (a PostgreSQL create: 202 with
//! `Azure-AsyncOperation` only, never 201)
//! ([`LroStyle`] can force either), report `InProgress` once (with
//! `Retry-After: 0`), then `Succeeded`; [`ArmStandIn::fail_next_operation`] makes
//! the next one end `Failed` with a code and message (and leaves the resource
//! unchanged). [`ArmStandIn::queue`] answers the next matching request with a
//! canned status, body and headers (429 + `Retry-After`, an ARM error envelope).

use std::collections::BTreeMap;

use dr_core::testing::http::{Answer, Call, Canned, Service, StandIn};
use serde_json::{Map, Value, json};

/// The subscription of every stand-in resource.
pub const SUBSCRIPTION: &str = "00000000-0000-0000-0000-00000000d0d0";
/// The resource group of every stand-in resource.
pub const RESOURCE_GROUP: &str = "proseware";
/// The bearer token the stand-in accepts.
pub const TOKEN: &str = "stand-in-token";

/// The ARM path of a resource in the stand-in's group: `providers/{rest}`.
pub fn rpath(rest: &str) -> String {
    format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/{rest}")
}

/// How long-running operations are announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LroStyle {
    /// As ARM does for each resource type (the default).
    AsDocumented,
    /// `Azure-AsyncOperation` only.
    AsyncOperation,
    /// `Location` only.
    Location,
}

/// One request the stand-in received.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// `GET`, `PATCH`, ...
    pub method: String,
    /// The URL path.
    pub path: String,
    /// The `api-version` query parameter.
    pub api_version: Option<String>,
    /// Every query parameter (`api-version` too).
    pub query: BTreeMap<String, String>,
    /// The JSON body, if any.
    pub body: Option<Value>,
}

impl Recorded {
    /// `METHOD path`.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

struct Operation {
    polls_left: u32,
    failure: Option<(String, String)>,
    result: Value,
}

/// One series of a dimensional metric: its dimension values and newest value.
type Series = (Vec<(String, String)>, f64);

#[derive(Default)]
struct State {
    resources: BTreeMap<String, Value>,
    metrics: BTreeMap<String, f64>,
    /// Dimensional metrics: `resource|metric` -> (dimension values, newest value).
    series: BTreeMap<String, Vec<Series>>,
    /// What `respond` found wrong; moved to the stand-in's list after each request.
    violations: Vec<String>,
    operations: BTreeMap<u64, Operation>,
    next_op: u64,
    style: Option<LroStyle>,
    fail_next: Option<(String, String)>,
    monitor: BTreeMap<String, String>,
    base: String,
    /// Storage SKU conversions under way: account -> (reads left `InProgress`, fails).
    conversions: BTreeMap<String, (u32, bool)>,
    /// How the next conversions go: reads `InProgress` after the PATCH, and whether
    /// they end `Failed`.
    conversion_plan: (u32, bool),
}

/// The stand-in server; stopped when dropped (and then fails the test if a
/// request broke the documented shapes).
pub struct ArmStandIn {
    stand_in: StandIn<State>,
}

impl std::fmt::Debug for ArmStandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmStandIn")
            .field("uri", &self.stand_in.uri())
            .finish()
    }
}

fn arm_error(status: u16, code: &str, message: &str) -> Answer {
    Answer::json(
        status,
        json!({ "error": { "code": code, "message": message } }),
    )
}

fn expected_api_version(path: &str) -> Option<&'static str> {
    let p = path.to_ascii_lowercase();
    if p.contains("/providers/microsoft.insights/metrics") {
        Some(crate::api::METRICS)
    } else if p.contains("/providers/microsoft.stand-in/") {
        Some("2025-01-01")
    } else if p.contains("microsoft.network/trafficmanagerprofiles") {
        Some(crate::api::TRAFFIC_MANAGER)
    } else if p.contains("microsoft.cdn/") {
        Some(crate::api::FRONT_DOOR)
    } else if p.contains("microsoft.storage/") {
        Some(crate::api::STORAGE)
    } else if p.contains("microsoft.dbforpostgresql/") {
        Some(crate::api::POSTGRES)
    } else if p.contains("microsoft.web/") {
        Some(crate::api::WEB)
    } else {
        None
    }
}

fn merge(into: &mut Value, patch: &Value) {
    match (into, patch) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

mod resources;

impl State {
    fn now() -> String {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        chrono_like(d.as_secs())
    }

    /// Registers an operation; returns the headers announcing it.
    fn operation(&mut self, kind: &str, result: Value) -> Vec<(String, String)> {
        self.next_op += 1;
        let id = self.next_op;
        let failure = self.fail_next.take();
        self.operations.insert(
            id,
            Operation {
                polls_left: 1,
                failure,
                result,
            },
        );
        let base = format!(
            "{}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Stand-In",
            self.base
        );
        let async_op = (
            "Azure-AsyncOperation".to_string(),
            format!("{base}/azureAsyncOperation/{id}?api-version=2025-01-01"),
        );
        let location = (
            "Location".to_string(),
            format!("{base}/operationResults/{id}?api-version=2025-01-01"),
        );
        let mut h = match self.style.unwrap_or(LroStyle::AsDocumented) {
            LroStyle::AsyncOperation => vec![async_op],
            LroStyle::Location => vec![location],
            LroStyle::AsDocumented => match kind {
                "storage" => vec![location],
                "cdn" | "pg-create" => vec![async_op],
                _ => vec![async_op, location],
            },
        };
        h.push(("Retry-After".to_string(), "0".to_string()));
        h
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time (no date crate needed here).
fn chrono_like(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Service for State {
    fn request_id_header(&self) -> &'static str {
        "x-ms-request-id"
    }

    fn name(&self) -> &str {
        "the ARM stand-in"
    }

    /// The bearer token (else 401 `InvalidAuthenticationToken`) and the
    /// resource type's `api-version` (else 400 `InvalidApiVersionParameter`),
    /// before any queued answer.
    fn admit(&mut self, call: &Call, violations: &mut Vec<String>) -> Option<Answer> {
        if call.header("authorization") != Some(format!("Bearer {TOKEN}").as_str()) {
            return Some(arm_error(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
            ));
        }
        match (expected_api_version(&call.path), call.query("api-version")) {
            (Some(want), Some(got)) if want == got => None,
            (want, got) => {
                violations.push(format!(
                    "{}: api-version {got:?}, expected {want:?}",
                    call.line()
                ));
                Some(arm_error(
                    400,
                    "InvalidApiVersionParameter",
                    "The api-version is invalid.",
                ))
            }
        }
    }

    fn handle(&mut self, call: &Call, violations: &mut Vec<String>) -> Answer {
        let answer = self.respond(&call.method, &call.path, &call.query, call.body.as_ref());
        violations.append(&mut self.violations);
        answer
    }
}

fn recorded(c: Call) -> Recorded {
    Recorded {
        api_version: c.query("api-version").map(str::to_string),
        query: c.query.clone(),
        method: c.method,
        path: c.path,
        body: c.body,
    }
}

impl ArmStandIn {
    /// Starts an empty stand-in on a free 127.0.0.1 port.
    pub async fn start() -> Self {
        let stand_in = StandIn::start(State {
            conversion_plan: (1, false),
            ..State::default()
        })
        .await;
        let base = stand_in.uri();
        stand_in.with_service(|st| st.base = base);
        ArmStandIn { stand_in }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        self.stand_in.with_service(f)
    }

    /// The stand-in's base URL, for `arm_endpoint`.
    pub fn uri(&self) -> String {
        self.stand_in.uri()
    }

    /// The settings every `azure.*` resource needs to use this stand-in, merged
    /// with `extra` (which wins): subscription, resource group, `arm_endpoint` and a
    /// 10 ms `poll_interval`.
    pub fn settings(&self, extra: Value) -> Value {
        let mut v = json!({
            "subscription": SUBSCRIPTION,
            "resource_group": RESOURCE_GROUP,
            "arm_endpoint": self.uri(),
            "poll_interval": "10ms",
        });
        merge(&mut v, &extra);
        v
    }

    /// Creates or replaces the resource at `path` (an ARM path).
    pub fn put(&self, path: &str, value: Value) {
        self.with(|st| st.resources.insert(path.to_string(), value));
    }

    /// The resource at `path`.
    pub fn get(&self, path: &str) -> Option<Value> {
        self.with(|st| st.resources.get(path).cloned())
    }

    /// Every resource, by path (to compare a state with an earlier one).
    pub fn snapshot(&self) -> BTreeMap<String, Value> {
        self.with(|st| st.resources.clone())
    }

    /// Sets the newest value of metric `metric` of the resource `resource_id`.
    pub fn set_metric(&self, resource_id: &str, metric: &str, value: f64) {
        let key = format!(
            "{}|{}",
            resource_id.to_ascii_lowercase(),
            metric.to_ascii_lowercase()
        );
        self.with(|st| st.metrics.insert(key, value));
    }

    /// Sets the newest value of one series of the dimensional metric `metric` of
    /// `resource_id`, the series named by its dimension values (e.g. Front Door's
    /// `OriginHealthPercentage` with `[("OriginGroup", "og"), ("Origin", host)]`).
    /// A metric with series is served by its `$filter` as Azure Monitor does.
    pub fn set_metric_series(
        &self,
        resource_id: &str,
        metric: &str,
        dimensions: &[(&str, &str)],
        value: f64,
    ) {
        let key = format!(
            "{}|{}",
            resource_id.to_ascii_lowercase(),
            metric.to_ascii_lowercase()
        );
        let dims: Vec<(String, String)> = dimensions
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.with(|st| {
            let series = st.series.entry(key).or_default();
            series.retain(|(d, _)| d != &dims);
            series.push((dims, value));
        });
    }

    /// How the following storage SKU conversions go (a PATCH of `sku.name`): the
    /// account reads `InProgress` for `reads` GETs after the PATCH (default 1),
    /// then `Succeeded`, or `Failed` when `fails`.
    pub fn set_sku_conversion(&self, reads: u32, fails: bool) {
        self.with(|st| st.conversion_plan = (reads, fails));
    }

    /// How the following long-running operations are announced.
    pub fn set_lro_style(&self, style: LroStyle) {
        self.with(|st| st.style = Some(style));
    }

    /// What Traffic Manager reports as the `endpointMonitorStatus` of the endpoint at
    /// `path` whenever it is enabled (default `Online`), e.g. `Degraded`.
    pub fn set_monitor_status(&self, path: &str, status: &str) {
        self.with(|st| {
            st.monitor.insert(path.to_string(), status.to_string());
            if let Some(ep) = st.resources.get_mut(path)
                && ep["properties"]["endpointStatus"] == "Enabled"
            {
                ep["properties"]["endpointMonitorStatus"] = json!(status);
            }
        });
    }

    /// The next long-running operation ends `Failed` with `code` and `message`,
    /// leaving the resource unchanged.
    pub fn fail_next_operation(&self, code: &str, message: &str) {
        self.with(|st| st.fail_next = Some((code.to_string(), message.to_string())));
    }

    /// Answers the next `method` request whose path ends with `path_suffix` with
    /// `status`, `body` (`null`: none) and `headers`, instead of serving it.
    pub fn queue(
        &self,
        method: &str,
        path_suffix: &str,
        status: u16,
        body: Value,
        headers: &[(&str, &str)],
    ) {
        let mut canned = Canned::new(status).matching(method, path_suffix);
        if !body.is_null() {
            canned = Canned::json(status, body).matching(method, path_suffix);
        }
        for (k, v) in headers {
            canned = canned.header(k, v);
        }
        self.stand_in.queue(canned);
    }

    /// Every request received so far, and forgets them.
    pub fn take_requests(&self) -> Vec<Recorded> {
        self.stand_in
            .take_requests()
            .into_iter()
            .map(recorded)
            .collect()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.stand_in.requests().into_iter().map(recorded).collect()
    }

    /// The violations recorded so far (bad api-version, body shape, ...).
    pub fn violations(&self) -> Vec<String> {
        self.stand_in.violations()
    }

    /// Seeds the Proseware topology of the failover playbook (see
    /// [`proseware`](super::proseware)).
    pub fn seed(&self, resources: Map<String, Value>) {
        self.with(|st| st.resources.extend(resources));
    }
}
