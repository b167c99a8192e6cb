//! One Azure Resource Manager client: dr-core's HTTP layer plus ARM's conventions.
//!
//! The connection pool, the bearer token (from a [`TokenSource`]), the status table
//! (429 as `throttled` with `Retry-After`), `x-ms-request-id` as the request id and
//! the `{"error":{"code","message"}}` envelope in messages come from
//! [`dr_core::http`]. This file adds the resource paths, `api-version` per resource
//! type and long-running operations: a 201/202 with `Azure-AsyncOperation` is
//! polled until its `status` is `Succeeded` (`Failed`/`Canceled` is an error with
//! ARM's code and message), else one with `Location` until it answers 200/204,
//! honouring `Retry-After`, until `operation_timeout`. Poll URLs must be on the
//! `arm_endpoint` host: the token is never sent anywhere else. Nothing retries: the
//! dr-core executor does.

use std::sync::Arc;
use std::time::Duration;

use dr_core::http::{HttpClient, Method, StatusCode, header::HeaderMap, retry_after};
use dr_core::poll::{self, CancellationToken, Poll};
use dr_core::{ConfigError, ErrorKind, ProviderError};
use serde_json::Value;

use crate::config::ArmConfig;
use crate::credential::{ArmAuth, TokenSource};
use crate::error::{answer_error, bad_answer, operation_failed};

/// `api-version`s, one per resource type (current stable ones).
pub mod api {
    /// `Microsoft.Network/trafficmanagerprofiles`.
    pub const TRAFFIC_MANAGER: &str = "2022-04-01";
    /// `Microsoft.Cdn/profiles` (Front Door Standard/Premium).
    pub const FRONT_DOOR: &str = "2025-06-01";
    /// `Microsoft.Storage/storageAccounts`.
    pub const STORAGE: &str = "2025-08-01";
    /// `Microsoft.DBforPostgreSQL/flexibleServers`.
    pub const POSTGRES: &str = "2025-08-01";
    /// `Microsoft.Web/sites`.
    pub const WEB: &str = "2024-04-01";
    /// `Microsoft.Insights/metrics` (Azure Monitor metrics).
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

    /// GET `path`; `None` when ARM answers 404.
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

    /// A call that may be a long-running operation: sends it and, on 201/202 with
    /// `Azure-AsyncOperation` or `Location`, polls it to the end. The final body is
    /// the `Location` answer's, else the first answer's (callers read the resource
    /// back anyway).
    pub(crate) async fn lro(
        &self,
        method: Method,
        path: &str,
        api_version: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, ProviderError> {
        let what = format!("{} {path}", method.as_str());
        let mut req = self
            .http
            .request(method, self.url(path, api_version, query));
        req = match body {
            Some(b) => req.json(b),
            None => req.header("content-length", "0"),
        };
        let resp = self.http.send(&what, req).await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let first = self.json(&what, resp).await?;
        if !matches!(status, StatusCode::CREATED | StatusCode::ACCEPTED) {
            return Ok(first);
        }
        let async_op = header(&headers, "azure-asyncoperation");
        let location = header(&headers, "location");
        let first_wait = retry_after(&headers);
        match (async_op, location) {
            (Some(op), location) => {
                self.poll_async_operation(&what, &op, first_wait).await?;
                match location {
                    Some(loc) if status == StatusCode::ACCEPTED => {
                        self.poll_location(&what, &loc, None).await
                    }
                    _ => Ok(first),
                }
            }
            (None, Some(loc)) => self.poll_location(&what, &loc, first_wait).await,
            // 201/202 without a way to follow it: the caller reads the state back.
            (None, None) => Ok(first),
        }
    }

    fn deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + self.cfg.operation_timeout
    }

