//! [`HttpClient`]: the shared pool, auth, pacing and error mapping around one request.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName};
use reqwest::{IntoUrl, Method, RequestBuilder, Response, StatusCode};

use super::pool::{PoolConfig, cached};
use super::status::{
    DEFAULT_REQUEST_ID_HEADERS, classify, error_detail, error_text, transport_kind,
};
use super::{Auth, RateLimiter};
use crate::{ConfigError, ErrorKind, ProviderError};

/// How long one call may take when the client sets no timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// At most this much of an error answer's body is read.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A client for one provider (and resource) of a REST API: the process's shared
/// connection pool, a per-call timeout, optional [`Auth`] and [`RateLimiter`],
/// and errors that name the provider, the resource, the call and the remote
/// request id, with the kind from the [status table](super#status-to-errorkind).
///
/// Cheap to clone. It never retries: the executor does, honouring `retry_after`.
///
/// ```no_run
/// use dr_core::http::{BearerToken, HttpClient, Method};
///
/// # async fn f() -> Result<(), dr_core::ProviderError> {
/// let client = HttpClient::builder("azure.traffic_manager")
///     .resource("tm_east")
///     .auth(BearerToken::new("eyJ..."))
///     .request_id_headers(&["x-ms-request-id"])
///     .build()
///     .expect("valid settings");
/// let req = client
///     .request(Method::PATCH, "https://management.azure.com/subscriptions/s/...?api-version=2022-04-01")
///     .json(&serde_json::json!({ "properties": { "endpointStatus": "Disabled" } }));
/// // A non-2xx answer is an error; `{"error":{"code","message"}}` is in its message.
/// let answer: serde_json::Value = client.send("PATCH endpoint", req).await?.json().await
///     .map_err(|e| client.transport_error("PATCH endpoint: reading the body", e))?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpClient {
    http: Arc<reqwest::Client>,
    timeout: Option<Duration>,
    auth: Option<Arc<dyn Auth>>,
    limiter: Option<RateLimiter>,
    request_ids: Arc<[HeaderName]>,
    provider: Arc<str>,
    resource: Option<Arc<str>>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("provider", &self.provider)
            .field("resource", &self.resource)
            .field("timeout", &self.timeout)
            .field("auth", &self.auth)
            .field("limiter", &self.limiter)
            .field("request_id_headers", &self.request_ids)
            .finish()
    }
}

/// Builds an [`HttpClient`]; see [`HttpClient::builder`].
#[derive(Debug)]
#[must_use]
pub struct HttpClientBuilder {
    provider: String,
    resource: Option<String>,
    timeout: Option<Duration>,
    pool: PoolConfig,
    auth: Option<Arc<dyn Auth>>,
    limiter: Option<RateLimiter>,
    request_ids: Vec<String>,
}

impl HttpClientBuilder {
    /// Names the resource (the plan's name for it) in every error.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// The longest one call (connect, send, read the answer) may take; default
    /// [`DEFAULT_TIMEOUT`]. `None`: no limit (the caller bounds the call).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Which shared connection pool to use; default [`PoolConfig::pooled`].
    pub fn pool(mut self, pool: PoolConfig) -> Self {
        self.pool = pool;
        self
    }

    /// Credentials added to every request.
    pub fn auth(mut self, auth: impl Auth + 'static) -> Self {
        self.auth = Some(Arc::new(auth));
        self
    }

