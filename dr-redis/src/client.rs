//! One Redis server: connecting with timeouts, commands with mapped errors, and
//! `INFO replication` parsed into what the store, replicator and probe decide on.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dr_core::{ErrorKind, ProviderError};
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ClientTlsConfig, ConnectionAddr, ConnectionInfo, FromRedisValue,
    IntoConnectionInfo, TlsCertificates,
};

use crate::error::{error, fatal, from_redis_in, invalid};

/// How many bytes of a server's answer to look at (and show) when it may not
/// speak Redis.
const SNIFF_BYTES: usize = 48;

/// The first byte of every RESP2/RESP3 reply.
const RESP_TYPES: &[u8] = b"+-:$*_,#!=(%~>|";

/// Whether a failed call may be a server that is not Redis: it timed out, or
/// its reply did not parse.
fn may_be_a_stranger(e: &redis::RedisError) -> bool {
    e.is_timeout()
        || matches!(
            e.kind(),
            redis::ErrorKind::Parse | redis::ErrorKind::UnexpectedReturnType
        )
        || e.is_connection_dropped()
}

/// `bytes` as text safe to show: invalid UTF-8 replaced, control characters
/// shown escaped (`\x0d\x0a`), cut with `…` at [`SNIFF_BYTES`].
fn shown_bytes(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut shown = dr_core::text::line(&text).into_owned();
    if bytes.len() >= SNIFF_BYTES {
        shown.push('…');
    }
    shown
}

/// `min-replicas-to-write` while a primary is fenced without a peer to follow: more
/// replicas than any deployment has, so every write gets `NOREPLICAS`.
pub(crate) const FENCE_MIN_REPLICAS: u64 = 1_000_000;

/// The TLS files of a resource (paths only; read on every connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    /// The CAs to trust instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// The client certificate and its key, for mutual TLS.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// How to authenticate with a server: ACL user, password, TLS files.
#[derive(Clone, Default)]
pub(crate) struct NodeAuth {
    pub username: Option<String>,
    pub password: Option<String>,
    pub tls: Option<TlsFiles>,
}

/// Reads one of the TLS files; an unreadable file is a setting to fix, not a
/// failure to retry. The message names the setting and the path, never the contents.
fn read_tls_file(setting: &str, path: &Path) -> Result<Vec<u8>, ProviderError> {
    std::fs::read(path)
        .map_err(|e| invalid(format!("cannot read {setting} `{}`: {e}", path.display())))
}

/// A Redis server and how to talk to it. Connections are opened per call (with the
/// configured timeout), so a server that restarts between calls is simply reached
/// again.
#[derive(Clone)]
pub(crate) struct RedisNode {
    info: ConnectionInfo,
    tls: Option<TlsFiles>,
    host: String,
    port: u16,
    timeout: Duration,
}

impl fmt::Debug for RedisNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// `redis://user:secret@host` → `redis://user:******@host`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:******{}", &url[..scheme_end], user, &rest[at..])
        }
        None => url.to_string(),
    }
}

