//! `provider = "http"`: a GET that must answer with the expected status (and body).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::parse_timeout;
use crate::http::{self, DEFAULT_REQUEST_ID_HEADERS, PoolConfig};
use crate::{ConfigError, Health, HealthProbe, ProviderError, Settings};

/// How much of a body is searched for `body_contains`.
const MAX_BODY: usize = 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpConfig {
    url: String,
    #[serde(default)]
    expect_status: Option<u16>,
    #[serde(default)]
    body_contains: Option<String>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// Healthy when a GET of `url` answers `expect_status` (default 200) within the
/// timeout (default 5 s) and, when `body_contains` is set, the body contains it.
///
/// Each probe opens a fresh connection (no pooled connection hides a dead
/// listener): it uses the process's shared
/// [`PoolConfig::fresh_connections`](crate::http::PoolConfig::fresh_connections)
/// client from [`crate::http`], with its `User-Agent`. It follows up to
/// [`MAX_REDIRECTS`](crate::http::MAX_REDIRECTS) redirects within the URL's
/// origin (scheme, host, port), never one to another origin (which would get
/// the probe's headers), and sends no `Referer`; a redirect not followed is
/// the answer, unhealthy unless it is `expect_status`. An unhealthy answer's detail
/// names the remote request id when the answer carries one of
/// [`DEFAULT_REQUEST_ID_HEADERS`](crate::http::DEFAULT_REQUEST_ID_HEADERS).
/// Header values are sent but never printed: `Debug` shows `******`, and so does
/// it for a password in the URL; transport errors never repeat the URL.
///
/// ```
/// use std::time::Duration;
/// use dr_core::builtin::HttpProbe;
///
/// let probe = HttpProbe::new("http://127.0.0.1:8080/healthz")?
///     .with_expect_status(204)
///     .with_body_contains("ok")
///     .with_timeout(Duration::from_secs(2))
///     .with_header("Authorization", "Bearer s3cret")?;
/// assert!(!format!("{probe:?}").contains("s3cret"));
/// # Ok::<(), dr_core::ConfigError>(())
/// ```
pub struct HttpProbe {
    url: reqwest::Url,
    expect_status: u16,
    body_contains: Option<String>,
    timeout: Duration,
    headers: HeaderMap,
    client: reqwest::Client,
}

impl HttpProbe {
    /// A probe of `url` expecting 200 within 5 s; `url` must be `http` or `https`.
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        let url = reqwest::Url::parse(url)
            .map_err(|e| ConfigError::key("url", format!("not a valid URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError::key(
                "url",
                format!("scheme must be http or https, not `{}`", url.scheme()),
            ));
        }
        let client = http::shared_client(PoolConfig::fresh_connections())?;
        Ok(HttpProbe {
            url,
            expect_status: 200,
            body_contains: None,
            timeout: super::DEFAULT_TIMEOUT,
            headers: HeaderMap::new(),
            client,
        })
    }

    /// Builds the probe from a plan resource's settings (`url`, `expect_status`,
    /// `body_contains`, `timeout`, `headers`).
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let cfg: HttpConfig = settings.deserialize()?;
        let mut probe = HttpProbe::new(&cfg.url)?;
        if let Some(status) = cfg.expect_status {
            if !(100..=599).contains(&status) {
                return Err(ConfigError::key(
                    "expect_status",
                    format!("{status} is not an HTTP status (100-599)"),
                ));
            }
            probe.expect_status = status;
        }
        probe.body_contains = cfg.body_contains;
        probe.timeout = parse_timeout(cfg.timeout.as_deref())?;
        for (name, value) in &cfg.headers {
            probe = probe
                .with_header(name, value)
                .map_err(|e| ConfigError::key(format!("headers.{name}"), e.message))?;
        }
        Ok(probe)
    }

    /// Expects `status` instead of 200.
    pub fn with_expect_status(mut self, status: u16) -> Self {
        self.expect_status = status;
        self
    }

    /// Also requires the body to contain `text`.
    pub fn with_body_contains(mut self, text: impl Into<String>) -> Self {
        self.body_contains = Some(text.into());
        self
    }

    /// Gives up (unhealthy) after `timeout` instead of 5 s.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends the header `name: value` with every probe; the value is treated as a secret.
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, ConfigError> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ConfigError::key("headers", format!("`{name}` is not a header name")))?;
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            ConfigError::key(
                format!("headers.{name}"),
                "the value is not a valid header value",
            )
        })?;
        value.set_sensitive(true);
        self.headers.insert(name, value);
        Ok(self)
    }

    /// The probe's timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The URL for messages, with any password replaced by `******`.
    fn shown_url(&self) -> String {
        let mut url = self.url.clone();
        if url.password().is_some() {
            let _ = url.set_password(Some("******"));
        }
        url.to_string()
    }

    async fn check(&self, started: Instant) -> Health {
        let url = self.shown_url();
        let response = match self
            .client
            .get(self.url.clone())
            .headers(self.headers.clone())
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return Health::unhealthy(format!("GET {url}: {}", http::error_text(&e))),
        };
        let status = response.status().as_u16();
        let request_id = http::request_id(response.headers(), DEFAULT_REQUEST_ID_HEADERS)
            .map(|id| format!(" [request id {id}]"))
            .unwrap_or_default();
        if status != self.expect_status {
            // The `Location` is not shown: it may carry what the URL did.
            let why = if response.status().is_redirection() {
                format!(
                    "; a redirect to another origin, or beyond {}, is not followed",
                    http::MAX_REDIRECTS
                )
            } else {
                String::new()
            };
            return measured(
                Health::unhealthy(format!(
                    "GET {url}: HTTP {status} (expected {}{why}){request_id}",
                    self.expect_status
                )),
                started,
            );
        }
        let Some(needle) = &self.body_contains else {
            return Health::healthy(started.elapsed());
        };
        match read_until(response, needle).await {
            Ok(true) => Health::healthy(started.elapsed()),
            Ok(false) => measured(
                Health::unhealthy(format!(
                    "GET {url}: HTTP {status}, but the body does not contain `{needle}`{request_id}"
                )),
                started,
            ),
            Err(e) => measured(
                Health::unhealthy(format!(
                    "GET {url}: reading the body failed: {}{request_id}",
                    http::error_text(&e)
                )),
                started,
            ),
        }
    }
}