    /// Credentials added to every request, already shared.
    pub fn shared_auth(mut self, auth: Arc<dyn Auth>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Paces every request through `limiter` (usually
    /// [`RateLimiter::per_credential`]).
    pub fn rate_limiter(mut self, limiter: RateLimiter) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// The headers that carry the remote request id, in order of preference;
    /// default [`DEFAULT_REQUEST_ID_HEADERS`].
    pub fn request_id_headers(mut self, names: &[&str]) -> Self {
        self.request_ids = names.iter().map(|n| n.to_string()).collect();
        self
    }

    /// The client; fails when a request-id header name is not a header name or
    /// the shared `reqwest::Client` cannot be built (no TLS roots).
    pub fn build(self) -> Result<HttpClient, ConfigError> {
        let request_ids = self
            .request_ids
            .iter()
            .map(|n| {
                HeaderName::from_bytes(n.as_bytes())
                    .map_err(|_| ConfigError::new(format!("`{n}` is not an HTTP header name")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(HttpClient {
            http: cached(self.pool)?,
            timeout: self.timeout,
            auth: self.auth,
            limiter: self.limiter,
            request_ids: request_ids.into(),
            provider: self.provider.into(),
            resource: self.resource.map(Into::into),
        })
    }
}

impl HttpClient {
    /// A builder for a client of `provider` (`"cloudflare.load_balancer"`), with the
    /// defaults: pooled connections, [`DEFAULT_TIMEOUT`], no auth, no rate limit,
    /// [`DEFAULT_REQUEST_ID_HEADERS`].
    pub fn builder(provider: impl Into<String>) -> HttpClientBuilder {
        HttpClientBuilder {
            provider: provider.into(),
            resource: None,
            timeout: Some(DEFAULT_TIMEOUT),
            pool: PoolConfig::pooled(),
            auth: None,
            limiter: None,
            request_ids: DEFAULT_REQUEST_ID_HEADERS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }

    /// A request on the shared pool with this client's timeout; send it with
    /// [`send`](Self::send) or [`send_raw`](Self::send_raw), which add the credentials.
    pub fn request(&self, method: Method, url: impl IntoUrl) -> RequestBuilder {
        let req = self.http.request(method, url);
        match self.timeout {
            Some(t) => req.timeout(t),
            None => req,
        }
    }

    /// Sends `req` (paced, with credentials) and returns any HTTP answer; only a
    /// request that got no answer is an error (see the [table](super#status-to-errorkind)).
    /// `what` names the call in messages (`"PATCH /zones/z/load_balancers/l"`,
    /// `"webhook"`); the URL never appears in them.
    pub async fn send_raw(
        &self,
        what: &str,
        req: RequestBuilder,
    ) -> Result<Response, ProviderError> {
        if let Some(limiter) = &self.limiter {
            limiter.acquire().await;
        }
        let req = match &self.auth {
            Some(auth) => auth.apply(req).await.map_err(|e| self.tag(e))?,
            None => req,
        };
        req.send().await.map_err(|e| self.transport_error(what, e))
    }

    /// [`send_raw`](Self::send_raw), and an answer that is not a success (2xx) is an
    /// error whose message quotes the body's error text ([`error_detail`](super::error_detail)).
    pub async fn send(&self, what: &str, req: RequestBuilder) -> Result<Response, ProviderError> {
        let resp = self.send_raw(what, req).await?;
        self.check(what, resp).await
    }

    /// `resp` when it is a success (2xx), else its error, as [`send`](Self::send) makes it.
    pub async fn check(&self, what: &str, mut resp: Response) -> Result<Response, ProviderError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let headers = std::mem::take(resp.headers_mut());
        if status.is_redirection() {
            // Not the `Location`: it may carry the secret the URL did.
            return Err(self.status_error(what, status, &headers, "a redirect, not followed"));
        }
        let body = read_some(resp).await;
        Err(self.status_error(what, status, &headers, &error_detail(&body)))
    }

    /// The error for an HTTP answer with a non-success `status`: the kind from the
    /// [table](super#status-to-errorkind) (with `Retry-After`), the message
    /// `"{what}: HTTP {status}: {detail}"`, the request id, provider and resource.
    /// A success status gives a [`Fatal`](ErrorKind::Fatal) error (a caller that
    /// found the answer wrong despite it).
    pub fn status_error(
        &self,
        what: &str,
        status: StatusCode,
        headers: &HeaderMap,
        detail: &str,
    ) -> ProviderError {
        let kind = classify(status, headers).unwrap_or(ErrorKind::Fatal);
        let mut e = ProviderError::new(kind, format!("{what}: HTTP {}: {detail}", status.as_u16()));
        if let Some(id) = self.request_id(headers) {
            e = e.with_request_id(id);
        }
        self.tag(e)
    }

    /// The error for a request that got no answer (or whose body could not be
    /// read): the kind from [`transport_kind`](super::transport_kind), the message
    /// `"{what}: {cause}"` without the URL; the reqwest error, also without its URL,
    /// is kept as the source.
    pub fn transport_error(&self, what: &str, e: reqwest::Error) -> ProviderError {
        let e = e.without_url();
        let kind = transport_kind(&e);
        let message = format!("{what}: {}", error_text(&e));
        self.tag(ProviderError::new(kind, message).with_source(e))
    }

    /// The remote request id in `headers`, from this client's header list.
    pub fn request_id(&self, headers: &HeaderMap) -> Option<String> {
        super::request_id(headers, &self.request_ids)
    }

    /// Adds the provider and resource to `e` (when it has none).
    pub fn tag(&self, mut e: ProviderError) -> ProviderError {
        if e.provider().is_none() {
            e = e.with_provider(self.provider.as_ref());
        }
        if let (Some(r), None) = (&self.resource, e.resource()) {
            e = e.with_resource(r.as_ref());
        }
        e
    }

    /// Whether `self` and `other` send over one connection pool (true for every
    /// two clients built with the same [`PoolConfig`] in one process).
    pub fn shares_pool_with(&self, other: &HttpClient) -> bool {
        Arc::ptr_eq(&self.http, &other.http)
    }

    /// The rate limiter, if the client has one.
    pub fn rate_limiter(&self) -> Option<&RateLimiter> {
        self.limiter.as_ref()
    }
}

/// Up to [`MAX_ERROR_BODY`] bytes of the body, lossily decoded; a body that
/// cannot be read is empty (the status already says what went wrong).
async fn read_some(mut resp: Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_ERROR_BODY {
            body.truncate(MAX_ERROR_BODY);
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}
