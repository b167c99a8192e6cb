//! AWS errors mapped to [`ProviderError`], and every error this crate decides itself.
//!
//! Every SDK call of the crate goes through [`from_sdk`], the one mapping:
//!
//! | what failed | kind |
//! |---|---|
//! | error code `Throttling`, `ThrottlingException`, `RequestLimitExceeded`, `SlowDown`, `TooManyRequestsException`, `PriorRequestNotComplete`, ... (or HTTP 429) | `throttled` |
//! | HTTP 5xx, `InternalError`/`InternalFailure`/`ServiceUnavailable`, `EndpointTemporarilyUnavailableException`, a lost connection | `transient` |
//! | `AccessDenied*`, `UnauthorizedOperation`, `InvalidClientTokenId`, `SignatureDoesNotMatch`, `ExpiredToken*`, `AuthFailure`, ... (or HTTP 401/403), no credentials in the chain | `auth` |
//! | a code ending in `NotFound`, `NotFoundFault`, `NotFoundException`, `NotFoundError`, or starting with `NoSuch` (or HTTP 404) | `not_found` |
//! | `ConflictException` (an ARC safety rule), `InvalidDBInstanceState`, `InvalidDBClusterStateFault`, `InvalidGlobalClusterStateFault`, `IncorrectInstanceState`, `ResourceInUse*`, `ScalingActivityInProgress` (or HTTP 409) | `conflict` |
//! | an SDK timeout | `timeout` |
//! | any other 4xx | `invalid_request` |
//! | anything else (an answer the SDK could not read) | `fatal` |
//!
//! The message names the call (`Route 53 ChangeResourceRecordSets`), AWS's error code
//! and message; the AWS request id (`x-amzn-RequestId`, `<RequestId>`) is kept as the
//! error's request id. The SDK's own retries are off (see [`crate::client`]), so a
//! throttled or transient call comes back here at once and the dr-core executor is
//! the only retry loop. Errors the crate decides itself (a split the router cannot
//! express, a live configuration it does not manage) are made here too, by [`error`]
//! and its shorthands, the one place that names [`PROVIDER`].

use std::error::Error as StdError;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::request_id::RequestId;
use dr_core::{ErrorKind, ProviderError};

use crate::PROVIDER;

/// An error of `kind` that this crate decided, naming the provider.
pub(crate) fn error(kind: ErrorKind, message: impl Into<String>) -> ProviderError {
    ProviderError::new(kind, message).with_provider(PROVIDER)
}

/// The request cannot be expressed (a split the router cannot apply, an
/// operation the resource does not offer).
#[cfg(any(feature = "route53", feature = "arc", feature = "rds", feature = "s3"))]
pub(crate) fn invalid(message: impl Into<String>) -> ProviderError {
    error(ErrorKind::InvalidRequest, message)
}

/// The live configuration does not fit what the resource manages, or AWS refused
/// the change in the state it is in.
#[cfg(any(
    feature = "route53",
    feature = "arc",
    feature = "rds",
    feature = "s3",
    feature = "autoscaling"
))]
pub(crate) fn conflict(message: impl Into<String>) -> ProviderError {
    error(ErrorKind::Conflict, message)
}

/// Something that cannot change by trying again (an answer we cannot read).
#[cfg(any(feature = "route53", feature = "arc", feature = "s3"))]
pub(crate) fn fatal(message: impl Into<String>) -> ProviderError {
    error(ErrorKind::Fatal, message)
}

/// The thing named does not exist.
#[cfg(any(
    feature = "rds",
    feature = "ec2",
    feature = "autoscaling",
    feature = "cloudwatch"
))]
pub(crate) fn not_found(message: impl Into<String>) -> ProviderError {
    error(ErrorKind::NotFound, message)
}

/// A [`dr_core::poll::until`] failure, as a provider error naming the provider.
#[cfg(any(feature = "route53", feature = "rds", feature = "ec2"))]
pub(crate) fn from_poll(e: dr_core::poll::PollError) -> ProviderError {
    ProviderError::from(e).or_provider(PROVIDER)
}