impl RedisNode {
    /// Parses `url` (`redis://` or `rediss://`) without connecting.
    pub(crate) fn new(url: &str, auth: &NodeAuth, timeout: Duration) -> Result<Self, String> {
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(format!(
                "expected a redis:// or rediss:// URL, got `{}`",
                redact_url(url)
            ));
        }
        let mut info = url
            .into_connection_info()
            .map_err(|_| format!("unparsable Redis URL `{}`", redact_url(url)))?;
        let (host, port) = match info.addr() {
            ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
            ConnectionAddr::TcpTls { host, port, .. } => (host.clone(), *port),
            _ => return Err("only TCP servers are supported".into()),
        };
        if let Some(pw) = &auth.password {
            let settings = info.redis_settings().clone().set_password(pw);
            info = info.set_redis_settings(settings);
        }
        if let Some(user) = &auth.username {
            let settings = info.redis_settings().clone().set_username(user);
            info = info.set_redis_settings(settings);
        }
        Client::open(info.clone()).map_err(|e| format!("invalid Redis settings: {e}"))?;
        Ok(RedisNode {
            info,
            tls: auth.tls.clone(),
            host,
            port,
            timeout,
        })
    }

    /// The host as the URL names it.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// `host:port`, for messages.
    pub(crate) fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The connect and command timeout.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether `ip:port` (as another server reports it) is this server. A host name
    /// cannot be compared with an IP without resolving it, so only the port counts then.
    pub(crate) fn is(&self, ip: &str, port: u16) -> bool {
        if port != self.port {
            return false;
        }
        match (self.host.parse::<IpAddr>(), ip.parse::<IpAddr>()) {
            (Ok(a), Ok(b)) => a == b,
            _ if self.host.eq_ignore_ascii_case("localhost") => {
                ip.parse::<IpAddr>().is_ok_and(|i| i.is_loopback())
            }
            _ => true,
        }
    }

    /// The client, with the TLS files read now (so a rotated file is picked up).
    fn client(&self) -> Result<Client, ProviderError> {
        ensure_crypto_provider();
        let Some(tls) = &self.tls else {
            return Client::open(self.info.clone()).map_err(|e| from_redis_in(e, &self.addr(), ""));
        };
        let root_cert = match &tls.ca_file {
            Some(path) => Some(read_tls_file("ca_file", path)?),
            None => None,
        };
        let client_tls = match &tls.client {
            Some((cert, key)) => Some(ClientTlsConfig {
                client_cert: read_tls_file("cert_file", cert)?,
                client_key: read_tls_file("key_file", key)?,
            }),
            None => None,
        };
        Client::build_with_tls(
            self.info.clone(),
            TlsCertificates {
                client_tls,
                root_cert,
            },
        )
        .map_err(|e| {
            // A PEM that does not parse; the error names what, never the contents.
            invalid(format!(
                "{}: unusable TLS files (ca_file, cert_file, key_file): {e}",
                self.addr()
            ))
        })
    }

    /// A fresh connection, or an error saying the server could not be reached
    /// (or, when something answered but not as Redis, what it sent).
    pub(crate) async fn connect(&self) -> Result<MultiplexedConnection, ProviderError> {
        let client = self.client()?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        // The client's own timeouts cover connect and each reply; this one covers the
        // handshake (AUTH, HELLO) as a whole.
        let failed = match tokio::time::timeout(
            self.timeout * 2,
            client.get_multiplexed_async_connection_with_config(&config),
        )
        .await
        {
            Ok(Ok(conn)) => return Ok(conn),
            Ok(Err(e)) if !may_be_a_stranger(&e) => return Err(from_redis_in(e, &self.addr(), "")),
            Ok(Err(e)) => from_redis_in(e, &self.addr(), ""),
            Err(_) => error(
                ErrorKind::Timeout,
                format!(
                    "{} could not be reached: no connection within {:?}",
                    self.addr(),
                    self.timeout * 2
                ),
            ),
        };
        Err(self.not_redis().await.unwrap_or(failed))
    }

    /// Runs `cmd`, mapping a failure to a [`ProviderError`].
    pub(crate) async fn query<T: FromRedisValue>(
        &self,
        conn: &mut MultiplexedConnection,
        cmd: &redis::Cmd,
    ) -> Result<T, ProviderError> {
        match cmd.query_async(conn).await {
            Ok(v) => Ok(v),
            Err(e) if may_be_a_stranger(&e) => {
                let failed = from_redis_in(e, &self.addr(), &command_name(cmd));
                Err(self.not_redis().await.unwrap_or(failed))
            }
            Err(e) => Err(from_redis_in(e, &self.addr(), &command_name(cmd))),
        }
    }

    /// When the server answers a `PING` with something that is not Redis's
    /// protocol (an HTTP server, an SSH banner, a wrong port): an error naming
    /// the bytes it sent, made safe to show. `None` when it answers like
    /// Redis, does not answer, or speaks TLS (whose bytes say nothing).
    async fn not_redis(&self) -> Option<ProviderError> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        if self.tls.is_some() || matches!(self.info.addr(), ConnectionAddr::TcpTls { .. }) {
            return None;
        }
        let seen = tokio::time::timeout(self.timeout, async {
            let mut s = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
                .await
                .ok()?;
            s.write_all(b"PING\r\n").await.ok()?;
            let mut buf = vec![0u8; SNIFF_BYTES];
            let n = s.read(&mut buf).await.ok()?;
            buf.truncate(n);
            Some(buf)
        })
        .await
        .ok()
        .flatten()?;
        let first = *seen.first()?;
        if RESP_TYPES.contains(&first) {
            return None;
        }
        Some(fatal(format!(
            "{} answered, but not as Redis: it sent `{}` (a wrong host or port?)",
            self.addr(),
            shown_bytes(&seen)
        )))
    }

    /// Runs `cmd` and returns the raw outcome (for callers that treat some server
    /// errors, e.g. `READONLY`, as information).
    pub(crate) async fn try_query<T: FromRedisValue>(
        conn: &mut MultiplexedConnection,
        cmd: &redis::Cmd,
    ) -> redis::RedisResult<T> {
        cmd.query_async(conn).await
    }

    /// `INFO replication`, parsed.
    pub(crate) async fn info(
        &self,
        conn: &mut MultiplexedConnection,
    ) -> Result<ReplInfo, ProviderError> {
        let text: String = self
            .query(conn, redis::cmd("INFO").arg("replication"))
            .await?;
        ReplInfo::parse(&text)
            .map_err(|e| fatal(format!("{}: unexpected INFO replication: {e}", self.addr())))
    }

    /// Whether the server holds no key at all (`INFO keyspace` lists no database).
    pub(crate) async fn holds_nothing(
        &self,
        conn: &mut MultiplexedConnection,
    ) -> Result<bool, ProviderError> {
        let text: String = self.query(conn, redis::cmd("INFO").arg("keyspace")).await?;
        Ok(!text.lines().any(|l| l.starts_with("db")))
    }

    /// Connects and reads `INFO replication`.
    pub(crate) async fn replication(&self) -> Result<ReplInfo, ProviderError> {
        let mut conn = self.connect().await?;
        self.info(&mut conn).await
    }

    /// `CONFIG GET name` as a number.
    pub(crate) async fn config_u64(
        &self,
        conn: &mut MultiplexedConnection,
        name: &str,
    ) -> Result<u64, ProviderError> {
        let map: HashMap<String, String> = self
            .query(conn, redis::cmd("CONFIG").arg("GET").arg(name))
            .await?;
        map.get(name)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| fatal(format!("{}: CONFIG GET {name} gave no number", self.addr())))
    }

    /// Whether the server accepts writes, judged from its role and the
    /// `min-replicas-to-write` guard (no write is attempted).
    pub(crate) async fn writable(
        &self,
        conn: &mut MultiplexedConnection,
        info: &ReplInfo,
    ) -> Result<bool, ProviderError> {
        match &info.role {
            NodeRole::Replica(_) => Ok(false),
            NodeRole::Master { .. } => match info.min_slaves_good_slaves {
                // Only reported while both min-replicas settings are non-zero.
                None => Ok(true),
                Some(good) => {
                    let needed = self.config_u64(conn, "min-replicas-to-write").await?;
                    Ok(good >= needed)
                }
            },
        }
    }
}

