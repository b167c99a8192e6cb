//! The open extension point: named, idempotent operations the four traits do not cover.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::{ErrorKind, ProviderError};

/// One thing an [`Action::preflight`] looked at: whether it holds, and what
/// was seen or what is wrong (`group `web` max size 2 < desired 4`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Preflight {
    /// Whether it holds.
    pub ok: bool,
    /// What was seen, or what is wrong and how to fix it. Never a secret.
    pub message: String,
}

impl Preflight {
    /// It holds: `message` says what was seen.
    pub fn ok(message: impl Into<String>) -> Self {
        Preflight {
            ok: true,
            message: message.into(),
        }
    }

    /// It does not hold: `message` says what is wrong.
    pub fn not_ok(message: impl Into<String>) -> Self {
        Preflight {
            ok: false,
            message: message.into(),
        }
    }

    /// `ok` or not, as `holds` says.
    pub fn new(holds: bool, message: impl Into<String>) -> Self {
        Preflight {
            ok: holds,
            message: message.into(),
        }
    }
}

/// A named operation (`aws.ec2.start_instances`, `azure.webapp.set_settings`).
///
/// A plan step `action = "NAME"` with the step's other keys as settings is built
/// by the factory registered under `NAME` (see
/// [`Registry::action`](crate::Registry::action)).
///
/// # Contract
///
/// - `verify()` answers "is the desired state already in place?" without side
///   effects. The executor calls it before `run()` (and on resume), and skips `run()`
///   when it says yes, so an action that can tell makes itself idempotent.
/// - `run()` brings the desired state about and returns a JSON value recorded in the
///   journal and the audit log (never put secrets in it).
/// - `compensate()` undoes `run()` on rollback; actions that cannot be undone keep the
///   default (`compensable() == false`), and rollback reports them as not compensated.
/// - `describe()` says, for a dry run, what `run()` would do.
/// - `idempotent()`: running `run()` twice is the same as once. Only then does the
///   executor retry `run()` after a retryable error (it may have taken effect
///   before the error) or re-run it on `dr resume` after it was in flight when
///   the process died.
/// - `verifies()`: `verify()` reliably tells whether the effect is in place. The
///   executor then retries (and resumes) by asking `verify()` first, even when
///   the action is not idempotent. With neither, a possibly-applied `run()` is
///   never repeated without the operator's consent (`dr resume --rerun STEP`).
/// - `one_way()`: once `run()` succeeded, going back is unsafe (the old side
///   cannot live with it); a rollback stops at this step ("One-way doors").
/// - `preflight()`: what `dr check` asks before a run: whether what `run()`
///   needs holds now (the resource exists, the figures it sets fit its limits).
///   It reads only: no side effect, no state kept, and it must not need the
///   change to have happened (it runs before any step). Each [`Preflight`] is
///   one finding, ok or not, with a message that names the figures (never a
///   secret); an `Err` is a preflight that could not read, which `dr check`
///   reports as not ok. The default checks nothing.
#[async_trait]
pub trait Action: Send + Sync + Debug {
    /// What `run()` would do, for `dr plan` (`start 3 instances in us-west-2`).
    fn describe(&self) -> String;

    /// Whether the desired state is already in place.
    async fn verify(&self) -> Result<bool, ProviderError> {
        Ok(false)
    }

    /// Brings the desired state about.
    async fn run(&self) -> Result<serde_json::Value, ProviderError>;

    /// Whether running `run()` twice is the same as once (default false).
    fn idempotent(&self) -> bool {
        false
    }

    /// Whether [`verify`](Self::verify) reliably tells whether the effect is in
    /// place (default false: the default `verify` cannot tell).
    fn verifies(&self) -> bool {
        false
    }

    /// Read-only checks of what `run()` needs, for `dr check` (default: none).
    async fn preflight(&self) -> Result<Vec<Preflight>, ProviderError> {
        Ok(Vec::new())
    }

    /// Whether going back past this action is unsafe once it succeeded (default false).
    fn one_way(&self) -> bool {
        false
    }

    /// Whether [`compensate`](Self::compensate) can undo `run()`.
    fn compensable(&self) -> bool {
        false
    }

    /// Undoes `run()`.
    async fn compensate(&self) -> Result<(), ProviderError> {
        Err(ProviderError::new(
            ErrorKind::InvalidRequest,
            "this action cannot be compensated",
        ))
    }
}
