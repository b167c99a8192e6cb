//! The one error type every provider returns.

use std::fmt;
use std::time::Duration;

/// What went wrong, in terms the executor can act on.
///
/// The executor retries only the kinds for which [`ErrorKind::is_retryable`] is
/// true; every other kind fails the step at once.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The remote side asked us to slow down (HTTP 429, `Throttling`); wait at
    /// least `retry_after` when it is known.
    Throttled {
        /// How long the remote side asked us to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// A passing fault: connection refused or reset, HTTP 5xx, a replica still syncing.
    Transient,
    /// Credentials are missing, wrong or lack a permission.
    Auth,
    /// The named resource does not exist.
    NotFound,
    /// The request itself is wrong (bad setting, unknown target); retrying cannot help.
    InvalidRequest,
    /// The resource is in a state that forbids the operation (e.g. promote a primary
    /// that is not allowed to be promoted, an operation already in progress).
    Conflict,
    /// The operation did not finish within its deadline.
    Timeout,
    /// Anything else that retrying cannot fix.
    Fatal,
}

impl ErrorKind {
    /// Whether the executor may retry an operation that failed with this kind.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ErrorKind::Throttled { .. } | ErrorKind::Transient | ErrorKind::Timeout
        )
    }

    /// A short stable name (`throttled`, `transient`, ...), used in events and journals.
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::Throttled { .. } => "throttled",
            ErrorKind::Transient => "transient",
            ErrorKind::Auth => "auth",
            ErrorKind::NotFound => "not_found",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Fatal => "fatal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from a provider call.
///
/// It names the provider (`redis`, `cloudflare.load_balancer`), the resource (the
/// plan's name for it), the operation (`apply`, `promote`) and the remote request id
/// when the remote side gave one, so the operator can find the call in the
/// provider's own logs. Build one with [`ProviderError::new`] and the `with_*`
/// methods:
///
/// ```
/// use dr_core::{ErrorKind, ProviderError};
/// let err = ProviderError::new(ErrorKind::Transient, "connection refused")
///     .with_provider("redis")
///     .with_operation("promote")
///     .with_request_id("req-42");
/// assert!(err.is_retryable());
/// assert_eq!(
///     err.to_string(),
///     "redis: promote failed: connection refused [transient, request id req-42]"
/// );
/// ```
#[derive(Debug)]
pub struct ProviderError {
    // Boxed so `Result<T, ProviderError>` stays small.
    repr: Box<Repr>,
}

#[derive(Debug)]
struct Repr {
    kind: ErrorKind,
    message: String,
    provider: Option<String>,
    resource: Option<String>,
    operation: Option<String>,
    request_id: Option<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// `s` cut to at most `max` bytes at a character boundary, plus a note of
/// how many bytes were left out.
fn capped(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let more = s.len() - end;
    s.truncate(end);
    s.push_str(&format!("… ({more} more bytes)"));
    s
}

impl std::error::Error for ProviderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.repr
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl ProviderError {
    /// The longest [`ProviderError`] message kept, in bytes: what a person reads
    /// in one error, with room for a service's full explanation. Beyond it the
    /// message is cut (at a character boundary) and says how much was left out,
    /// so an answer of megabytes cannot flood a terminal, a journal or a report.
    pub const MAX_MESSAGE: usize = 4096;

    /// The longest request id kept, in bytes (real ones are under 100).
    pub const MAX_REQUEST_ID: usize = 256;

    /// A new error of `kind` with a human message. A message longer than
    /// [`Self::MAX_MESSAGE`] bytes (a service that puts megabytes in its error
    /// answer) keeps its first `MAX_MESSAGE` bytes and says how many more
    /// there were.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            repr: Box::new(Repr {
                kind,
                message: capped(message.into(), Self::MAX_MESSAGE),
                provider: None,
                resource: None,
                operation: None,
                request_id: None,
                source: None,
            }),
        }
    }

    /// Shorthand for [`ErrorKind::Transient`].
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }

    /// Shorthand for [`ErrorKind::InvalidRequest`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    /// Shorthand for [`ErrorKind::Fatal`].
    pub fn fatal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Fatal, message)
    }

    /// Shorthand for [`ErrorKind::Throttled`].
    pub fn throttled(retry_after: Option<Duration>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Throttled { retry_after }, message)
    }

    /// Names the provider (`"redis"`).
    pub fn with_provider(mut self, provider: impl Into<String>) -> Self {
        self.repr.provider = Some(provider.into());
        self
    }

    /// Names the resource (the plan's name for it).
    pub fn with_resource(mut self, resource: impl Into<String>) -> Self {
        self.repr.resource = Some(resource.into());
        self
    }

    /// Names the operation (`"apply"`, `"promote"`).
    pub fn with_operation(mut self, operation: impl Into<String>) -> Self {
        self.repr.operation = Some(operation.into());
        self
    }

    /// Records the remote request id (`cf-ray`, `x-amz-request-id`,
    /// `x-ms-request-id`); at most [`Self::MAX_REQUEST_ID`] bytes of it.
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.repr.request_id = Some(capped(request_id.into(), Self::MAX_REQUEST_ID));
        self
    }

    /// Keeps the underlying error as the [`source`](std::error::Error::source).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.repr.source = Some(Box::new(source));
        self
    }

    /// Fills in the resource and operation when the provider did not set them; the
    /// executor calls this so every error names what it was acting on.
    pub fn in_context(mut self, resource: &str, operation: &str) -> Self {
        if self.repr.resource.is_none() {
            self.repr.resource = Some(resource.to_string());
        }
        if self.repr.operation.is_none() {
            self.repr.operation = Some(operation.to_string());
        }
        self
    }

    /// Fills in the provider when the provider did not set it; the executor
    /// calls this with the resource's `provider = ".."`, so providers need not
    /// tag their errors themselves.
    pub fn or_provider(mut self, provider: &str) -> Self {
        if self.repr.provider.is_none() {
            self.repr.provider = Some(provider.to_string());
        }
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> &ErrorKind {
        &self.repr.kind
    }

    /// Whether the executor may retry the failed call.
    pub fn is_retryable(&self) -> bool {
        self.repr.kind.is_retryable()
    }

    /// How long the remote side asked to wait, for [`ErrorKind::Throttled`].
    pub fn retry_after(&self) -> Option<Duration> {
        match self.repr.kind {
            ErrorKind::Throttled { retry_after } => retry_after,
            _ => None,
        }
    }

    /// The human message, without context.
    pub fn message(&self) -> &str {
        &self.repr.message
    }

    /// The provider name, if set.
    pub fn provider(&self) -> Option<&str> {
        self.repr.provider.as_deref()
    }

    /// The resource name, if set.
    pub fn resource(&self) -> Option<&str> {
        self.repr.resource.as_deref()
    }

    /// The operation, if set.
    pub fn operation(&self) -> Option<&str> {
        self.repr.operation.as_deref()
    }

    /// The remote request id, if the remote side gave one.
    pub fn request_id(&self) -> Option<&str> {
        self.repr.request_id.as_deref()
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut wrote = false;
        if let Some(p) = &self.repr.provider {
            f.write_str(p)?;
            wrote = true;
        }
        if let Some(r) = &self.repr.resource {
            if wrote {
                f.write_str(" ")?;
            }
            write!(f, "resource `{r}`")?;
            wrote = true;
        }
        if wrote {
            f.write_str(": ")?;
        }
        if let Some(op) = &self.repr.operation {
            write!(f, "{op} failed: ")?;
        }
        write!(f, "{} [{}", self.repr.message, self.repr.kind)?;
        if let Some(after) = self.retry_after() {
            write!(f, ", retry after {}ms", after.as_millis())?;
        }
        if let Some(id) = &self.repr.request_id {
            write!(f, ", request id {id}")?;
        }
        f.write_str("]")
    }
}

