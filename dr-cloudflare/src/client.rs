//! The one HTTP layer: auth header, envelope decoding, error mapping, rate limit.
//!
//! Every request goes through [`CfClient::send`]. It never retries: a 429 comes back
//! as [`ErrorKind::Throttled`](dr_core::ErrorKind::Throttled) with the server's
//! `Retry-After`, and the dr-core executor decides when to try again.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use dr_core::{ErrorKind, ProviderError};
use reqwest::Method;
use serde_json::Value;

use crate::config::{ApiConfig, ApiToken};
use crate::error::{Envelope, api_error, bad_answer, parse_retry_after};

/// Requests a token may start at once before pacing begins.
pub(crate) const BURST: f64 = 100.0;
/// Sustained requests per second per token.
///
/// Cloudflare allows 1,200 requests per 5 minutes per token and locks the token
/// out for 5 minutes when that is exceeded. A bucket of [`BURST`] refilled at
/// this rate lets through at most `100 + 3 × 300 = 1,000` requests in any 5-minute
/// window, leaving room for other users of the same token (dashboards, Terraform),
/// and at most 103 in any second (under the 200 req/s per-IP limit).
pub(crate) const RATE_PER_SEC: f64 = 3.0;

/// A token bucket that hands out reservations: a caller takes a token now and
/// waits the returned time (zero while the bucket is not empty).
#[derive(Debug)]
pub(crate) struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub(crate) fn new(capacity: f64, per_sec: f64, now: Instant) -> Self {
        TokenBucket {
            capacity,
            per_sec,
            tokens: capacity,
            last: now,
        }
    }

    /// Takes one token at `now`; returns how long the caller must wait before sending.
    pub(crate) fn reserve(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.per_sec)
        }
    }
}

type Limiters = Mutex<HashMap<u64, Arc<Mutex<TokenBucket>>>>;

/// The bucket shared by every client in this process that uses `token`. Keyed by a
/// hash, so the map never holds the token itself.
fn limiter_for(token: &ApiToken) -> Arc<Mutex<TokenBucket>> {
    static LIMITERS: OnceLock<Limiters> = OnceLock::new();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    token.expose().hash(&mut h);
    let key = h.finish();
    let map = LIMITERS.get_or_init(Default::default);
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    map.entry(key)
        .or_insert_with(|| {
            Arc::new(Mutex::new(TokenBucket::new(
                BURST,
                RATE_PER_SEC,
                Instant::now(),
            )))
        })
        .clone()
}

/// A Cloudflare API v4 client for one resource.
#[derive(Clone)]
pub(crate) struct CfClient {
    http: reqwest::Client,
    base: String,
    token: ApiToken,
    limiter: Arc<Mutex<TokenBucket>>,
    provider: &'static str,
    resource: String,
}

impl fmt::Debug for CfClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CfClient")
            .field("api_base", &self.base)
            .field("token", &self.token)
            .field("resource", &self.resource)
            .finish()
    }
}

