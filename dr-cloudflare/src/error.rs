//! Cloudflare's error envelope mapped to [`ProviderError`].

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

/// An answer we could not understand (HTTP 2xx that is not an envelope, or `success: false`).
pub(crate) fn bad_answer(what: &str, why: impl std::fmt::Display) -> ProviderError {
    ProviderError::new(
        ErrorKind::Fatal,
        format!("{what}: unexpected answer from Cloudflare: {why}"),
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
    fn a_bad_answer_is_fatal_and_names_the_call() {
        let e = bad_answer("GET /x", "`success` is not true");
        assert_eq!(e.kind(), &ErrorKind::Fatal);
        assert_eq!(
            e.message(),
            "GET /x: unexpected answer from Cloudflare: `success` is not true"
        );
    }
}
