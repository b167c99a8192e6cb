//! How a request proves who sends it.

use std::fmt;

use async_trait::async_trait;
use reqwest::RequestBuilder;

use crate::ProviderError;

/// Adds credentials to a request, just before [`HttpClient`](super::HttpClient) sends it.
///
/// Async and fallible so an implementation can fetch or refresh a token first (an
/// Azure AD client-credentials token, an STS session); a failure to get one is an
/// error of kind [`Auth`](crate::ErrorKind::Auth) (refused) or
/// [`Transient`](crate::ErrorKind::Transient) (token endpoint unreachable).
///
/// # Contract
///
/// - `Debug` never prints the secret (`******`).
/// - Headers it sets are marked sensitive
///   ([`HeaderValue::set_sensitive`](reqwest::header::HeaderValue::set_sensitive)),
///   as [`RequestBuilder::bearer_auth`] does.
/// - It only adds credentials: no I/O on `req` itself, no retries (a token fetch
///   that fails returns its error; the executor retries the call).
/// - Object safe: clients hold it as `Arc<dyn Auth>`.
#[async_trait]
pub trait Auth: fmt::Debug + Send + Sync {
    /// `req` with the credentials added.
    async fn apply(&self, req: RequestBuilder) -> Result<RequestBuilder, ProviderError>;
}

/// `Authorization: Bearer <token>`, for a token that does not expire during a run
/// (a Cloudflare API token, a token from the environment).
///
/// ```
/// use dr_core::http::BearerToken;
/// let token = BearerToken::new("s3cret");
/// assert_eq!(format!("{token:?}"), "BearerToken(******)");
/// ```
#[derive(Clone)]
pub struct BearerToken(String);

impl BearerToken {
    /// Wraps `token`.
    pub fn new(token: impl Into<String>) -> Self {
        BearerToken(token.into())
    }

    /// The token itself, for a caller that must key something on it (the
    /// [`RateLimiter`](super::RateLimiter) hashes it); never print it.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(******)")
    }
}

#[async_trait]
impl Auth for BearerToken {
    async fn apply(&self, req: RequestBuilder) -> Result<RequestBuilder, ProviderError> {
        Ok(req.bearer_auth(&self.0))
    }
}

// Clients hold it as `Arc<dyn Auth>`.
#[allow(dead_code)]
fn _object_safety(_: Box<dyn Auth>) {}
