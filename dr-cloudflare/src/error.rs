//! Cloudflare's error envelope mapped to [`ProviderError`].

use std::time::Duration;

use dr_core::{ErrorKind, ProviderError};
use serde::Deserialize;

/// One entry of the envelope's `errors` (or `messages`) array.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CfMessage {
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub message: String,
}

/// `{"success":..,"errors":[..],"messages":[..],"result":..}`, leniently read.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope {
    #[serde(default)]
    pub success: Option<bool>,
    #[serde(default)]
    pub errors: Vec<CfMessage>,
    #[serde(default)]
    pub result: serde_json::Value,
}

/// The error kind for an HTTP status Cloudflare answered with.
pub(crate) fn kind_for(status: u16, retry_after: Option<Duration>) -> ErrorKind {
    match status {
        429 => ErrorKind::Throttled { retry_after },
        401 | 403 => ErrorKind::Auth,
        404 => ErrorKind::NotFound,
        408 => ErrorKind::Timeout,
        409 | 412 | 423 => ErrorKind::Conflict,
        500..=599 => ErrorKind::Transient,
        _ => ErrorKind::InvalidRequest,
    }
}

/// `Retry-After` in seconds (Cloudflare sends delta-seconds).
pub(crate) fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    let v = value?.trim();
    v.parse::<u64>().ok().map(Duration::from_secs).or_else(|| {
        v.parse::<f64>()
            .ok()
            .filter(|s| *s >= 0.0)
            .map(Duration::from_secs_f64)
    })
}

/// Builds the error for a failed call: the HTTP status, every Cloudflare
/// `code: message` pair (or a body excerpt when the body is not an envelope)
/// and the `cf-ray` id as the request id.
pub(crate) fn api_error(
    method: &str,
    path: &str,
    status: u16,
    retry_after: Option<Duration>,
    envelope: Option<&Envelope>,
    body: &str,
    ray: Option<String>,
) -> ProviderError {
    let detail = match envelope {
        Some(env) if !env.errors.is_empty() => env
            .errors
            .iter()
            .map(|e| match e.code {
                Some(code) => format!("Cloudflare error {code}: {}", e.message),
                None => e.message.clone(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => {
            let excerpt: String = body.chars().take(200).collect();
            if excerpt.trim().is_empty() {
                "no error details in the response".to_string()
            } else {
                format!("response: {excerpt}")
            }
        }
    };
    let mut err = ProviderError::new(
        kind_for(status, retry_after),
        format!("{method} {path}: HTTP {status}: {detail}"),
    );
    if let Some(ray) = ray {
        err = err.with_request_id(ray);
    }
    err
}

/// An answer we could not understand (HTTP 2xx that is not an envelope, or `success: false`).
pub(crate) fn bad_answer(method: &str, path: &str, why: impl std::fmt::Display) -> ProviderError {
    ProviderError::new(
        ErrorKind::Fatal,
        format!("{method} {path}: unexpected answer from Cloudflare: {why}"),
    )
}

/// The live configuration does not fit what the provider manages.
pub(crate) fn conflict(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::Conflict, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_statuses_and_keeps_codes_and_ray() {
        let env: Envelope = serde_json::from_str(
            r#"{"success":false,"errors":[{"code":1002,"message":"Invalid pool"}],"messages":[],"result":null}"#,
        )
        .unwrap();
        let e = api_error(
            "PATCH",
            "/zones/z/load_balancers/l",
            400,
            None,
            Some(&env),
            "",
            Some("8c1f-LAX".into()),
        );
        assert_eq!(e.kind(), &ErrorKind::InvalidRequest);
        assert!(
            e.message().contains("Cloudflare error 1002: Invalid pool"),
            "{e}"
        );
        assert_eq!(e.request_id(), Some("8c1f-LAX"));
        assert!(!e.is_retryable());

        let t = api_error(
            "GET",
            "/x",
            429,
            Some(Duration::from_secs(7)),
            None,
            "",
            None,
        );
        assert_eq!(t.retry_after(), Some(Duration::from_secs(7)));
        assert!(t.is_retryable());
        assert_eq!(kind_for(403, None), ErrorKind::Auth);
        assert_eq!(kind_for(404, None), ErrorKind::NotFound);
        assert_eq!(kind_for(503, None), ErrorKind::Transient);
        assert_eq!(
            parse_retry_after(Some(" 30 ")),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
    }
}