/// The kind of an AWS error code (`None` when the code alone does not say).
pub(crate) fn kind_of_code(code: &str) -> Option<ErrorKind> {
    const THROTTLED: &[&str] = &[
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "SlowDown",
        "PriorRequestNotComplete",
        "ProvisionedThroughputExceededException",
        "EC2ThrottledException",
        "TransactionInProgressException",
    ];
    const TRANSIENT: &[&str] = &[
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "InternalServerException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "EndpointTemporarilyUnavailableException",
    ];
    const AUTH: &[&str] = &[
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "UnrecognizedClientException",
        "AuthFailure",
        "InvalidAccessKeyId",
        "MissingAuthenticationToken",
        "InvalidToken",
    ];
    const CONFLICT: &[&str] = &[
        "ConflictException",
        "InvalidDBInstanceState",
        "InvalidDBInstanceStateFault",
        "InvalidDBClusterStateFault",
        "InvalidGlobalClusterStateFault",
        "IncorrectInstanceState",
        "IncorrectState",
        "ResourceInUse",
        "ResourceInUseFault",
        "ScalingActivityInProgress",
        "ScalingActivityInProgressFault",
    ];
    if THROTTLED.contains(&code) {
        Some(ErrorKind::Throttled { retry_after: None })
    } else if TRANSIENT.contains(&code) {
        Some(ErrorKind::Transient)
    } else if AUTH.contains(&code) {
        Some(ErrorKind::Auth)
    } else if CONFLICT.contains(&code) {
        Some(ErrorKind::Conflict)
    } else if code.ends_with("NotFound")
        || code.ends_with("NotFoundFault")
        || code.ends_with("NotFoundException")
        || code.ends_with("NotFoundError")
        || code.starts_with("NoSuch")
    {
        Some(ErrorKind::NotFound)
    } else {
        None
    }
}

/// The kind of an HTTP status without a code that says more.
pub(crate) fn kind_of_status(status: u16) -> ErrorKind {
    match status {
        429 => ErrorKind::Throttled { retry_after: None },
        401 | 403 => ErrorKind::Auth,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        408 => ErrorKind::Timeout,
        500..=599 => ErrorKind::Transient,
        400..=499 => ErrorKind::InvalidRequest,
        _ => ErrorKind::Fatal,
    }
}

/// Whether a call failed before it was sent because no credentials could be
/// resolved (the SDK reports that as a dispatch or construction failure).
fn no_credentials<E, R>(err: &SdkError<E, R>) -> bool
where
    E: StdError + 'static,
    R: std::fmt::Debug,
{
    let text = DisplayErrorContext(err).to_string().to_ascii_lowercase();
    text.contains("credential") || text.contains("identity resolver")
}

/// What an HTTP answer says beyond its body: status, `Retry-After`, request id
/// and content type. Never the other headers (`Set-Cookie`, ...).
struct Answer {
    status: u16,
    retry_after: Option<std::time::Duration>,
    request_id: Option<String>,
    content_type: Option<String>,
}

impl Answer {
    fn of(raw: &HttpResponse) -> Answer {
        let h = raw.headers();
        let header = |name: &str| h.get(name).map(|v| v.trim().chars().take(128).collect());
        Answer {
            status: raw.status().as_u16(),
            retry_after: h
                .get("retry-after")
                .and_then(|v| dr_core::parse_retry_after(v, std::time::SystemTime::now())),
            request_id: header("x-amzn-requestid").or_else(|| header("x-amz-request-id")),
            content_type: header("content-type"),
        }
    }

    /// The kind of the status alone; a 429, or a 503 with `Retry-After`, is
    /// throttled for as long as asked.
    fn kind(&self) -> ErrorKind {
        match (self.status, self.retry_after) {
            (429 | 503, Some(after)) => ErrorKind::Throttled {
                retry_after: Some(after),
            },
            (s, _) => kind_of_status(s),
        }
    }

    /// `HTTP 500 (no AWS error in the answer, text/html)`: what a proxy or load
    /// balancer's own page says, without quoting it.
    fn without_error(&self) -> String {
        match &self.content_type {
            Some(t) => format!("HTTP {} (no AWS error in the answer, {t})", self.status),
            None => format!("HTTP {} (no AWS error in the answer)", self.status),
        }
    }
}