/// The name of `cmd` (`REPLICAOF`, `CONFIG`, ...), upper case.
pub(crate) fn command_name(cmd: &redis::Cmd) -> String {
    match cmd.args_iter().next() {
        Some(redis::Arg::Simple(name)) => String::from_utf8_lossy(name).to_ascii_uppercase(),
        _ => String::new(),
    }
}

/// What `INFO replication` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReplInfo {
    /// The server's role and the role-specific fields.
    pub role: NodeRole,
    /// The server's replication offset (on a replica: what it has applied).
    pub master_repl_offset: u64,
    /// `master_replid`: the current replication history's id.
    pub replid: Option<String>,
    /// `master_replid2`: the history this server followed before it was
    /// promoted (all zeros when none).
    pub replid2: Option<String>,
    /// `second_repl_offset`: one past the last offset of `replid2`'s history
    /// this server has (`-1` when none).
    pub second_repl_offset: Option<i64>,
    /// `min_slaves_good_slaves`, present only while the min-replicas guard is on.
    pub min_slaves_good_slaves: Option<u64>,
    /// `master_failover_state` (Redis ≥ 6.2): `no-failover`, `waiting-for-sync`, `failover-in-progress`.
    pub failover_state: Option<String>,
}

/// The role part of [`ReplInfo`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NodeRole {
    /// `role:master`, with its connected replicas.
    Master {
        /// `slaveN:` lines.
        replicas: Vec<ReplicaEntry>,
    },
    /// `role:slave`.
    Replica(ReplicaSide),
}