/// A resource's settings are wrong; raised by provider factories while a plan is
/// resolved, before anything runs. Validation turns it into a diagnostic that
/// points at `key` in the plan file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", key.as_ref().map(|k| format!("`{k}`: ")).unwrap_or_default())]
#[non_exhaustive]
pub struct ConfigError {
    /// The offending key inside the resource or step table (dotted path), if known.
    pub key: Option<String>,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    /// An error about the setting `key`.
    pub fn key(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            key: Some(key.into()),
            message: message.into(),
        }
    }

    /// An error about the table as a whole.
    pub fn new(message: impl Into<String>) -> Self {
        ConfigError {
            key: None,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_message_or_request_id_is_cut_and_says_how_much_was_left_out() {
        // 5 MB of a service's error text, with a multi-byte character at the cut.
        let huge = format!(
            "{}é{}",
            "x".repeat(ProviderError::MAX_MESSAGE - 1),
            "y".repeat(5_000_000)
        );
        let e = ProviderError::fatal(huge.clone()).with_request_id("r".repeat(10_000));
        assert!(
            e.message().len() <= ProviderError::MAX_MESSAGE + 40,
            "{}",
            e.message().len()
        );
        assert!(
            e.message()
                .starts_with(&huge[..ProviderError::MAX_MESSAGE - 1])
        );
        let left = huge.len() - (ProviderError::MAX_MESSAGE - 1);
        assert!(
            e.message().ends_with(&format!("… ({left} more bytes)")),
            "{}",
            &e.message()[ProviderError::MAX_MESSAGE - 10..]
        );
        assert!(e.request_id().unwrap().len() <= ProviderError::MAX_REQUEST_ID + 40);
        assert!(e.to_string().len() < 2 * ProviderError::MAX_MESSAGE);
        // Short ones are untouched.
        assert_eq!(
            ProviderError::fatal("no such pool").message(),
            "no such pool"
        );
    }

    #[test]
    fn only_passing_kinds_are_retryable() {
        assert!(ErrorKind::Transient.is_retryable());
        assert!(ErrorKind::Timeout.is_retryable());
        assert!(ErrorKind::Throttled { retry_after: None }.is_retryable());
        for k in [
            ErrorKind::Auth,
            ErrorKind::NotFound,
            ErrorKind::InvalidRequest,
            ErrorKind::Conflict,
            ErrorKind::Fatal,
        ] {
            assert!(!k.is_retryable(), "{k} must not be retried");
        }
    }

    #[test]
    fn message_names_provider_resource_operation_and_request_id() {
        let e = ProviderError::throttled(Some(Duration::from_secs(3)), "rate limited")
            .with_provider("cloudflare.load_balancer")
            .with_request_id("8c1f")
            .in_context("edge", "apply");
        assert_eq!(
            e.to_string(),
            "cloudflare.load_balancer resource `edge`: apply failed: rate limited \
             [throttled, retry after 3000ms, request id 8c1f]"
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
    }
}