fn measured(mut health: Health, started: Instant) -> Health {
    health.latency = Some(started.elapsed());
    health
}

/// Reads the body (at most [`MAX_BODY`] bytes) until it contains `needle`.
async fn read_until(mut response: reqwest::Response, needle: &str) -> reqwest::Result<bool> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
        if contains(&body, needle.as_bytes()) {
            return Ok(true);
        }
        if body.len() >= MAX_BODY {
            break;
        }
    }
    Ok(contains(&body, needle.as_bytes()))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[async_trait]
impl HealthProbe for HttpProbe {
    async fn probe(&self) -> Result<Health, ProviderError> {
        let started = Instant::now();
        match tokio::time::timeout(self.timeout, self.check(started)).await {
            Ok(health) => Ok(health),
            Err(_) => Ok(Health::unhealthy(format!(
                "GET {}: no answer within {}",
                self.shown_url(),
                crate::format_duration(self.timeout)
            ))),
        }
    }
}

impl fmt::Debug for HttpProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: BTreeMap<&str, &str> = self
            .headers
            .keys()
            .map(|k| (k.as_str(), "******"))
            .collect();
        f.debug_struct("HttpProbe")
            .field("url", &self.shown_url())
            .field("expect_status", &self.expect_status)
            .field("body_contains", &self.body_contains)
            .field("timeout", &self.timeout)
            .field("headers", &headers)
            .finish()
    }
}
