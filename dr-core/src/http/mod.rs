//! One HTTP layer for every REST provider, `notify` and the `http` probe.
//!
//! Cloudflare and Azure Resource Manager have no maintained Rust SDK, and more
//! REST providers will follow, so each would otherwise grow its own client, its own
//! idea of what a 408 or a 429 means and its own rate limiter; `dr` had three
//! disagreeing copies. What every one of them needs is written here once, in
//! `dr-core` itself (not behind a feature, not in a crate of its own), because
//! `dr-core` already depends on `reqwest` for `notify` and the `http` probe and
//! this adds no dependency, and because a provider crate depends on `dr-core`
//! only. No cloud SDK and no provider-specific envelope parsing lives here.
//!
//! - [`HttpClient`]: a request goes out paced by a [`RateLimiter`], with
//!   credentials from an [`Auth`] ([`BearerToken`] today), a per-call timeout,
//!   `User-Agent: dr/<version>`, over the process's shared connection pool;
//!   the answer maps to [`ProviderError`](crate::ProviderError) as the table
//!   below says, with the remote request id and never the URL or a header.
//! - [`classify`], [`transport_kind`], [`retry_after`], [`request_id`],
//!   [`error_detail`]: the same mapping as functions, for a provider that reads
//!   its own envelope (Cloudflare's `success: false` on a 200).
//! - [`shared_client`]: one `reqwest::Client` per [`PoolConfig`] for the whole
//!   process. Provider objects are built by registry factories from plan
//!   settings alone, so there is no place to hand one client down; a process-wide
//!   cache gives the same effect. Timeouts and credentials are per request, so
//!   every REST client shares one pool (one set of TLS sessions, one idle
//!   connection per host), not one per resource as before.
//! - Redirects: none is followed to another origin (scheme, host, port), where
//!   the request's secret headers would go too, and no `Referer` is sent; the
//!   pooled client follows none at all, so a webhook or REST call answered with
//!   a 3xx fails naming it; the `http` probe's follows up to [`MAX_REDIRECTS`]
//!   within the origin ([`Redirects`]).
//! - [`poll::until`](crate::poll::until), beside this module: waiting for a
//!   long-running operation (an ARM `Azure-AsyncOperation`, a Redis switchover).
//!
//! Nothing here retries. A retryable error goes back to the executor, which
//! retries with backoff, honouring `retry_after`, within the run's budget.
//!
//! # Status to `ErrorKind`
//!
//! | Answer                                   | [`ErrorKind`](crate::ErrorKind)                |
//! |------------------------------------------|------------------------------------------------|
//! | 2xx                                      | success                                        |
//! | 429 Too Many Requests                    | `Throttled { retry_after }` (`None` without `Retry-After`) |
//! | 503 Service Unavailable with `Retry-After` | `Throttled { retry_after: Some(..) }`        |
//! | 503 without `Retry-After`, other 5xx     | `Transient`                                    |
//! | 408 Request Timeout                      | `Timeout`                                      |
//! | 401, 403                                 | `Auth`                                         |
//! | 404                                      | `NotFound`                                     |
//! | 409, 412, 423                            | `Conflict`                                     |
//! | other 4xx                                | `InvalidRequest`                               |
//! | 1xx, 3xx (a redirect not followed)       | `Fatal` (3xx: "a redirect, not followed")      |
//! | no answer: timeout (connect or total)    | `Timeout`                                      |
//! | no answer: refused, reset, TLS, cut body | `Transient`                                    |
//! | request not built (bad URL or header)    | `InvalidRequest`                               |
//! | redirect loop, undecodable body          | `Fatal`                                        |
//!
//! `Retry-After` is read as delta-seconds or as an HTTP date (a date in the past
//! is zero). A 503 that says when to come back becomes `Throttled`, the one kind
//! that carries a wait, so the executor waits as asked; `Retry-After` on other
//! 5xx is not defined by RFC 9110 and is ignored. 423 Locked (another operation
//! holds the resource) is a `Conflict`, as dr-cloudflare always mapped it.
//!
//! The request id comes from the first header of the client's list that is
//! present ([`DEFAULT_REQUEST_ID_HEADERS`]: `cf-ray`, `x-ms-request-id`,
//! `x-amzn-requestid`, `x-amz-request-id`, `x-request-id`).
//!
//! # Writing a REST provider
//!
//! Build one [`HttpClient`] per resource in the factory (cheap: the pool is
//! shared), with the API's request-id header and, when the API counts requests
//! per credential, [`RateLimiter::per_credential`]. Send with
//! [`HttpClient::send`] when the API's error bodies are one of the envelopes
//! [`error_detail`] reads (ARM, OAuth, AWS JSON), or with
//! [`HttpClient::send_raw`] and [`HttpClient::status_error`] to word errors
//! yourself. Wait for long-running operations with
//! [`poll::until`](crate::poll::until), returning
//! [`Poll::RetryAfter`](crate::poll::Poll::RetryAfter) when the service says when
//! to look again.

mod auth;
mod client;
mod limit;
mod pool;
mod status;

pub use crate::parse_retry_after;
pub use auth::{Auth, BearerToken};
pub use client::{DEFAULT_TIMEOUT, HttpClient, HttpClientBuilder};
pub use limit::RateLimiter;
pub use pool::{
    DEFAULT_CONNECT_TIMEOUT, MAX_REDIRECTS, PoolConfig, Redirects, USER_AGENT, shared_client,
};
pub use status::{
    DEFAULT_REQUEST_ID_HEADERS, classify, error_detail, error_text, request_id, retry_after,
    transport_kind,
};

/// Re-exported so providers name the same `reqwest` types without a `reqwest`
/// dependency of their own (or one of another version).
pub use reqwest::{Method, RequestBuilder, Response, StatusCode, header};
