//! Redis errors mapped to [`ProviderError`] kinds, and every other error this crate
//! makes.
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
//!
//! Every [`ProviderError`] of this crate is made here ([`error`] and its
//! shorthands, [`from_redis`], [`from_poll`]), and this is the one place that names
//! the provider ([`PROVIDER`]), so an error says `redis` also when the crate is used
//! as a library, without an executor around it. The resource and the operation are
//! not set here: the dr-core executor, `dr status` and `dr plan` fill them in
//! ([`ProviderError::in_context`]) for every provider alike. What only this crate
//! knows goes into the message: the server (`host:port`) and Redis's own error code.

use dr_core::poll::PollError;
use dr_core::{ErrorKind, ProviderError};
use redis::{ErrorKind as RedisKind, RedisError, ServerErrorKind};

use crate::PROVIDER;

/// An error of `kind`, naming the provider.
pub(crate) fn error(kind: ErrorKind, message: impl Into<String>) -> ProviderError {
    ProviderError::new(kind, message).with_provider(PROVIDER)
}

/// A [`Fatal`](ErrorKind::Fatal) error: the server is not in the state a call left it in.
pub(crate) fn fatal(message: impl Into<String>) -> ProviderError {
    error(ErrorKind::Fatal, message)
}

/// A [`Transient`](ErrorKind::Transient) error: trying again later may succeed.
pub(crate) fn transient(message: impl Into<String>) -> ProviderError {
    error(ErrorKind::Transient, message)
}

/// A [`Conflict`](ErrorKind::Conflict) error: the server's role forbids the call.
pub(crate) fn conflict(message: impl Into<String>) -> ProviderError {
    error(ErrorKind::Conflict, message)
}

/// An [`InvalidRequest`](ErrorKind::InvalidRequest) error: the settings cannot do this.
pub(crate) fn invalid(message: impl Into<String>) -> ProviderError {
    error(ErrorKind::InvalidRequest, message)
}

/// A [`poll::until`](dr_core::poll::until) that did not finish, as an error.
pub(crate) fn from_poll(err: PollError) -> ProviderError {
    ProviderError::from(err).or_provider(PROVIDER)
}

/// The TLS error under `err`, when a TLS handshake failed (a certificate no CA in
/// `ca_file` signed, a client certificate the server requires or rejects, no common
/// protocol version).
fn tls_error<'a>(err: &'a RedisError) -> Option<&'a rustls::Error> {
    type Shared = std::sync::Arc<dyn std::error::Error + Send + Sync>;
    let io_inner = |e: &'a (dyn std::error::Error + 'static)| {
        e.downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    };
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<rustls::Error>() {
            return Some(t);
        }
        if let Some(t) = io_inner(e) {
            return Some(t);
        }
        // redis keeps an I/O error as an `Arc<dyn Error>`, which is its source.
        if let Some(t) = e.downcast_ref::<Shared>().and_then(|arc| {
            let inner: &(dyn std::error::Error + 'static) = arc.as_ref();
            io_inner(inner)
        }) {
            return Some(t);
        }
        cur = e.source();
    }
    None
}

/// What to check for a failed TLS handshake.
fn tls_hint(err: &rustls::Error) -> &'static str {
    match err {
        rustls::Error::InvalidCertificate(_) => {
            "the server's certificate is not trusted: set `ca_file` to the CA bundle that \
             signed it (the system roots are used without it), and use the host name the \
             certificate names"
        }
        rustls::Error::AlertReceived(_) | rustls::Error::NoCertificatesPresented => {
            "the server refused the handshake: it may require a client certificate \
             (`cert_file`/`key_file`) signed by a CA it trusts"
        }
        _ => "check `ca_file`, `cert_file` and `key_file`",
    }
}

/// The [`ErrorKind`] of a Redis client error.
pub(crate) fn kind_of(err: &RedisError) -> ErrorKind {
    if tls_error(err).is_some() {
        // Retrying the same handshake cannot help: the settings must change.
        return ErrorKind::Auth;
    }
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
        _ if is_unknown_command(err) => ErrorKind::InvalidRequest,
        _ => ErrorKind::Fatal,
    }
}

/// A [`ProviderError`] for `err`, raised while talking to `server` (`host:port`).
pub(crate) fn from_redis(err: RedisError, server: &str) -> ProviderError {
    let kind = kind_of(&err);
    let message = if let Some(tls) = tls_error(&err) {
        format!("{server}: TLS handshake failed: {tls}; {}", tls_hint(tls))
    } else if err.is_connection_refusal() {
        format!("{server} could not be reached: connection refused")
    } else if matches!(kind, ErrorKind::Transient | ErrorKind::Timeout) && err.code().is_none() {
        format!("{server} could not be reached: {err}")
    } else {
        format!("{server}: {err}")
    };
    error(kind, message).with_source(err)
}

