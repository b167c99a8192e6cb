//! ARM's error envelope mapped to [`ProviderError`], and every error this crate
//! decides itself.
//!
//! An answer from ARM is mapped by dr-core's HTTP layer: the status table (401/403
//! `auth`, 404 `not_found`, 409 `conflict`, 429 `throttled` with `Retry-After`,
//! 5xx `transient`, ...), `x-ms-request-id` as the request id and the
//! `{"error":{"code","message"}}` envelope in the message; it names the full
//! provider (`azure.traffic_manager`) and the resource, because
//! [`Arm`](crate::client) builds its `HttpClient` with them. What this file adds:
//!
//! | Case                                           | kind            |
//! |------------------------------------------------|-----------------|
//! | long-running operation `Failed`                | `fatal` (with ARM's `code: message`) |
//! | long-running operation `Canceled`              | `conflict`      |
//! | poll URL on another host than `arm_endpoint`   | `fatal` (the token is never sent there) |
//! | a 2xx answer that is not the documented shape  | `fatal`         |
//! | live state the provider does not manage (e.g. an enabled endpoint outside `targets`) | `conflict` |
//! | a refusal before any call (`canFailover = false`, a split a priority profile cannot express) | `conflict` / `invalid_request` |
//!
//! Every `ProviderError` of the crate is made here ([`error`] names [`PROVIDER`]).
//! Errors about an ARM answer are made by [`answer_error`] and tagged by the client
//! with the full provider and the resource. The operation and the resource of a
//! plan are the core's to add.

use dr_core::{ErrorKind, ProviderError};

use crate::PROVIDER;

/// An error of `kind` that this crate decided, naming the provider.
pub(crate) fn error(kind: ErrorKind, message: impl Into<String>) -> ProviderError {
    ProviderError::new(kind, message).with_provider(PROVIDER)
}

/// An [`InvalidRequest`](ErrorKind::InvalidRequest) error: the request cannot be expressed.
#[cfg(any(
    feature = "traffic_manager",
    feature = "front_door",
    feature = "storage_account",
    feature = "postgres_flexible",
    feature = "blob"
))]
pub(crate) fn invalid(message: impl Into<String>) -> ProviderError {
    error(ErrorKind::InvalidRequest, message)
}

/// A [`Conflict`](ErrorKind::Conflict): the live state forbids the operation.
#[cfg(any(
    feature = "traffic_manager",
    feature = "front_door",
    feature = "storage_account",
    feature = "postgres_flexible"
))]
pub(crate) fn conflict(message: impl Into<String>) -> ProviderError {
    error(ErrorKind::Conflict, message)
}

/// A [`Transient`](ErrorKind::Transient) error: try again later.
pub(crate) fn transient(message: impl Into<String>) -> ProviderError {
    error(ErrorKind::Transient, message)
}

/// An [`Auth`](ErrorKind::Auth) error: no usable credential.
pub(crate) fn auth(message: impl Into<String>) -> ProviderError {
    error(ErrorKind::Auth, message)
}

/// An error about an ARM answer, for the client to tag with the full provider and
/// the resource (`HttpClient::tag`).
#[cfg(any(
    feature = "traffic_manager",
    feature = "front_door",
    feature = "storage_account",
    feature = "postgres_flexible",
    feature = "web_app"
))]
pub(crate) fn answer_error(kind: ErrorKind, message: impl Into<String>) -> ProviderError {
    ProviderError::new(kind, message)
}

/// A 2xx answer whose body is not the documented shape.
#[cfg(any(
    feature = "traffic_manager",
    feature = "front_door",
    feature = "storage_account",
    feature = "postgres_flexible",
    feature = "web_app"
))]
pub(crate) fn bad_answer(what: &str, why: impl std::fmt::Display) -> ProviderError {
    answer_error(
        ErrorKind::Fatal,
        format!("{what}: unexpected answer from Azure Resource Manager: {why}"),
    )
}

