//! Health probes: is a target serving?

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::ProviderError;

/// The verdict of one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Serving as expected.
    Healthy,
    /// Serving, but not fully (some origins or PoPs report failures).
    Degraded,
    /// Not serving.
    Unhealthy,
}

impl HealthStatus {
    /// `healthy`, `degraded` or `unhealthy`.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of [`HealthProbe::probe`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The verdict.
    pub status: HealthStatus,
    /// How long the check took, when it measured a round trip.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::duration::opt_millis"
    )]
    pub latency: Option<Duration>,
    /// A human explanation (`HTTP 503`, `connect 127.0.0.1:80: refused`).
    #[serde(default)]
    pub detail: String,
}

impl Health {
    /// A healthy result measured in `latency`.
    pub fn healthy(latency: Duration) -> Self {
        Health {
            status: HealthStatus::Healthy,
            latency: Some(latency),
            detail: String::new(),
        }
    }

    /// A degraded result.
    pub fn degraded(detail: impl Into<String>) -> Self {
        Health {
            status: HealthStatus::Degraded,
            latency: None,
            detail: detail.into(),
        }
    }

    /// An unhealthy result.
    pub fn unhealthy(detail: impl Into<String>) -> Self {
        Health {
            status: HealthStatus::Unhealthy,
            latency: None,
            detail: detail.into(),
        }
    }

    /// Replaces the detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    /// Whether the status is [`HealthStatus::Healthy`].
    pub fn is_healthy(&self) -> bool {
        self.status == HealthStatus::Healthy
    }
}

/// The local resource error in `err` or its sources, if any: out of file
/// descriptors (`EMFILE`, `ENFILE`), of buffer space or memory (`ENOBUFS`,
/// `ENOMEM`), of local ports (`EADDRNOTAVAIL`). Such a probe was not
/// attempted: it says nothing about the target, and a watch does not count it
/// as the target being down.
pub fn local_resource_error<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a std::io::Error> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && is_local_resource_error(io)
        {
            return Some(io);
        }
        next = e.source();
    }
    None
}

/// Whether `e` is a local resource error (see [`local_resource_error`]).
pub fn is_local_resource_error(e: &std::io::Error) -> bool {
    // Linux numbers: EMFILE, ENFILE, ENOBUFS, ENOMEM, EADDRNOTAVAIL.
    #[cfg(target_os = "linux")]
    const LOCAL: &[i32] = &[24, 23, 105, 12, 99];
    #[cfg(all(unix, not(target_os = "linux")))]
    const LOCAL: &[i32] = &[24, 23, 55, 12, 49];
    #[cfg(not(unix))]
    const LOCAL: &[i32] = &[];
    e.raw_os_error().is_some_and(|n| LOCAL.contains(&n))
        || e.kind() == std::io::ErrorKind::OutOfMemory
}

/// Tells whether a target is serving.
///
/// # Contract
///
/// - `probe` has no side effect on the system it observes, so the executor may call
///   it any number of times, from a dry run too.
/// - A target that was reached and is down is `Ok(Health { status: Unhealthy, .. })`,
///   not an error. `Err` means the probe could not decide (the provider's API
///   failed, credentials are wrong); a gate treats it as "not healthy yet" and keeps
///   polling, and the error's kind says whether that can change.
/// - A probe that could not even be attempted on this machine (no file
///   descriptor left for its socket, ...) is an `Err` whose source chain holds
///   the `io::Error` ([`local_resource_error`] finds it), never `Unhealthy`:
///   `dr watch` skips such a round instead of taking the target for down.
/// - `probe` returns within the probe's own configured timeout (plus scheduling
///   slack); it never hangs.
/// - `peek` is what a reader that must leave no trace calls (`dr status`): it
///   answers as `probe` would now, but advances no state the probe keeps for
///   itself (a scripted sequence, a counter of consecutive failures). The
///   default calls `probe`, which is right for every probe that keeps no such
///   state; a probe that does overrides `peek` (the sim's `sequence` probe
///   reports its next entry without consuming it). `peek` has the same timeout
///   and error rules as `probe`. A wrapper around another probe forwards `peek`
///   to the inner probe's `peek`, not to its own `probe`.
///
/// # Example
///
/// ```
/// use async_trait::async_trait;
/// use dr_core::{Health, HealthProbe, ProviderError};
///
/// #[derive(Debug)]
/// struct AlwaysUp;
///
/// #[async_trait]
/// impl HealthProbe for AlwaysUp {
///     async fn probe(&self) -> Result<Health, ProviderError> {
///         Ok(Health::healthy(std::time::Duration::ZERO))
///     }
/// }
/// ```
#[async_trait]
pub trait HealthProbe: Send + Sync + Debug {
    /// Checks the target once.
    async fn probe(&self) -> Result<Health, ProviderError>;

    /// Checks the target once without advancing any state of the probe's own
    /// (see the contract); by default, [`probe`](Self::probe).
    async fn peek(&self) -> Result<Health, ProviderError> {
        self.probe().await
    }
}

/// One probe of a round (`dr watch`, `[plan.after]`), bounded by `timeout`: its name, why it is down
/// (`None` when up; `unknown` when it could not be attempted on this
/// machine), and how long it took.
#[cfg(feature = "engine")]
pub(crate) async fn probe_once(
    name: String,
    probe: Option<std::sync::Arc<dyn HealthProbe>>,
    timeout: std::time::Duration,
) -> (String, Option<(&'static str, String)>, std::time::Duration) {
    let t0 = std::time::Instant::now();
    let down = match probe {
        None => Some(("error", "probe not built".to_string())),
        Some(p) => match tokio::time::timeout(timeout, p.probe()).await {
            Ok(Ok(h)) if h.status != HealthStatus::Unhealthy => None,
            Ok(Ok(h)) => Some(("unhealthy", h.detail)),
            Ok(Err(e)) if crate::local_resource_error(&e).is_some() => {
                Some(("unknown", format!("not attempted on this machine: {e}")))
            }
            Ok(Err(e)) => Some(("error", e.to_string())),
            Err(_) => Some((
                "timeout",
                format!("no answer within {}", crate::format_duration(timeout)),
            )),
        },
    };
    (name, down, t0.elapsed())
}