impl CfClient {
    pub(crate) fn new(
        provider: &'static str,
        resource: &str,
        api: &ApiConfig,
    ) -> Result<Self, dr_core::ConfigError> {
        let http = reqwest::Client::builder()
            .timeout(api.timeout)
            .connect_timeout(api.timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("dr-cloudflare/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| dr_core::ConfigError::new(format!("cannot build the HTTP client: {e}")))?;
        Ok(CfClient {
            http,
            base: api.api_base.trim_end_matches('/').to_string(),
            token: api.token.clone(),
            limiter: limiter_for(&api.token),
            provider,
            resource: resource.to_string(),
        })
    }

    /// GET `path`; returns the envelope's `result`.
    pub(crate) async fn get(&self, path: &str) -> Result<Value, ProviderError> {
        self.send(Method::GET, path, None).await
    }

    /// PATCH `path` with `body`; returns the envelope's `result`.
    pub(crate) async fn patch(&self, path: &str, body: &Value) -> Result<Value, ProviderError> {
        self.send(Method::PATCH, path, Some(body)).await
    }

    fn tag(&self, e: ProviderError) -> ProviderError {
        e.with_provider(self.provider)
            .with_resource(self.resource.clone())
    }

    async fn pace(&self) {
        let wait = {
            let mut bucket = self.limiter.lock().unwrap_or_else(|p| p.into_inner());
            bucket.reserve(Instant::now())
        };
        if !wait.is_zero() {
            tracing::debug!(?wait, "cloudflare: client-side rate limit, pacing request");
            tokio::time::sleep(wait).await;
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ProviderError> {
        self.pace().await;
        let url = format!("{}{}", self.base, path);
        let mut req = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(self.token.expose());
        if let Some(b) = body {
            req = req.json(b);
        }
        let m = method.as_str();
        let resp = req.send().await.map_err(|e| {
            let kind = if e.is_timeout() {
                ErrorKind::Timeout
            } else {
                ErrorKind::Transient
            };
            self.tag(ProviderError::new(kind, format!("{m} {path}: {e}")).with_source(e))
        })?;
        let status = resp.status().as_u16();
        let ray = resp
            .headers()
            .get("cf-ray")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let retry_after = parse_retry_after(
            resp.headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
        );
        let text = resp.text().await.map_err(|e| {
            let kind = if e.is_timeout() {
                ErrorKind::Timeout
            } else {
                ErrorKind::Transient
            };
            self.tag(ProviderError::new(
                kind,
                format!("{m} {path}: reading the body: {e}"),
            ))
        })?;
        let envelope: Option<Envelope> = serde_json::from_str(&text).ok();
        let ok_status = (200..300).contains(&status);
        match envelope {
            Some(env) if ok_status && env.success == Some(true) => Ok(env.result),
            Some(env) if ok_status => {
                let mut e = api_error(m, path, 400, None, Some(&env), &text, ray.clone());
                if env.errors.is_empty() {
                    e = bad_answer(m, path, "`success` is not true");
                    if let Some(r) = ray {
                        e = e.with_request_id(r);
                    }
                }
                Err(self.tag(e))
            }
            None if ok_status => {
                let mut e = bad_answer(m, path, "the body is not a Cloudflare API envelope");
                if let Some(r) = ray {
                    e = e.with_request_id(r);
                }
                Err(self.tag(e))
            }
            env => Err(self.tag(api_error(
                m,
                path,
                status,
                retry_after,
                env.as_ref(),
                &text,
                ray,
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_requests_are_paced() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(BURST, RATE_PER_SEC, t0);
        for _ in 0..100 {
            assert_eq!(b.reserve(t0), Duration::ZERO);
        }
        let wait = b.reserve(t0);
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(334),
            "{wait:?}"
        );
    }

    #[test]
    fn a_greedy_caller_stays_under_cloudflares_limit_in_every_window() {
        // A caller that sends as soon as the bucket lets it, for 20 simulated minutes.
        let t0 = Instant::now();
        let mut b = TokenBucket::new(BURST, RATE_PER_SEC, t0);
        let mut now = t0;
        let mut sent = Vec::new();
        while now < t0 + Duration::from_secs(1200) {
            now += b.reserve(now);
            sent.push(now);
        }
        let window = Duration::from_secs(300);
        let mut start = 0;
        let mut max_in_window = 0;
        for (i, t) in sent.iter().enumerate() {
            while *t - sent[start] >= window {
                start += 1;
            }
            max_in_window = max_in_window.max(i + 1 - start);
        }
        assert!(
            max_in_window <= 1000,
            "{max_in_window} requests in one 5-minute window"
        );
        assert!(
            max_in_window >= 990,
            "the limiter is far stricter than intended: {max_in_window}"
        );
    }

    #[test]
    fn clients_with_the_same_token_share_one_bucket() {
        let a = limiter_for(&ApiToken::new("shared-token-for-this-test"));
        let b = limiter_for(&ApiToken::new("shared-token-for-this-test"));
        let c = limiter_for(&ApiToken::new("another-token-for-this-test"));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
    }
}