/// The commands a managed cache's service forbids (Azure Cache for Redis disables
/// them, ElastiCache renames them).
pub(crate) const MANAGED_FORBIDS: [&str; 4] = ["REPLICAOF", "SLAVEOF", "FAILOVER", "CONFIG"];

/// Whether `err` is `ERR unknown command` (a command the server lacks, or one
/// disabled or renamed).
fn is_unknown_command(err: &RedisError) -> bool {
    matches!(
        err.kind(),
        RedisKind::Server(ServerErrorKind::ResponseError)
    ) && err
        .detail()
        .is_some_and(|d| d.to_ascii_lowercase().starts_with("unknown command"))
}

/// The error of a managed cache refusing `command`: what the service forbids and
/// what to use instead. Kind `invalid_request`: retrying cannot help.
pub(crate) fn managed_forbids(server: &str, command: &str) -> ProviderError {
    invalid(format!(
        "{server}: the service forbids {command}: this is a managed cache (Azure Cache for \
         Redis, ElastiCache) or {command} is disabled or renamed; fail it over with the \
         service's own geo-replication (the azure/aws provider) and set `managed = true` on \
         this resource (probe, role and flush only)"
    ))
}

/// A [`ProviderError`] for `err`, raised by `command` (upper case; empty when not a
/// command) on `server`: a command a managed cache forbids gets [`managed_forbids`].
pub(crate) fn from_redis_in(err: RedisError, server: &str, command: &str) -> ProviderError {
    if MANAGED_FORBIDS.contains(&command) && is_unknown_command(&err) {
        return managed_forbids(server, command).with_source(err);
    }
    from_redis(err, server)
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
    fn every_error_is_made_here_and_names_the_provider() {
        assert_eq!(fatal("x").provider(), Some(PROVIDER));
        assert_eq!(conflict("x").kind(), &ErrorKind::Conflict);
        assert_eq!(invalid("x").provider(), Some(PROVIDER));
        let timed_out = dr_core::poll::PollError::TimedOut(ProviderError::transient("slow"));
        assert_eq!(from_poll(timed_out).provider(), Some(PROVIDER));
        // The other files build errors with the functions above, never with
        // `ProviderError`'s own constructors, which would not name the provider.
        for (file, text) in [
            ("client.rs", include_str!("client.rs")),
            ("store.rs", include_str!("store.rs")),
            ("replicator.rs", include_str!("replicator.rs")),
            ("probe.rs", include_str!("probe.rs")),
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
    fn a_failed_tls_handshake_is_an_auth_error_with_a_hint() {
        let bad_cert = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let e = RedisError::from(io::Error::new(io::ErrorKind::InvalidData, bad_cert));
        assert_eq!(kind_of(&e), ErrorKind::Auth);
        let e = from_redis(e, "cache:6380");
        assert!(!e.is_retryable());
        assert!(e.message().contains("TLS handshake failed"), "{e}");
        assert!(e.message().contains("ca_file"), "{e}");
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        let e = from_redis(
            RedisError::from(io::Error::new(io::ErrorKind::InvalidData, alert)),
            "cache:6380",
        );
        assert_eq!(e.kind(), &ErrorKind::Auth);
        assert!(e.message().contains("cert_file"), "{e}");
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
    fn a_command_a_managed_cache_forbids_says_so_and_what_to_use() {
        let parse = |reply: &str| -> RedisError {
            let v = redis::parse_redis_value(reply.as_bytes()).unwrap();
            v.extract_error().unwrap_err()
        };
        let unknown = "-ERR unknown command 'REPLICAOF', with args beginning with: 'NO' 'ONE' \r\n";
        let e = from_redis_in(parse(unknown), "cache:6380", "REPLICAOF");
        assert_eq!(e.kind(), &ErrorKind::InvalidRequest);
        assert!(!e.is_retryable());
        for said in ["forbids REPLICAOF", "managed = true", "geo-replication"] {
            assert!(e.message().contains(said), "{said} in {e}");
        }
        // Another unknown command is just that; another error of REPLICAOF too.
        let other = from_redis_in(parse(unknown), "cache:6380", "GET");
        assert!(!other.message().contains("managed"), "{other}");
        let busy = from_redis_in(parse("-LOADING loading\r\n"), "cache:6380", "CONFIG");
        assert_eq!(busy.kind(), &ErrorKind::Transient);
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