/// Maps a failed SDK call (`call`: `Route 53 GetChange`) to a [`ProviderError`]:
/// AWS's code and message, the HTTP status and the request id; never the SDK's
/// `Debug` of the response (its headers, `Set-Cookie` included). An answer that
/// is not an AWS error document (a proxy's 500, a load balancer's 429 page) is
/// classified by its status, `Retry-After` honoured.
pub(crate) fn from_sdk<E>(call: &str, err: SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let answer = err.raw_response().map(Answer::of);
    let had_answer = answer.is_some();
    let (kind, message, request_id) = match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("").to_string();
            let text = e.message().unwrap_or("").to_string();
            let answer = Answer::of(se.raw());
            let kind = match kind_of_code(&code) {
                // A throttling code keeps the answer's `Retry-After`.
                Some(ErrorKind::Throttled { retry_after: None }) => ErrorKind::Throttled {
                    retry_after: answer.retry_after,
                },
                Some(kind) => kind,
                None => answer.kind(),
            };
            let message = match (code.is_empty(), text.is_empty()) {
                (false, false) => format!("{call}: {code}: {text} (HTTP {})", answer.status),
                (false, true) => format!("{call}: {code} (HTTP {})", answer.status),
                (true, false) => format!("{call}: HTTP {}: {text}", answer.status),
                (true, true) => format!("{call}: {}", answer.without_error()),
            };
            let id = e
                .meta()
                .request_id()
                .map(str::to_string)
                .or(answer.request_id);
            (kind, message, id)
        }
        SdkError::TimeoutError(_) => (ErrorKind::Timeout, format!("{call}: timed out"), None),
        SdkError::DispatchFailure(_) if no_credentials(&err) => (
            ErrorKind::Auth,
            format!(
                "{call}: no usable AWS credentials: {}",
                DisplayErrorContext(&err)
            ),
            None,
        ),
        SdkError::DispatchFailure(d) => {
            let kind = if d.is_timeout() {
                ErrorKind::Timeout
            } else if d.is_user() {
                ErrorKind::InvalidRequest
            } else {
                ErrorKind::Transient
            };
            (
                kind,
                format!("{call}: could not reach AWS: {}", DisplayErrorContext(&err)),
                None,
            )
        }
        SdkError::ConstructionFailure(_) => {
            let text = DisplayErrorContext(&err).to_string();
            let kind = if no_credentials(&err) {
                ErrorKind::Auth
            } else {
                ErrorKind::InvalidRequest
            };
            (kind, format!("{call}: {text}"), None)
        }
        // An answer the SDK could not read (not an AWS error document).
        _ => match answer {
            Some(answer) => {
                // By its status (a 2xx the SDK could not read is fatal).
                let kind = answer.kind();
                let message = if answer.status < 300 {
                    format!(
                        "{call}: HTTP {}: an answer the SDK could not read",
                        answer.status
                    )
                } else {
                    format!("{call}: {}", answer.without_error())
                };
                (kind, message, answer.request_id)
            }
            None => (
                ErrorKind::Fatal,
                format!("{call}: an answer the SDK could not read"),
                None,
            ),
        },
    };
    // An SDK error holding a response is not kept as the source: its `Debug`
    // quotes every response header.
    let mut e = error(kind, message);
    if !had_answer {
        e = e.with_source(err);
    }
    if let Some(id) = request_id {
        e = e.with_request_id(id);
    }
    e
}

/// Whether the error says "this endpoint, not the request": ARC's
/// `EndpointTemporarilyUnavailableException`, or the endpoint could not be reached.
#[cfg(feature = "arc")]
pub(crate) fn is_endpoint_down(e: &ProviderError) -> bool {
    e.message()
        .contains("EndpointTemporarilyUnavailableException")
        || e.message().contains("could not reach AWS")
        || matches!(e.kind(), ErrorKind::Timeout)
}

