//! Long-running operations of ARM, for the services that start them (Traffic
//! Manager, Front Door, storage account, PostgreSQL).
//!
//! A 201/202 with `Azure-AsyncOperation` is polled until its `status` is
//! `Succeeded` (`Failed`/`Canceled` is an error with ARM's code and message), else
//! one with `Location` until it answers 200/204, honouring `Retry-After`, until
//! `operation_timeout`. Poll URLs must be on the `arm_endpoint` host: the token is
//! never sent anywhere else.

use std::time::Duration;

use dr_core::ProviderError;
use dr_core::http::{Method, StatusCode, header::HeaderMap, retry_after};
use dr_core::poll::{self, CancellationToken, Poll};
use serde_json::Value;

use super::Arm;
use crate::error::{bad_answer, operation_failed};

impl Arm {
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

    /// For a provider's own wait on a resource's state: the deadline
    /// (`operation_timeout` from now) and the `poll_interval`.
    #[cfg(feature = "storage_account")]
    pub(crate) fn poll_bounds(&self) -> (tokio::time::Instant, Duration) {
        (self.deadline(), self.cfg.poll_interval)
    }

    /// Refuses a poll URL that is not on the ARM endpoint's scheme, host and port.
    fn check_poll_url(&self, what: &str, url: &str) -> Result<(), ProviderError> {
        let same = self.same_endpoint(url);
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
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .filter(|s| !s.is_empty())
}
