//! The Cloudflare API v4 client: dr-core's HTTP layer plus Cloudflare's envelope.
//!
//! The connection pool, the bearer token, the status mapping (429 as
//! [`ErrorKind::Throttled`](dr_core::ErrorKind::Throttled) with the server's
//! `Retry-After`), the `cf-ray` request id and the per-token rate limit come from
//! [`dr_core::http`]; this file adds the base URL, the
//! `{"success","errors","result"}` envelope and Cloudflare's error codes in
//! messages. Every request goes through [`CfClient::send`]. It never retries: the
//! dr-core executor decides when to try again.

use dr_core::http::{BearerToken, HttpClient, Method, RateLimiter};
use dr_core::{ErrorKind, ProviderError};
use serde_json::Value;

use crate::config::ApiConfig;
use crate::error::{Envelope, answer_error, bad_answer, envelope_detail};

/// Requests a token may start at once before pacing begins.
pub(crate) const BURST: u32 = 100;
/// Sustained requests per second per token.
///
/// Cloudflare allows 1,200 requests per 5 minutes per token and locks the token
/// out for 5 minutes when that is exceeded. A bucket of [`BURST`] refilled at
/// this rate lets through at most `100 + 3 × 300 = 1,000` requests in any 5-minute
/// window, leaving room for other users of the same token (dashboards, Terraform),
/// and at most 103 in any second (under the 200 req/s per-IP limit).
pub(crate) const RATE_PER_SEC: f64 = 3.0;

/// The scope of Cloudflare tokens in dr-core's per-credential rate limiters.
const LIMIT_SCOPE: &str = "cloudflare";

/// A Cloudflare API v4 client for one resource. Every client in the process shares
/// one connection pool, and every client with the same token one rate limiter.
#[derive(Debug, Clone)]
pub(crate) struct CfClient {
    http: HttpClient,
    base: String,
}

impl CfClient {
    pub(crate) fn new(
        provider: &'static str,
        resource: &str,
        api: &ApiConfig,
    ) -> Result<Self, dr_core::ConfigError> {
        let token = api.token.expose();
        let http = HttpClient::builder(provider)
            .resource(resource)
            .timeout(Some(api.timeout))
            .auth(BearerToken::new(token))
            .rate_limiter(RateLimiter::per_credential(
                LIMIT_SCOPE,
                token,
                BURST,
                RATE_PER_SEC,
            ))
            .request_id_headers(&["cf-ray"])
            .build()?;
        Ok(CfClient {
            http,
            base: api.api_base.trim_end_matches('/').to_string(),
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

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ProviderError> {
        let what = format!("{} {path}", method.as_str());
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = self.http.send_raw(&what, req).await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.map_err(|e| {
            self.http
                .transport_error(&format!("{what}: reading the body"), e)
        })?;
        let envelope: Option<Envelope> = serde_json::from_str(&text).ok();
        if !status.is_success() {
            let detail = envelope_detail(envelope.as_ref(), &text);
            return Err(self.http.status_error(&what, status, &headers, &detail));
        }
        let err = match envelope {
            Some(env) if env.success == Some(true) => return Ok(env.result),
            // A 2xx that says it failed: the request was refused.
            Some(env) if !env.errors.is_empty() => answer_error(
                ErrorKind::InvalidRequest,
                format!(
                    "{what}: HTTP {}: {}",
                    status.as_u16(),
                    envelope_detail(Some(&env), &text)
                ),
            ),
            Some(_) => bad_answer(&what, "`success` is not true"),
            None => bad_answer(&what, "the body is not a Cloudflare API envelope"),
        };
        let err = match self.http.request_id(&headers) {
            Some(id) => err.with_request_id(id),
            None => err,
        };
        Err(self.http.tag(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ApiToken;

    #[test]
    fn clients_share_one_pool_and_clients_with_the_same_token_one_bucket() {
        let api = |token: &str| ApiConfig::new(ApiToken::new(token));
        let a = CfClient::new("p", "edge", &api("shared-token-for-this-test")).unwrap();
        let b = CfClient::new("q", "dns", &api("shared-token-for-this-test")).unwrap();
        let c = CfClient::new("p", "edge", &api("another-token-for-this-test")).unwrap();
        let bucket = |c: &CfClient| c.http.rate_limiter().unwrap().clone();
        assert!(bucket(&a).shares_bucket_with(&bucket(&b)));
        assert!(!bucket(&a).shares_bucket_with(&bucket(&c)));
        assert!(a.http.shares_pool_with(&b.http) && a.http.shares_pool_with(&c.http));
        let debug = format!("{a:?}");
        assert!(!debug.contains("shared-token"), "{debug}");
    }
}