/// A failed `UpdateRoutingControlStates`: a `ConflictException` is a safety rule
/// refusing the change, and the message names the rule (ARC puts it in
/// `resourceId`); everything else as [`from_sdk`].
#[cfg(feature = "arc")]
pub(crate) fn from_arc_update(
    endpoint: &str,
    err: SdkError<
        aws_sdk_route53recoverycluster::operation::update_routing_control_states::UpdateRoutingControlStatesError,
        HttpResponse,
    >,
) -> ProviderError {
    use aws_sdk_route53recoverycluster::operation::update_routing_control_states::UpdateRoutingControlStatesError as E;
    let call = format!("ARC UpdateRoutingControlStates at {endpoint}");
    if let Some(E::ConflictException(c)) = err.as_service_error() {
        let message = format!(
            "{call}: ConflictException: a safety rule refused the change: rule {} ({}): {}",
            c.resource_id(),
            c.resource_type(),
            c.message()
        );
        let id = c.meta().request_id().map(str::to_string);
        let mut e = error(ErrorKind::Conflict, message).with_source(err);
        if let Some(id) = id {
            e = e.with_request_id(id);
        }
        return e;
    }
    from_sdk(&call, err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds() {
        assert_eq!(
            kind_of_code("Throttling"),
            Some(ErrorKind::Throttled { retry_after: None })
        );
        assert_eq!(kind_of_code("AccessDenied"), Some(ErrorKind::Auth));
        assert_eq!(
            kind_of_code("DBInstanceNotFound"),
            Some(ErrorKind::NotFound)
        );
        assert_eq!(
            kind_of_code("InvalidInstanceID.NotFound"),
            Some(ErrorKind::NotFound)
        );
        assert_eq!(kind_of_code("NoSuchBucket"), Some(ErrorKind::NotFound));
        assert_eq!(
            kind_of_code("InvalidDBInstanceState"),
            Some(ErrorKind::Conflict)
        );
        assert_eq!(kind_of_code("InvalidParameterValue"), None);
        assert_eq!(kind_of_status(503), ErrorKind::Transient);
        assert_eq!(kind_of_status(400), ErrorKind::InvalidRequest);
    }

    #[test]
    fn missing_credentials_are_auth_and_a_lost_connection_is_transient() {
        // Any service's operation error; the SDK-neutral one keeps this test
        // whatever the features.
        use aws_smithy_runtime_api::client::result::ConnectorError;
        use aws_smithy_types::error::ErrorMetadata as OperationError;
        let no_creds: SdkError<OperationError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::other(
                std::io::Error::other(
                    "failed to load credentials: no providers in chain provided credentials",
                )
                .into(),
                None,
            ));
        let e = from_sdk("S3 GetObject", no_creds);
        assert_eq!(e.kind(), &ErrorKind::Auth, "{e}");
        #[cfg(feature = "arc")]
        assert!(!is_endpoint_down(&e));
        let refused: SdkError<OperationError, HttpResponse> = SdkError::dispatch_failure(
            ConnectorError::io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into()),
        );
        let e = from_sdk("S3 GetObject", refused);
        assert_eq!(e.kind(), &ErrorKind::Transient, "{e}");
        #[cfg(feature = "arc")]
        assert!(is_endpoint_down(&e));
        assert_eq!(e.provider(), Some(PROVIDER));
    }

    #[test]
    fn every_error_is_made_here_and_names_the_provider() {
        assert_eq!(error(ErrorKind::Conflict, "x").provider(), Some(PROVIDER));
        #[cfg(feature = "route53")]
        assert_eq!(conflict("x").provider(), Some(PROVIDER));
        #[cfg(feature = "route53")]
        assert_eq!(invalid("x").kind(), &ErrorKind::InvalidRequest);
        for (file, text) in [
            ("client.rs", include_str!("client.rs")),
            ("config.rs", include_str!("config.rs")),
            ("route53/mod.rs", include_str!("route53/mod.rs")),
            ("route53/config.rs", include_str!("route53/config.rs")),
            ("route53/router.rs", include_str!("route53/router.rs")),
            ("route53/probe.rs", include_str!("route53/probe.rs")),
            ("arc/mod.rs", include_str!("arc/mod.rs")),
            ("arc/config.rs", include_str!("arc/config.rs")),
            ("arc/router.rs", include_str!("arc/router.rs")),
            ("arc/action.rs", include_str!("arc/action.rs")),
            ("rds/mod.rs", include_str!("rds/mod.rs")),
            ("rds/config.rs", include_str!("rds/config.rs")),
            ("rds/store.rs", include_str!("rds/store.rs")),
            ("rds/replicator.rs", include_str!("rds/replicator.rs")),
            ("rds/aurora.rs", include_str!("rds/aurora.rs")),
            ("s3/mod.rs", include_str!("s3/mod.rs")),
            ("s3/config.rs", include_str!("s3/config.rs")),
            ("s3/replicator.rs", include_str!("s3/replicator.rs")),
            ("ec2/mod.rs", include_str!("ec2/mod.rs")),
            ("ec2/config.rs", include_str!("ec2/config.rs")),
            ("ec2/action.rs", include_str!("ec2/action.rs")),
            ("autoscaling/mod.rs", include_str!("autoscaling/mod.rs")),
            (
                "autoscaling/config.rs",
                include_str!("autoscaling/config.rs"),
            ),
            (
                "autoscaling/action.rs",
                include_str!("autoscaling/action.rs"),
            ),
            ("cloudwatch/mod.rs", include_str!("cloudwatch/mod.rs")),
            ("cloudwatch/config.rs", include_str!("cloudwatch/config.rs")),
            ("cloudwatch/probe.rs", include_str!("cloudwatch/probe.rs")),
            ("cloudwatch/metric.rs", include_str!("cloudwatch/metric.rs")),
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
}
