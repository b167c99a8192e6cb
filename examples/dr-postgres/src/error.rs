//! PostgreSQL errors mapped to [`ProviderError`] kinds, and every other error this
//! crate makes.
//!
//! | PostgreSQL says | kind | why |
//! |---|---|---|
//! | connection refused, reset, closed, other I/O; SQLSTATE class 08 | `transient` | the server may come back (a restart, a failover in progress) |
//! | `57P01` admin shutdown, `57P02` crash shutdown, `57P03` cannot connect now, `53300` too many connections, `40001`/`40P01` | `transient` | the server is stopping, starting or busy |
//! | no answer within `timeout`; `57014` query canceled | `timeout` | |
//! | `28P01` wrong password, `28000` no such user / `pg_hba.conf` rejects, `42501` insufficient privilege | `auth` | retrying with the same credentials cannot help |
//! | `25006` read-only transaction, `55000` object not in prerequisite state | `conflict` | the server refuses the call in its current role (a fenced primary, a standby) |
//! | `42883` undefined function | `invalid_request` | the server lacks the function (PostgreSQL older than 12 has no `pg_promote`) |
//! | anything else | `fatal` | |
//!
//! Every [`ProviderError`] of this crate is made here, and this is the one place
//! that names the provider ([`PROVIDER`]). The executor fills in the resource and
//! the operation; the message says which server (`host:port`), what was being
//! done, and PostgreSQL's SQLSTATE, which is what a DBA searches for. A
//! PostgreSQL error never contains the password, and this crate never prints a
//! connection string.

use std::time::Duration;

use dr_core::poll::PollError;
use dr_core::{ErrorKind, ProviderError};
use tokio_postgres::error::SqlState;

use crate::PROVIDER;

/// An error of `kind`, naming the provider.
pub(crate) fn error(kind: ErrorKind, message: impl Into<String>) -> ProviderError {
    ProviderError::new(kind, message).with_provider(PROVIDER)
}

/// A [`Fatal`](ErrorKind::Fatal) error: the server is not in the state a call left it in.
pub(crate) fn fatal(message: impl Into<String>) -> ProviderError {
    error(ErrorKind::Fatal, message)
}

/// A [`Conflict`](ErrorKind::Conflict) error: the servers are not in a state
/// that allows the call.
pub(crate) fn conflict(message: impl Into<String>) -> ProviderError {
    error(ErrorKind::Conflict, message)
}

/// An [`InvalidRequest`](ErrorKind::InvalidRequest) error: the settings cannot do this.
pub(crate) fn invalid(message: impl Into<String>) -> ProviderError {
    error(ErrorKind::InvalidRequest, message)
}

/// No answer from `addr` within `limit` while doing `what`.
pub(crate) fn timeout(addr: &str, what: &str, limit: Duration) -> ProviderError {
    error(
        ErrorKind::Timeout,
        format!("{addr}: {what}: no answer within {limit:?}"),
    )
}

/// A [`poll::until`](dr_core::poll::until) that did not finish, as an error.
pub(crate) fn from_poll(err: PollError) -> ProviderError {
    ProviderError::from(err).or_provider(PROVIDER)
}

/// The [`ErrorKind`] of a client error.
pub(crate) fn kind_of(err: &tokio_postgres::Error) -> ErrorKind {
    let Some(db) = err.as_db_error() else {
        // No answer from the server: refused, reset, closed, TLS, protocol.
        return if err.is_closed() || io_source(err) {
            ErrorKind::Transient
        } else {
            ErrorKind::Fatal
        };
    };
    let code = db.code();
    if code.code().starts_with("08") {
        return ErrorKind::Transient;
    }
    match *code {
        SqlState::ADMIN_SHUTDOWN
        | SqlState::CRASH_SHUTDOWN
        | SqlState::CANNOT_CONNECT_NOW
        | SqlState::TOO_MANY_CONNECTIONS
        | SqlState::T_R_SERIALIZATION_FAILURE
        | SqlState::T_R_DEADLOCK_DETECTED => ErrorKind::Transient,
        SqlState::QUERY_CANCELED => ErrorKind::Timeout,
        SqlState::INVALID_PASSWORD
        | SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        | SqlState::INSUFFICIENT_PRIVILEGE => ErrorKind::Auth,
        SqlState::READ_ONLY_SQL_TRANSACTION | SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE => {
            ErrorKind::Conflict
        }
        SqlState::UNDEFINED_FUNCTION => ErrorKind::InvalidRequest,
        _ => ErrorKind::Fatal,
    }
}

fn io_source(err: &tokio_postgres::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = cur {
        if e.is::<std::io::Error>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// A client error from `addr` while doing `what`.
pub(crate) fn from_pg(addr: &str, what: &str, err: &tokio_postgres::Error) -> ProviderError {
    let detail = match err.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => match std::error::Error::source(err) {
            Some(source) => format!("{err}: {source}"),
            None => err.to_string(),
        },
    };
    error(kind_of(err), format!("{addr}: {what}: {detail}"))
}
