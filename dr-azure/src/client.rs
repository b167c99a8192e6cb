//! One Azure Resource Manager client: dr-core's HTTP layer plus ARM's conventions,
//! compiled with any ARM service (every feature but `blob`).
//!
//! The connection pool, the bearer token (from a [`TokenSource`]), the status table
//! (429 as `throttled` with `Retry-After`), `x-ms-request-id` as the request id and
//! the `{"error":{"code","message"}}` envelope in messages come from
//! [`dr_core::http`]. This file adds the resource paths and `api-version` per
//! resource type; `lro.rs` the long-running operations (Traffic Manager, Front
//! Door, storage account, PostgreSQL) and `metrics.rs` the Azure Monitor reader
//! (Front Door, PostgreSQL). Nothing retries: the dr-core executor does.

#[cfg(any(
    feature = "traffic_manager",
    feature = "front_door",
    feature = "storage_account",
    feature = "postgres_flexible"
))]
mod lro;
#[cfg(any(feature = "front_door", feature = "postgres_flexible"))]
mod metrics;

use std::sync::Arc;

use dr_core::http::{HttpClient, Method};
use dr_core::{ConfigError, ErrorKind, ProviderError};
use serde_json::Value;

use crate::config::ArmConfig;
use crate::credential::{ArmAuth, TokenSource};
use crate::error::{answer_error, bad_answer};

/// `api-version`s, one per resource type (current stable ones), each with the
/// feature of the service that calls it.
pub mod api {
    /// `Microsoft.Network/trafficmanagerprofiles`.
    #[cfg(feature = "traffic_manager")]
    #[cfg_attr(docsrs, doc(cfg(feature = "traffic_manager")))]
    pub const TRAFFIC_MANAGER: &str = "2022-04-01";
    /// `Microsoft.Cdn/profiles` (Front Door Standard/Premium).
    #[cfg(feature = "front_door")]
    #[cfg_attr(docsrs, doc(cfg(feature = "front_door")))]
    pub const FRONT_DOOR: &str = "2025-06-01";
    /// `Microsoft.Storage/storageAccounts`.
    #[cfg(feature = "storage_account")]
    #[cfg_attr(docsrs, doc(cfg(feature = "storage_account")))]
    pub const STORAGE: &str = "2025-08-01";
    /// `Microsoft.DBforPostgreSQL/flexibleServers`.
    #[cfg(feature = "postgres_flexible")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres_flexible")))]
    pub const POSTGRES: &str = "2025-08-01";
    /// `Microsoft.Web/sites`.
    #[cfg(feature = "web_app")]
    #[cfg_attr(docsrs, doc(cfg(feature = "web_app")))]
    pub const WEB: &str = "2024-04-01";
    /// `Microsoft.Insights/metrics` (Azure Monitor metrics: the Front Door probe,
    /// the PostgreSQL lag).
    #[cfg(any(feature = "front_door", feature = "postgres_flexible"))]
    #[cfg_attr(
        docsrs,
        doc(cfg(any(feature = "front_door", feature = "postgres_flexible")))
    )]
    pub const METRICS: &str = "2023-10-01";
}

/// An ARM client for one resource of a plan.
#[derive(Debug, Clone)]
pub(crate) struct Arm {
    http: HttpClient,
    cfg: ArmConfig,
}

impl Arm {
    pub(crate) fn new(
        provider: &str,
        resource: &str,
        cfg: ArmConfig,
        token: Arc<dyn TokenSource>,
    ) -> Result<Self, ConfigError> {
        let http = HttpClient::builder(provider)
            .resource(resource)
            .timeout(Some(cfg.timeout))
            .shared_auth(Arc::new(ArmAuth(token)))
            .request_id_headers(&["x-ms-request-id", "x-ms-correlation-request-id"])
            .build()?;
        Ok(Arm { http, cfg })
    }

