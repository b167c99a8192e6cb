//! How steps end, as types: what the journal records, events carry and reports
//! show. The JSON strings are part of the contract (`succeeded`, `failed`, ...).

use serde::{Deserialize, Serialize};

use crate::ProviderError;
use crate::redact::Redactor;

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StepStatus {
    /// It did what it was asked, verified.
    Succeeded,
    /// It failed after its retries.
    Failed,
    /// The run was interrupted while it was in flight; `dr resume` continues it.
    Interrupted,
    /// It did not run (the run stopped before it).
    NotRun,
    /// The operator skipped it (`dr resume RUN_ID --skip STEP`): it did not
    /// finish, and the steps after it ran as if it had.
    Skipped,
}

impl StepStatus {
    /// `succeeded`, `failed`, `interrupted`, `not_run` or `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Interrupted => "interrupted",
            StepStatus::NotRun => "not_run",
            StepStatus::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for StepStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a rollback did to a completed step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CompensationStatus {
    /// Undone (traffic restored, action compensated).
    Succeeded,
    /// Undoing failed: check by hand.
    Failed,
    /// Nothing to undo, or it cannot be undone automatically.
    Skipped,
}

impl CompensationStatus {
    /// `succeeded`, `failed` or `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            CompensationStatus::Succeeded => "succeeded",
            CompensationStatus::Failed => "failed",
            CompensationStatus::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for CompensationStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a step failed, with what an operator pastes into a support case: the
/// error kind and the remote request id, when a provider call failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepError {
    /// The message (redacted).
    pub message: String,
    /// The provider error's kind (`throttled`, `auth`, ...); none for failures
    /// the executor itself decided (a gate, a safety rule, a verification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The remote request id (`cf-ray`, `x-ms-request-id`, ...), when the remote
    /// side gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl StepError {
    /// A failure the executor decided, with no provider error behind it.
    pub fn message(message: impl Into<String>) -> Self {
        StepError {
            message: message.into(),
            kind: None,
            request_id: None,
        }
    }

    /// A provider error, redacted.
    pub fn provider(e: &ProviderError, redactor: &Redactor) -> Self {
        StepError {
            message: redactor.redact(&e.to_string()),
            kind: Some(e.kind().as_str().to_string()),
            request_id: e.request_id().map(|id| redactor.redact(id)),
        }
    }

    /// The same error with `prefix` before its message.
    pub fn prefixed(mut self, prefix: &str) -> Self {
        self.message = format!("{prefix}{}", self.message);
        self
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// `status == "succeeded"` reads as the JSON does.
macro_rules! eq_str {
    ($t:ty) => {
        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}
eq_str!(StepStatus);
eq_str!(CompensationStatus);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_serialize_to_the_contract_strings() {
        for (s, text) in [
            (StepStatus::Succeeded, "succeeded"),
            (StepStatus::Failed, "failed"),
            (StepStatus::Interrupted, "interrupted"),
            (StepStatus::NotRun, "not_run"),
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), text);
            assert_eq!(s, text);
        }
        for (s, text) in [
            (CompensationStatus::Succeeded, "succeeded"),
            (CompensationStatus::Failed, "failed"),
            (CompensationStatus::Skipped, "skipped"),
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), text);
        }
    }

    #[test]
    fn a_provider_error_keeps_its_kind_and_request_id_redacted() {
        let e = ProviderError::new(crate::ErrorKind::Auth, "token s3cr3t-token rejected")
            .with_provider("cloudflare")
            .with_request_id("ray-123");
        let se = StepError::provider(&e, &Redactor::new(["s3cr3t-token".to_string()]));
        assert_eq!(se.kind.as_deref(), Some("auth"));
        assert_eq!(se.request_id.as_deref(), Some("ray-123"));
        assert!(!se.message.contains("s3cr3t-token"), "{}", se.message);
    }
}