/// A long-running operation that ended `Failed` or `Canceled`, with ARM's code and
/// message when the status body has them.
#[cfg(any(
    feature = "traffic_manager",
    feature = "front_door",
    feature = "storage_account",
    feature = "postgres_flexible"
))]
pub(crate) fn operation_failed(
    what: &str,
    status: &str,
    code: Option<&str>,
    message: Option<&str>,
) -> ProviderError {
    let kind = if status.eq_ignore_ascii_case("canceled") {
        ErrorKind::Conflict
    } else {
        ErrorKind::Fatal
    };
    let detail = match (code, message) {
        (Some(c), Some(m)) => format!(": {c}: {m}"),
        (Some(c), None) => format!(": {c}"),
        (None, Some(m)) => format!(": {m}"),
        (None, None) => String::new(),
    };
    answer_error(
        kind,
        format!("{what}: the long-running operation ended {status}{detail}"),
    )
}

/// A blob service error (`azure_storage_blob`), without the URL (whose query is a SAS).
#[cfg(feature = "blob")]
pub(crate) fn from_blob(what: &str, e: &azure_core::Error) -> ProviderError {
    use azure_core::error::ErrorKind as AzKind;
    let (kind, detail) = match e.kind() {
        AzKind::HttpResponse {
            status, error_code, ..
        } => {
            let code = u16::from(*status);
            let kind = match code {
                401 | 403 => ErrorKind::Auth,
                404 => ErrorKind::NotFound,
                409 | 412 => ErrorKind::Conflict,
                429 => ErrorKind::Throttled { retry_after: None },
                408 => ErrorKind::Timeout,
                500..=599 => ErrorKind::Transient,
                _ => ErrorKind::InvalidRequest,
            };
            (
                kind,
                format!(
                    "HTTP {code}{}",
                    error_code
                        .as_deref()
                        .map(|c| format!(": {c}"))
                        .unwrap_or_default()
                ),
            )
        }
        AzKind::Io | AzKind::Connection => {
            (ErrorKind::Transient, "could not be reached".to_string())
        }
        AzKind::Credential => (ErrorKind::Auth, "no credential".to_string()),
        other => (ErrorKind::Fatal, format!("{other}")),
    };
    error(kind, format!("{what}: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(
        feature = "traffic_manager",
        feature = "front_door",
        feature = "storage_account",
        feature = "postgres_flexible"
    ))]
    #[test]
    fn a_failed_operation_keeps_arm_code_and_message() {
        let e = operation_failed(
            "PATCH origin",
            "Failed",
            Some("OriginUpdateFailed"),
            Some("boom"),
        );
        assert_eq!(e.kind(), &ErrorKind::Fatal);
        assert_eq!(
            e.message(),
            "PATCH origin: the long-running operation ended Failed: OriginUpdateFailed: boom"
        );
        assert_eq!(
            operation_failed("x", "Canceled", None, None).kind(),
            &ErrorKind::Conflict
        );
    }

    #[test]
    fn every_error_is_made_here_and_names_the_provider() {
        assert_eq!(error(ErrorKind::Fatal, "x").provider(), Some(PROVIDER));
        assert_eq!(transient("x").provider(), Some(PROVIDER));
        #[cfg(any(
            feature = "traffic_manager",
            feature = "front_door",
            feature = "storage_account",
            feature = "postgres_flexible"
        ))]
        assert_eq!(conflict("x").provider(), Some(PROVIDER));
        #[cfg(feature = "blob")]
        assert_eq!(invalid("x").kind(), &ErrorKind::InvalidRequest);
        // Every source file of the crate but this one and the test harness,
        // whichever features this build has.
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut dirs = vec![src.clone()];
        let mut files = Vec::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    if path != src.join("testing") {
                        dirs.push(path);
                    }
                } else if path.extension().is_some_and(|e| e == "rs")
                    && path != src.join("error.rs")
                {
                    files.push(path);
                }
            }
        }
        assert!(files.len() > 20, "{files:?}");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for constructor in ["new(", "fatal(", "transient(", "invalid(", "throttled("] {
                let call = format!("ProviderError::{constructor}");
                assert!(
                    !text.contains(&call),
                    "{} calls {call}: use crate::error",
                    file.display()
                );
            }
        }
    }
}