    /// `/subscriptions/{sub}/resourceGroups/{rg}/providers/{rest}`.
    pub(crate) fn path(&self, rest: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/{rest}",
            self.cfg.subscription, self.cfg.resource_group
        )
    }

    /// The resource group the paths are in.
    #[cfg(feature = "web_app")]
    pub(crate) fn resource_group(&self) -> &str {
        &self.cfg.resource_group
    }

    fn url(&self, path: &str, api_version: &str, query: &[(&str, &str)]) -> String {
        let mut url = format!("{}{path}?api-version={api_version}", self.cfg.arm_endpoint);
        for (k, v) in query {
            url.push('&');
            url.push_str(k);
            url.push('=');
            url.push_str(&encode(v));
        }
        url
    }

    /// GET `path`; the body.
    #[cfg(any(
        feature = "traffic_manager",
        feature = "front_door",
        feature = "storage_account",
        feature = "postgres_flexible",
        feature = "web_app"
    ))]
    pub(crate) async fn get(
        &self,
        path: &str,
        api_version: &str,
        query: &[(&str, &str)],
    ) -> Result<Value, ProviderError> {
        let what = format!("GET {path}");
        let req = self
            .http
            .request(Method::GET, self.url(path, api_version, query));
        let resp = self.http.send(&what, req).await?;
        self.json(&what, resp).await
    }

    /// Every item of the ARM list at `path`: `value` of each page, following
    /// `nextLink` (only on the ARM endpoint's host: the token goes nowhere else).
    #[cfg(feature = "front_door")]
    pub(crate) async fn list(
        &self,
        path: &str,
        api_version: &str,
    ) -> Result<Vec<Value>, ProviderError> {
        let what = format!("GET {path}");
        let mut url = self.url(path, api_version, &[]);
        let mut items = Vec::new();
        // A service that keeps answering nextLink is a bad answer, not a loop.
        for _ in 0..1000 {
            if !self.same_endpoint(&url) {
                return Err(self.http.tag(bad_answer(
                    &what,
                    "the list's nextLink is not on the ARM endpoint",
                )));
            }
            let req = self.http.request(Method::GET, url.clone());
            let resp = self.http.send(&what, req).await?;
            let page = self.json(&what, resp).await?;
            items.extend(
                page.get("value")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
            match page.get("nextLink").and_then(Value::as_str) {
                Some(next) if !next.is_empty() => url = next.to_string(),
                _ => return Ok(items),
            }
        }
        Err(self.http.tag(bad_answer(&what, "more than 1000 pages")))
    }

    /// Whether `url` is on the ARM endpoint's scheme, host and port.
    #[cfg(any(
        feature = "traffic_manager",
        feature = "front_door",
        feature = "storage_account",
        feature = "postgres_flexible"
    ))]
    pub(crate) fn same_endpoint(&self, url: &str) -> bool {
        match (
            url::Url::parse(url),
            url::Url::parse(&self.cfg.arm_endpoint),
        ) {
            (Ok(a), Ok(b)) => {
                a.scheme() == b.scheme()
                    && a.host_str() == b.host_str()
                    && a.port_or_known_default() == b.port_or_known_default()
            }
            _ => false,
        }
    }

    /// GET `path`; `None` when ARM answers 404.
    #[cfg(any(feature = "postgres_flexible", feature = "web_app"))]
    pub(crate) async fn get_opt(
        &self,
        path: &str,
        api_version: &str,
    ) -> Result<Option<Value>, ProviderError> {
        match self.get(path, api_version, &[]).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == &ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A call that is not long-running (`POST .../list`, a synchronous `PUT`): the body.
    #[cfg(feature = "web_app")]
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        api_version: &str,
        body: Option<&Value>,
    ) -> Result<Value, ProviderError> {
        let what = format!("{} {path}", method.as_str());
        let mut req = self.http.request(method, self.url(path, api_version, &[]));
        req = match body {
            Some(b) => req.json(b),
            None => req.header("content-length", "0"),
        };
        let resp = self.http.send(&what, req).await?;
        self.json(&what, resp).await
    }

    /// The body as JSON; an empty body is `null`.
    async fn json(
        &self,
        what: &str,
        resp: dr_core::http::Response,
    ) -> Result<Value, ProviderError> {
        let headers = resp.headers().clone();
        let text = resp.text().await.map_err(|e| {
            self.http
                .transport_error(&format!("{what}: reading the body"), e)
        })?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| {
            let mut err = bad_answer(what, format!("the body is not JSON: {e}"));
            if let Some(id) = self.http.request_id(&headers) {
                err = err.with_request_id(id);
            }
            self.http.tag(err)
        })
    }

    /// An error about an ARM answer, tagged with the provider and the resource.
    pub(crate) fn answer(&self, kind: ErrorKind, message: impl Into<String>) -> ProviderError {
        self.http.tag(answer_error(kind, message))
    }
}

/// Percent-encodes a query value.
fn encode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// `value[path]` as a string, e.g. `str_at(&v, &["properties", "primaryLocation"])`.
#[cfg(any(
    feature = "traffic_manager",
    feature = "front_door",
    feature = "storage_account",
    feature = "postgres_flexible"
))]
pub(crate) fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, k| v.get(*k))
        .and_then(Value::as_str)
}