/// A replica's view of its link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReplicaSide {
    pub master_host: String,
    pub master_port: u16,
    /// `master_link_status:up`.
    pub link_up: bool,
    /// `master_last_io_seconds_ago` (absent or -1 while the link is down).
    pub last_io_secs: Option<u64>,
    /// `master_link_down_since_seconds` while the link is down (-1 = never connected).
    pub down_since_secs: Option<u64>,
    /// `slave_repl_offset`: how much of the primary's stream it has.
    pub offset: u64,
    /// `master_sync_in_progress:1`: a full resync is running.
    pub sync_in_progress: bool,
}

/// One `slaveN:ip=..,port=..,state=..,offset=..,lag=..` line on a primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReplicaEntry {
    pub ip: String,
    pub port: u16,
    /// `online`, `wait_bgsave`, `send_bulk`, ...
    pub state: String,
    pub offset: u64,
    /// Seconds since the replica's last `REPLCONF ACK`.
    pub lag_secs: Option<u64>,
}

impl ReplicaEntry {
    fn parse(value: &str) -> Result<Self, String> {
        let fields: HashMap<&str, &str> = value
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let get = |k: &str| {
            fields
                .get(k)
                .copied()
                .ok_or(format!("no `{k}` in `{value}`"))
        };
        Ok(ReplicaEntry {
            ip: get("ip")?.to_string(),
            port: get("port")?
                .parse()
                .map_err(|_| format!("bad port in `{value}`"))?,
            state: get("state")?.to_string(),
            offset: get("offset")?
                .parse()
                .map_err(|_| format!("bad offset in `{value}`"))?,
            lag_secs: fields.get("lag").and_then(|l| l.parse().ok()),
        })
    }
}

impl ReplInfo {
    /// Parses the text of `INFO replication`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let fields: HashMap<&str, &str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once(':'))
            .collect();
        let get = |k: &str| fields.get(k).copied();
        let num = |k: &str| -> Result<u64, String> {
            get(k)
                .ok_or(format!("no `{k}`"))?
                .parse()
                .map_err(|_| format!("`{k}` is not a number"))
        };
        // -1 means "not known / not applicable".
        let opt_num = |k: &str| {
            get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .and_then(|v| u64::try_from(v).ok())
        };

        let role = match get("role") {
            Some("master") => {
                let mut replicas = Vec::new();
                let count = get("connected_slaves")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                for i in 0..count {
                    if let Some(v) = get(&format!("slave{i}")) {
                        replicas.push(ReplicaEntry::parse(v)?);
                    }
                }
                NodeRole::Master { replicas }
            }
            Some("slave") => NodeRole::Replica(ReplicaSide {
                master_host: get("master_host").ok_or("no `master_host`")?.to_string(),
                master_port: num("master_port")?
                    .try_into()
                    .map_err(|_| "`master_port` out of range")?,
                link_up: get("master_link_status") == Some("up"),
                last_io_secs: opt_num("master_last_io_seconds_ago"),
                down_since_secs: opt_num("master_link_down_since_seconds"),
                offset: opt_num("slave_repl_offset").unwrap_or(0),
                sync_in_progress: get("master_sync_in_progress") == Some("1"),
            }),
            Some(other) => return Err(format!("unknown role `{other}`")),
            None => return Err("no `role`".into()),
        };
        Ok(ReplInfo {
            role,
            master_repl_offset: num("master_repl_offset")?,
            replid: get("master_replid").map(str::to_string),
            replid2: get("master_replid2").map(str::to_string),
            second_repl_offset: get("second_repl_offset").and_then(|v| v.trim().parse().ok()),
            min_slaves_good_slaves: opt_num("min_slaves_good_slaves"),
            failover_state: get("master_failover_state").map(str::to_string),
        })
    }

    /// How many bytes `old` wrote past the point where this server, promoted
    /// from `old`'s history, left it: this server's `master_replid2` is that
    /// history and `second_repl_offset` one past the last byte of it this
    /// server has. `None` when `old` does not write that history any more (it
    /// restarted) or this server was never promoted from it.
    pub(crate) fn divergence_of(&self, old: &ReplInfo) -> Option<u64> {
        match (&self.replid2, self.second_repl_offset, &old.replid) {
            (Some(left), Some(at), Some(theirs)) if left == theirs && at > 0 => {
                let had = u64::try_from(at - 1).ok()?;
                Some(old.master_repl_offset.saturating_sub(had))
            }
            _ => None,
        }
    }

    /// The replica side, when the server is a replica.
    pub(crate) fn replica(&self) -> Option<&ReplicaSide> {
        match &self.role {
            NodeRole::Replica(side) => Some(side),
            NodeRole::Master { .. } => None,
        }
    }

    /// The connected replicas, when the server is a primary.
    pub(crate) fn replicas(&self) -> &[ReplicaEntry] {
        match &self.role {
            NodeRole::Master { replicas } => replicas,
            NodeRole::Replica(_) => &[],
        }
    }

    /// Whether the server is a primary.
    pub(crate) fn is_master(&self) -> bool {
        matches!(self.role, NodeRole::Master { .. })
    }
}

