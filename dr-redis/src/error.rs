//! Redis errors mapped to [`ProviderError`] kinds.
//!
//! | Redis says | kind | why |
//! |---|---|---|
//! | connection refused, reset, closed, other I/O | `transient` | the server may come back (a restart, a failover in progress) |
//! | I/O timeout | `timeout` | |
//! | `WRONGPASS`, `NOAUTH`, `NOPERM`, failed `AUTH` | `auth` | retrying with the same password cannot help |
//! | `LOADING`, `BUSY`, `MASTERDOWN`, `TRYAGAIN` | `transient` | the server is starting or busy |
//! | `READONLY`, `NOREPLICAS` | `conflict` | the server refuses writes in its current role (a fenced primary, a replica) |
//! | `ERR unknown command` | `invalid_request` | the server lacks the command (or it is renamed/disabled) |
//! | anything else | `fatal` | |

use dr_core::{ErrorKind, ProviderError};
use redis::{ErrorKind as RedisKind, RedisError, ServerErrorKind};

/// The provider name every error carries.
pub(crate) const PROVIDER: &str = "redis";

/// The [`ErrorKind`] of a Redis client error.
pub(crate) fn kind_of(err: &RedisError) -> ErrorKind {
    if err.is_timeout() {
        return ErrorKind::Timeout;
    }
    if err.is_connection_refusal() || err.is_connection_dropped() || err.is_io_error() {
        return ErrorKind::Transient;
    }
    match err.code() {
        Some("WRONGPASS" | "NOAUTH" | "NOPERM") => return ErrorKind::Auth,
        Some("BUSY" | "LOADING" | "MASTERDOWN" | "TRYAGAIN") => return ErrorKind::Transient,
        Some("NOREPLICAS" | "READONLY") => return ErrorKind::Conflict,
        _ => {}
    }
    match err.kind() {
        RedisKind::AuthenticationFailed => ErrorKind::Auth,
        RedisKind::InvalidClientConfig => ErrorKind::InvalidRequest,
        RedisKind::Server(ServerErrorKind::ResponseError)
            if err
                .detail()
                .is_some_and(|d| d.to_ascii_lowercase().starts_with("unknown command")) =>
        {
            ErrorKind::InvalidRequest
        }
        _ => ErrorKind::Fatal,
    }
}

/// A [`ProviderError`] for `err`, raised while talking to `server` (`host:port`).
pub(crate) fn from_redis(err: RedisError, server: &str) -> ProviderError {
    let kind = kind_of(&err);
    let message = if err.is_connection_refusal() {
        format!("{server} could not be reached: connection refused")
    } else if matches!(kind, ErrorKind::Transient | ErrorKind::Timeout) && err.code().is_none() {
        format!("{server} could not be reached: {err}")
    } else {
        format!("{server}: {err}")
    };
    ProviderError::new(kind, message)
        .with_provider(PROVIDER)
        .with_source(err)
}

/// Whether `err` says the server refuses writes in its role (`READONLY`, `NOREPLICAS`):
/// information about the server, not a failure of the call.
pub(crate) fn refuses_writes(err: &RedisError) -> bool {
    matches!(err.code(), Some("READONLY" | "NOREPLICAS"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn server_error(code: &str, detail: &str) -> RedisError {
        redis::make_extension_error(code.to_string(), Some(detail.to_string()))
    }

    #[test]
    fn io_errors_are_retryable() {
        let refused = RedisError::from(io::Error::new(io::ErrorKind::ConnectionRefused, "no"));
        assert_eq!(kind_of(&refused), ErrorKind::Transient);
        let e = from_redis(refused, "127.0.0.1:1");
        assert!(e.is_retryable());
        assert_eq!(e.provider(), Some("redis"));
        assert!(e.message().contains("could not be reached"), "{e}");

        let reset = RedisError::from(io::Error::new(io::ErrorKind::ConnectionReset, "rst"));
        assert_eq!(kind_of(&reset), ErrorKind::Transient);
        let timed_out = RedisError::from(io::Error::new(io::ErrorKind::TimedOut, "slow"));
        assert_eq!(kind_of(&timed_out), ErrorKind::Timeout);
    }

    #[test]
    fn server_codes_map_to_kinds() {
        for (code, kind) in [
            ("WRONGPASS", ErrorKind::Auth),
            ("NOAUTH", ErrorKind::Auth),
            ("NOPERM", ErrorKind::Auth),
            ("LOADING", ErrorKind::Transient),
            ("BUSY", ErrorKind::Transient),
            ("MASTERDOWN", ErrorKind::Transient),
            ("READONLY", ErrorKind::Conflict),
            ("NOREPLICAS", ErrorKind::Conflict),
            ("WEIRD", ErrorKind::Fatal),
        ] {
            assert_eq!(kind_of(&server_error(code, "x")), kind, "{code}");
        }
        assert!(refuses_writes(&server_error(
            "READONLY",
            "You can't write against a read only replica."
        )));
        assert!(!refuses_writes(&server_error("ERR", "syntax error")));
    }

    #[test]
    fn parsed_server_replies_map_to_kinds() {
        // The real parser's view of the replies, so the codes match what servers send.
        let parse = |reply: &str| -> RedisError {
            let v = redis::parse_redis_value(reply.as_bytes()).unwrap();
            v.extract_error().unwrap_err()
        };
        assert_eq!(
            kind_of(&parse("-WRONGPASS invalid username-password pair\r\n")),
            ErrorKind::Auth
        );
        assert_eq!(
            kind_of(&parse(
                "-READONLY You can't write against a read only replica.\r\n"
            )),
            ErrorKind::Conflict
        );
        assert_eq!(
            kind_of(&parse(
                "-ERR unknown command 'FAILOVER', with args beginning with: \r\n"
            )),
            ErrorKind::InvalidRequest
        );
        assert_eq!(
            kind_of(&parse("-ERR FAILOVER target replica is not online.\r\n")),
            ErrorKind::Fatal
        );
    }
}