    /// Refuses a poll URL that is not on the ARM endpoint's scheme, host and port.
    fn check_poll_url(&self, what: &str, url: &str) -> Result<(), ProviderError> {
        let same = match (
            url::Url::parse(url),
            url::Url::parse(&self.cfg.arm_endpoint),
        ) {
            (Ok(a), Ok(b)) => {
                a.scheme() == b.scheme()
                    && a.host_str() == b.host_str()
                    && a.port_or_known_default() == b.port_or_known_default()
            }
            _ => false,
        };
        if same {
            Ok(())
        } else {
            Err(self.http.tag(bad_answer(
                what,
                "the long-running operation's status URL is not on the ARM endpoint",
            )))
        }
    }

    async fn poll_async_operation(
        &self,
        what: &str,
        url: &str,
        first_wait: Option<Duration>,
    ) -> Result<(), ProviderError> {
        self.check_poll_url(what, url)?;
        let looked = std::sync::atomic::AtomicBool::new(false);
        let waited = first_wait.unwrap_or_default();
        let name = format!("{what} (Azure-AsyncOperation)");
        poll::until(
            &name,
            self.deadline(),
            self.cfg.poll_interval,
            &CancellationToken::new(),
            || {
                let first = !looked.swap(true, std::sync::atomic::Ordering::SeqCst);
                async move {
                    if first && !waited.is_zero() {
                        return Ok(Poll::RetryAfter(waited));
                    }
                    let poll_what = format!("{what}: polling the operation");
                    let req = self.http.request(Method::GET, url);
                    let resp = self.http.send(&poll_what, req).await?;
                    let headers = resp.headers().clone();
                    let body = self.json(&poll_what, resp).await?;
                    let status = body.get("status").and_then(Value::as_str).unwrap_or("");
                    match status.to_ascii_lowercase().as_str() {
                        "succeeded" => Ok(Poll::Ready(())),
                        "failed" | "canceled" | "cancelled" => {
                            let err = body.get("error");
                            let text = |k: &str| err.and_then(|e| e.get(k)).and_then(Value::as_str);
                            let mut e =
                                operation_failed(what, status, text("code"), text("message"));
                            if let Some(id) = self.http.request_id(&headers) {
                                e = e.with_request_id(id);
                            }
                            Err(self.http.tag(e))
                        }
                        "" => Err(self.http.tag(bad_answer(&poll_what, "no `status`"))),
                        _ => Ok(match retry_after(&headers) {
                            Some(after) => Poll::RetryAfter(after),
                            None => Poll::Pending,
                        }),
                    }
                }
            },
        )
        .await
        .map_err(ProviderError::from)
    }

    async fn poll_location(
        &self,
        what: &str,
        url: &str,
        first_wait: Option<Duration>,
    ) -> Result<Value, ProviderError> {
        self.check_poll_url(what, url)?;
        let looked = std::sync::atomic::AtomicBool::new(false);
        let waited = first_wait.unwrap_or_default();
        let name = format!("{what} (Location)");
        poll::until(
            &name,
            self.deadline(),
            self.cfg.poll_interval,
            &CancellationToken::new(),
            || {
                let first = !looked.swap(true, std::sync::atomic::Ordering::SeqCst);
                async move {
                    if first && !waited.is_zero() {
                        return Ok(Poll::RetryAfter(waited));
                    }
                    let poll_what = format!("{what}: polling the operation");
                    let req = self.http.request(Method::GET, url);
                    let resp = self.http.send(&poll_what, req).await?;
                    if resp.status() == StatusCode::ACCEPTED {
                        return Ok(match retry_after(resp.headers()) {
                            Some(after) => Poll::RetryAfter(after),
                            None => Poll::Pending,
                        });
                    }
                    Ok(Poll::Ready(self.json(&poll_what, resp).await?))
                }
            },
        )
        .await
        .map_err(ProviderError::from)
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

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .filter(|s| !s.is_empty())
}

/// Percent-encodes a query value.
fn encode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// `value[path]` as a string, e.g. `str_at(&v, &["properties", "primaryLocation"])`.
pub(crate) fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, k| v.get(*k))
        .and_then(Value::as_str)
}