/// rustls needs one process-wide crypto provider for the configurations the
/// `redis` crate builds (`rediss://`). It picks one by itself only when exactly
/// one of its `ring` and `aws-lc-rs` features is compiled in, and a program that
/// also links the Azure SDK (whose reqwest enables `aws-lc-rs`) has both: then
/// every TLS connection would panic. Installs `ring` unless the program has
/// installed a provider of its own.
pub(crate) fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may win the race; either way one provider is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TCP server that answers anything with `reply` and then waits, as an
    /// HTTP server on a Redis port would.
    async fn stranger(reply: &'static [u8]) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 512];
                    let _ = s.read(&mut buf).await;
                    let _ = s.write_all(reply).await;
                    let _ = s.read(&mut buf).await;
                });
            }
        });
        port
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_that_is_not_redis_is_named_by_what_it_sent_not_as_a_timeout() {
        let port = stranger(b"HTTP/1.1 400 Bad Request\r\n\x1b[2J\r\n").await;
        let node = RedisNode::new(
            &format!("redis://127.0.0.1:{port}"),
            &NodeAuth::default(),
            Duration::from_millis(300),
        )
        .unwrap();
        let err = match node.connect().await {
            Err(e) => e,
            Ok(mut conn) => node.info(&mut conn).await.unwrap_err(),
        };
        let msg = err.message();
        assert!(msg.contains("answered, but not as Redis"), "{msg}");
        assert!(
            msg.contains("`HTTP/1.1 400 Bad Request\\x0d\\x0a\\x1b[2J\\x0d\\x0a`"),
            "{msg}"
        );
        assert!(!msg.chars().any(dr_core::text::is_unsafe), "{msg:?}");
        assert_ne!(err.kind(), &ErrorKind::Timeout, "{err}");
    }

    #[test]
    fn shown_bytes_are_safe_and_cut() {
        assert_eq!(shown_bytes(b"SSH-2.0-x\r\n"), "SSH-2.0-x\\x0d\\x0a");
        assert_eq!(shown_bytes(&[0xff, b'a']), "\u{fffd}a");
        assert!(shown_bytes(&[b'a'; SNIFF_BYTES]).ends_with('…'));
    }

    // Verbatim from redis-server 7.0.15 (a primary with one replica, then that replica).
    const PRIMARY: &str = "# Replication\r\nrole:master\r\nconnected_slaves:1\r\n\
        slave0:ip=127.0.0.1,port=6391,state=online,offset=1234,lag=0\r\n\
        master_failover_state:no-failover\r\n\
        master_replid:8d5a3f6e0c1b2a39485766554433221100ffeedd\r\n\
        master_replid2:0000000000000000000000000000000000000000\r\n\
        master_repl_offset:1300\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:1\r\n\
        repl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:1\r\nrepl_backlog_histlen:1300\r\n";

    const REPLICA_UP: &str = "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\n\
        master_port:6390\r\nmaster_link_status:up\r\nmaster_last_io_seconds_ago:3\r\n\
        master_sync_in_progress:0\r\nslave_read_repl_offset:1234\r\nslave_repl_offset:1234\r\n\
        slave_priority:100\r\nslave_read_only:1\r\nreplica_announced:1\r\nconnected_slaves:0\r\n\
        master_failover_state:no-failover\r\nmaster_repl_offset:1234\r\nsecond_repl_offset:-1\r\n";

    const REPLICA_DOWN: &str = "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\n\
        master_port:6390\r\nmaster_link_status:down\r\nmaster_last_io_seconds_ago:-1\r\n\
        master_sync_in_progress:0\r\nslave_read_repl_offset:1234\r\nslave_repl_offset:1234\r\n\
        master_link_down_since_seconds:7\r\nslave_priority:100\r\nslave_read_only:1\r\n\
        connected_slaves:0\r\nmaster_repl_offset:1234\r\n";

    #[test]
    fn parses_a_primary_with_a_replica() {
        let info = ReplInfo::parse(PRIMARY).unwrap();
        assert!(info.is_master());
        assert_eq!(info.master_repl_offset, 1300);
        assert_eq!(
            info.replicas(),
            &[ReplicaEntry {
                ip: "127.0.0.1".into(),
                port: 6391,
                state: "online".into(),
                offset: 1234,
                lag_secs: Some(0),
            }]
        );
        assert_eq!(info.failover_state.as_deref(), Some("no-failover"));
        assert_eq!(info.min_slaves_good_slaves, None);
    }

    #[test]
    fn parses_a_replica_with_the_link_up_and_down() {
        let up = ReplInfo::parse(REPLICA_UP).unwrap();
        let side = up.replica().unwrap();
        assert_eq!(
            (side.master_host.as_str(), side.master_port),
            ("127.0.0.1", 6390)
        );
        assert!(side.link_up);
        assert_eq!(side.last_io_secs, Some(3));
        assert_eq!(side.down_since_secs, None);
        assert_eq!(side.offset, 1234);

        let down = ReplInfo::parse(REPLICA_DOWN).unwrap();
        let side = down.replica().unwrap();
        assert!(!side.link_up);
        assert_eq!(side.last_io_secs, None, "-1 means unknown");
        assert_eq!(side.down_since_secs, Some(7));
    }

    #[test]
    fn reads_the_min_replicas_guard() {
        let text = format!("{PRIMARY}min_slaves_good_slaves:1\r\n");
        assert_eq!(
            ReplInfo::parse(&text).unwrap().min_slaves_good_slaves,
            Some(1)
        );
    }

    #[test]
    fn rejects_what_is_not_info_replication() {
        assert!(ReplInfo::parse("").is_err());
        assert!(ReplInfo::parse("role:sentinel\r\nmaster_repl_offset:0\r\n").is_err());
        assert!(ReplInfo::parse("role:slave\r\nmaster_repl_offset:0\r\n").is_err());
        let bad = PRIMARY.replace("offset=1234", "offset=x");
        assert!(ReplInfo::parse(&bad).is_err());
    }

    #[test]
    fn recognises_itself_in_a_replica_list() {
        let n = RedisNode::new(
            "redis://127.0.0.1:6391",
            &NodeAuth::default(),
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(n.is("127.0.0.1", 6391));
        assert!(!n.is("127.0.0.1", 6390));
        assert!(!n.is("10.0.0.1", 6391));
        let n = RedisNode::new(
            "redis://localhost:6391",
            &NodeAuth::default(),
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(n.is("127.0.0.1", 6391));
        let n = RedisNode::new(
            "rediss://cache.internal:6391",
            &NodeAuth::default(),
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(n.is("10.0.0.1", 6391));
    }

    #[test]
    fn redacts_url_passwords() {
        assert_eq!(redact_url("redis://:pw@h:1/0"), "redis://:******@h:1/0");
        assert_eq!(redact_url("rediss://u:pw@h:1"), "rediss://u:******@h:1");
        assert_eq!(redact_url("redis://h:1"), "redis://h:1");
    }
}
