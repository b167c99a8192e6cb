//! Cloudflare's error envelope mapped to [`ProviderError`], and every error this
//! crate decides itself.
//!
//! An answer from the API is mapped by dr-core's HTTP layer (status table,
//! `Retry-After`, the `cf-ray` request id) and names the full provider and the
//! resource (`cloudflare.load_balancer`, `edge`): [`CfClient`](crate::client)
//! builds its `HttpClient` with them. What this crate adds is Cloudflare's
//! `code: message` pairs ([`envelope_detail`]). An error the crate decides without
//! an answer (a split the router cannot express, a live configuration it does not
//! manage) is made here by [`error`] and its shorthands, the one place that names
//! [`PROVIDER`], so it says `cloudflare` also when the crate is used as a library.
//! The operation and the resource are the core's to add: the executor, `dr status`
//! and `dr plan` fill them in for every provider alike.

use dr_core::{ErrorKind, ProviderError};
use serde::Deserialize;

use crate::PROVIDER;

/// An error of `kind` that this crate decided, naming the provider.
pub(crate) fn error(kind: ErrorKind, message: impl Into<String>) -> ProviderError {
    ProviderError::new(kind, message).with_provider(PROVIDER)
}

/// An [`InvalidRequest`](ErrorKind::InvalidRequest) error: the request cannot be expressed.
pub(crate) fn invalid(message: impl Into<String>) -> ProviderError {
    error(ErrorKind::InvalidRequest, message)
}

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

/// The text of a failed call: every Cloudflare `code: message` pair of the
/// envelope (`Cloudflare error 1002: Invalid pool`), or a body excerpt when the
/// body is not an envelope. The status, its error kind and the `cf-ray` request id
/// are added by dr-core's HTTP layer.
pub(crate) fn envelope_detail(envelope: Option<&Envelope>, body: &str) -> String {
    match envelope {
        Some(env) if !env.errors.is_empty() => env
            .errors
            .iter()
            .map(|e| match e.code {
                Some(code) => format!("Cloudflare error {code}: {}", e.message),
                None => e.message.clone(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => dr_core::http::error_detail(body),
    }
}

/// An error about an answer of the API, for [`CfClient`](crate::client) to name with
/// the full provider and the resource (`HttpClient::tag`), as dr-core's HTTP layer
/// names the errors it maps itself.
pub(crate) fn answer_error(kind: ErrorKind, message: impl Into<String>) -> ProviderError {
    ProviderError::new(kind, message)
}

/// An answer we could not understand (HTTP 2xx that is not an envelope, or `success: false`).
pub(crate) fn bad_answer(what: &str, why: impl std::fmt::Display) -> ProviderError {
    answer_error(
        ErrorKind::Fatal,
        format!("{what}: unexpected answer from Cloudflare: {why}"),
    )
}

/// The live configuration does not fit what the provider manages.
pub(crate) fn conflict(message: impl Into<String>) -> ProviderError {
    error(ErrorKind::Conflict, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_detail_keeps_every_cloudflare_code() {
        let env: Envelope = serde_json::from_str(
            r#"{"success":false,"errors":[{"code":1002,"message":"Invalid pool"},{"message":"and more"}],"messages":[],"result":null}"#,
        )
        .unwrap();
        assert_eq!(
            envelope_detail(Some(&env), ""),
            "Cloudflare error 1002: Invalid pool; and more"
        );
        let empty: Envelope = serde_json::from_str(r#"{"success":false,"errors":[]}"#).unwrap();
        assert_eq!(
            envelope_detail(Some(&empty), "<html>bad gateway</html>"),
            "response: <html>bad gateway</html>"
        );
        assert_eq!(
            envelope_detail(None, ""),
            "no error details in the response"
        );
    }

    #[test]
    fn every_error_is_made_here_and_names_the_provider() {
        assert_eq!(conflict("x").provider(), Some(PROVIDER));
        assert_eq!(invalid("x").kind(), &ErrorKind::InvalidRequest);
        // The other files build errors with the functions above (or get them from
        // dr-core's HTTP layer), never with `ProviderError`'s own constructors.
        for (file, text) in [
            ("client.rs", include_str!("client.rs")),
            ("router.rs", include_str!("router.rs")),
            ("steering.rs", include_str!("steering.rs")),
            ("probe.rs", include_str!("probe.rs")),
            ("action.rs", include_str!("action.rs")),
            ("config.rs", include_str!("config.rs")),
        ] {
            for constructor in ["new(", "fatal(", "transient(", "invalid(", "throttled("] {
                let call = format!("ProviderError::{constructor}");
                assert!(
                    !text.contains(&call),
                    "{file} calls {call}: use crate::error"
                );
            }
        }
    }

    #[test]
    fn a_bad_answer_is_fatal_and_names_the_call() {
        let e = bad_answer("GET /x", "`success` is not true");
        assert_eq!(e.kind(), &ErrorKind::Fatal);
        assert_eq!(
            e.provider(),
            None,
            "named by the client, with the full provider"
        );
        assert_eq!(
            e.message(),
            "GET /x: unexpected answer from Cloudflare: `success` is not true"
        );
    }
}
