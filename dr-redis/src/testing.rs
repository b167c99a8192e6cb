//! A test harness: real `redis-server` processes on free loopback ports, and a tiny
//! RESP client to look at them from outside the code under test.
//!
//! Enabled by the `testing` feature. The dr-redis tests and the workspace's
//! end-to-end tests use it; a plugin that talks to Redis can test with it too:
//!
//! ```toml
//! [dev-dependencies]
//! dr-redis = { version = "0.1", features = ["testing"] }
//! ```
//!
//! Each [`RedisServer`] runs `redis-server --port PORT --bind 127.0.0.1 --save ''
//! --appendonly no --repl-diskless-sync-delay 0` in its own temporary directory
//! (its log is `redis.log` there, see [`RedisServer::log`]) and is killed when it is
//! dropped, also when a test panics. A missing `redis-server` fails the test with
//! the command that installs it: the tests need a real Redis, so a missing one is a
//! setup error, never a silent skip.
//!
//! [`RedisServer::start_tls`] starts a TLS-only server (`--port 0 --tls-port PORT`,
//! `--tls-replication yes`) with certificates [`TlsFiles::generate`] makes per run
//! (a CA, a server certificate for `127.0.0.1`/`localhost`, a client certificate, an
//! unrelated CA), optionally with a password, an ACL user and required client
//! certificates ([`TlsOptions`]).
//!
//! The client ([`RedisServer::cmd`]) opens a fresh connection per command (TLS to a
//! TLS server, presenting the client certificate; `AUTH` first when the server has
//! a password) and understands RESP2 replies
//! ([`Reply`]). It is deliberately not the `redis` crate the provider uses, so a
//! test does not check the provider with the provider's own client.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use dr_redis::testing::{Reply, pair};
//!
//! let (primary, replica) = pair().await; // the replica is in sync with the primary
//! assert_eq!(primary.set("k", "v").await, Reply::Simple("OK".into()));
//! replica.wait_for_key("k", "v").await;
//! assert_eq!(replica.set("k", "w").await.error_code(), Some("READONLY"));
//! # }
//! ```

use std::ffi::OsStr;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// How long a server may take to answer `PING`, a replica to sync, or a key to
/// arrive, before the harness gives up with a message.
pub const READY: Duration = Duration::from_secs(20);

/// How long one command may take (connect, send, reply).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// What to run when `redis-server` is missing.
const INSTALL: &str = "install it with `apt-get install -y redis-server` (Debian/Ubuntu) or \
                       `brew install redis` (macOS), or run `scripts/test`, which installs it";

/// One RESP2 reply.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A simple string: `+OK`.
    Simple(String),
    /// An error: `-READONLY You can't write against a read only replica.`
    Error(String),
    /// An integer: `:1`.
    Int(i64),
    /// A bulk string `$3 abc`, or nil (`$-1`, and the nil array `*-1`).
    Bulk(Option<String>),
    /// An array: `*2 ...`.
    Array(Vec<Reply>),
}

impl Reply {
    /// The error code (`READONLY`, `NOREPLICAS`, `WRONGPASS`), if this is an error.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Reply::Error(e) => e.split_whitespace().next(),
            _ => None,
        }
    }

    /// Whether this is `+OK`.
    pub fn is_ok(&self) -> bool {
        matches!(self, Reply::Simple(s) if s == "OK")
    }

    /// The integer, if this is one.
    pub fn int(&self) -> Option<i64> {
        match self {
            Reply::Int(n) => Some(*n),
            _ => None,
        }
    }
}

/// Certificates for TLS servers, made afresh per test run (never checked in): a
/// CA, a server certificate for `127.0.0.1` and `localhost` signed by it (the
/// servers also present it as the client of their replication link), a client
/// certificate signed by it, and an unrelated second CA (for a wrong-CA test). PEM
/// files in a temporary directory, removed on drop.
pub struct TlsFiles {
    dir: tempfile::TempDir,
}

impl fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsFiles")
            .field("dir", &self.dir.path())
            .finish()
    }
}

impl TlsFiles {
    /// Generates the CAs, certificates and keys (ECDSA P-256, via `rcgen`).
    pub fn generate() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let dir = tempfile::tempdir().expect("create a temp dir for TLS files");
        let write = |name: &str, pem: String| {
            std::fs::write(dir.path().join(name), pem).expect("write a PEM file");
        };
        let ca = |name: &str| {
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            let key = KeyPair::generate().expect("CA key");
            let cert = params.self_signed(&key).expect("self-signed CA");
            (cert.pem(), Issuer::new(params, key))
        };
        let (ca_pem, issuer) = ca("dr-redis test CA");
        write("ca.pem", ca_pem);
        let (other_pem, _) = ca("dr-redis unrelated CA");
        write("other-ca.pem", other_pem);
        let leaf = |names: Vec<String>, cn: &str, file: &str| {
            let mut params = CertificateParams::new(names).expect("leaf params");
            params.distinguished_name.push(DnType::CommonName, cn);
            let key = KeyPair::generate().expect("leaf key");
            let cert = params.signed_by(&key, &issuer).expect("sign a leaf");
            write(&format!("{file}.pem"), cert.pem());
            write(&format!("{file}.key"), key.serialize_pem());
        };
        leaf(
            vec!["127.0.0.1".into(), "localhost".into()],
            "redis-server",
            "server",
        );
        leaf(vec!["dr-client".into()], "dr-client", "client");
        TlsFiles { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The CA that signed every certificate here (`ca_file`).
    pub fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// A CA that signed nothing here: trusting it alone fails the handshake.
    pub fn other_ca(&self) -> PathBuf {
        self.path("other-ca.pem")
    }

    /// The servers' certificate (`127.0.0.1`, `localhost`).
    pub fn server_cert(&self) -> PathBuf {
        self.path("server.pem")
    }

    /// The servers' key.
    pub fn server_key(&self) -> PathBuf {
        self.path("server.key")
    }

    /// A client certificate for mutual TLS (`cert_file`).
    pub fn client_cert(&self) -> PathBuf {
        self.path("client.pem")
    }

    /// The client certificate's key (`key_file`).
    pub fn client_key(&self) -> PathBuf {
        self.path("client.key")
    }

    /// A connector for the harness's own client: trusts [`ca`](Self::ca), presents
    /// the client certificate.
    fn connector(&self) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(self.ca()).expect("read ca.pem") {
            roots
                .add(cert.expect("parse ca.pem"))
                .expect("trust ca.pem");
        }
        let chain = CertificateDer::pem_file_iter(self.client_cert())
            .expect("read client.pem")
            .collect::<Result<Vec<_>, _>>()
            .expect("parse client.pem");
        let key = PrivateKeyDer::from_pem_file(self.client_key()).expect("read client.key");
        crate::client::ensure_crypto_provider();
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .expect("a client certificate rustls accepts");
        TlsConnector::from(Arc::new(config))
    }
}

/// How [`RedisServer::start_tls`] configures a TLS-only server.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// `--requirepass` and `--masterauth` (the `default` user's password, which the
    /// harness's client uses; replication authenticates with it too).
    pub password: Option<String>,
    /// An ACL user `(name, password)` with every permission (`--user NAME on
    /// >PASSWORD ~* &* +@all`); replication authenticates as it (`--masteruser`,
    /// `--masterauth` with its password). Needs `password`.
    pub user: Option<(String, String)>,
    /// `--tls-auth-clients yes` (mutual TLS required) instead of `optional`.
    pub require_client_cert: bool,
    /// More `redis-server` arguments, after the harness's own.
    pub args: Vec<String>,
}

/// A running `redis-server` on `127.0.0.1`, killed on drop.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    args: Vec<String>,
    password: Option<String>,
    tls: Option<TlsConnector>,
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .field("running", &self.child.is_some())
            .field("dir", &self.dir.path())
            .field("password", &self.password.as_ref().map(|_| "******"))
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl RedisServer {
    /// Starts a TLS-only server (`--port 0 --tls-port PORT`, `--tls-replication yes`)
    /// with the server certificate of `files`, trusting its CA for clients (and for
    /// its replication link). The harness's client speaks TLS to it, presenting the
    /// client certificate.
    pub async fn start_tls(files: &TlsFiles, options: &TlsOptions) -> Self {
        let path = |p: PathBuf| p.display().to_string();
        let mut args: Vec<String> = [
            "--tls-cert-file".into(),
            path(files.server_cert()),
            "--tls-key-file".into(),
            path(files.server_key()),
            "--tls-ca-cert-file".into(),
            path(files.ca()),
            "--tls-auth-clients".into(),
            if options.require_client_cert {
                "yes"
            } else {
                "optional"
            }
            .into(),
            "--tls-replication".into(),
            "yes".into(),
        ]
        .into();
        if let Some(pw) = &options.password {
            args.extend(["--requirepass".into(), pw.clone()]);
            match &options.user {
                None => args.extend(["--masterauth".into(), pw.clone()]),
                Some((user, user_pw)) => {
                    args.extend([
                        "--user".into(),
                        user.clone(),
                        "on".into(),
                        format!(">{user_pw}"),
                        "~*".into(),
                        "&*".into(),
                        "+@all".into(),
                    ]);
                    args.extend(["--masteruser".into(), user.clone()]);
                    args.extend(["--masterauth".into(), user_pw.clone()]);
                }
            }
        }
        args.extend(options.args.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Self::launch_with(&args, options.password.as_deref(), Some(files.connector())).await
    }

    /// Starts a server with no password on a free port.
    pub async fn start() -> Self {
        Self::launch(&[], None).await
    }

    /// Starts a server with `--requirepass password --masterauth password` (so it
    /// can replicate from a server with the same password); [`cmd`](Self::cmd)
    /// authenticates.
    pub async fn start_with_password(password: &str) -> Self {
        Self::launch(
            &["--requirepass", password, "--masterauth", password],
            Some(password),
        )
        .await
    }

    /// Starts a server with extra `redis-server` arguments (e.g.
    /// `["--maxmemory", "10mb"]`), after the harness's own.
    pub async fn start_with_args(args: &[&str]) -> Self {
        Self::launch(args, None).await
    }

    async fn launch(args: &[&str], password: Option<&str>) -> Self {
        Self::launch_with(args, password, None).await
    }

    async fn launch_with(args: &[&str], password: Option<&str>, tls: Option<TlsConnector>) -> Self {
        let binary = redis_server_binary();
        let mut last_error = String::new();
        // A free port can be taken between probing and binding: try a few.
        for _ in 0..5 {
            let mut server = RedisServer {
                port: free_port(),
                child: None,
                dir: tempfile::tempdir().expect("create a temp dir for redis-server"),
                args: args.iter().map(|s| s.to_string()).collect(),
                password: password.map(str::to_string),
                tls: tls.clone(),
            };
            match server.spawn(&binary).await {
                Ok(()) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("could not start redis-server: {last_error}");
    }

    async fn spawn(&mut self, binary: &Path) -> Result<(), String> {
        let log = self.dir.path().join("redis.log");
        // What the server says before it opens its log (bad arguments) goes here.
        let stderr_path = self.dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).map_err(|e| e.to_string())?;
        let port = self.port.to_string();
        let ports: &[&str] = if self.tls.is_some() {
            &["--port", "0", "--tls-port", &port]
        } else {
            &["--port", &port]
        };
        let child = Command::new(binary)
            .args(ports)
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--repl-diskless-sync-delay", "0"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", binary.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + READY;
        loop {
            let child = self.child.as_mut().expect("just spawned");
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                self.child = None;
                let said = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                return Err(format!(
                    "redis-server on {} exited with {status}: {said}{}",
                    self.port,
                    self.log()
                ));
            }
            if let Ok(Reply::Simple(pong)) = self.cmd(&["PING"]).await
                && pong == "PONG"
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "redis-server on {} never answered PING within {READY:?}\n{}",
                    self.port,
                    self.log()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Its loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT` (without the password), `rediss://` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The server's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// Sends one command over a fresh connection (after `AUTH` when the server has
    /// a password) and reads its reply. An error reply is `Ok(Reply::Error(..))`;
    /// `Err` is a connection that failed, closed or took longer than 5 s.
    pub async fn cmd(&self, args: &[&str]) -> io::Result<Reply> {
        let port = self.port;
        let talk = async {
            let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
            match &self.tls {
                None => self.talk(BufReader::new(tcp), args).await,
                Some(connector) => {
                    let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
                    let tls = connector.connect(name, tcp).await?;
                    self.talk(BufReader::new(tls), args).await
                }
            }
        };
        let name = args.first().copied().unwrap_or_default();
        tokio::time::timeout(COMMAND_TIMEOUT, talk)
            .await
            .unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no reply from 127.0.0.1:{port} within {COMMAND_TIMEOUT:?}"),
                ))
            })
            .map_err(|e| io::Error::new(e.kind(), format!("{name} on 127.0.0.1:{port}: {e}")))
    }

    async fn talk<S: AsyncRead + AsyncWrite + Unpin + Send>(
        &self,
        mut stream: BufReader<S>,
        args: &[&str],
    ) -> io::Result<Reply> {
        if let Some(password) = &self.password {
            let auth = exchange(&mut stream, &["AUTH", password]).await?;
            if !auth.is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("AUTH on 127.0.0.1:{}: {auth:?}", self.port),
                ));
            }
        }
        exchange(&mut stream, args).await
    }

    /// `SET key value`: the reply (`+OK`, or an error such as `READONLY`).
    /// Panics when the server cannot be reached.
    pub async fn set(&self, key: &str, value: &str) -> Reply {
        self.cmd(&["SET", key, value])
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `GET key`. Panics when the server cannot be reached or answers an error.
    pub async fn get(&self, key: &str) -> Option<String> {
        match self.cmd(&["GET", key]).await {
            Ok(Reply::Bulk(v)) => v,
            other => panic!("GET {key} on {}: {other:?}", self.port),
        }
    }

    /// One `field:value` line of `INFO replication` (`role`, `master_port`,
    /// `master_link_status`, `master_repl_offset`, ...); `None` when the field is
    /// absent or the server cannot be reached.
    pub async fn info_field(&self, field: &str) -> Option<String> {
        let Ok(Reply::Bulk(Some(info))) = self.cmd(&["INFO", "replication"]).await else {
            return None;
        };
        info.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    }

    /// Makes this server a replica of `primary` (`REPLICAOF 127.0.0.1 PORT`) and
    /// waits until it has every byte and receives new writes (it writes the key
    /// `__harness_streaming` on the primary to see one arrive).
    pub async fn replicate_from(&self, primary: &RedisServer) {
        let port = primary.port.to_string();
        match self.cmd(&["REPLICAOF", "127.0.0.1", &port]).await {
            Ok(r) if r.is_ok() => {}
            other => panic!("REPLICAOF on {}: {other:?}", self.port),
        }
        self.wait_in_sync_with(primary).await;
        // After a diskless sync Redis 7.0 lists the replica as online but streams
        // to it only after its first ACK (within a second): wait until a write
        // arrives.
        let marker = self.port.to_string();
        let r = primary.set("__harness_streaming", &marker).await;
        assert!(r.is_ok(), "SET on the primary {}: {r:?}", primary.port);
        self.wait_for_key("__harness_streaming", &marker).await;
        self.wait_in_sync_with(primary).await;
    }

    /// Waits until this replica's link is up and its offset equals the primary's.
    pub async fn wait_in_sync_with(&self, primary: &RedisServer) {
        let deadline = Instant::now() + READY;
        loop {
            let up = self.info_field("master_link_status").await.as_deref() == Some("up");
            let mine = self.info_field("slave_repl_offset").await;
            let theirs = primary.info_field("master_repl_offset").await;
            if up && mine.is_some() && mine == theirs {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "replica {} did not sync with {} (link up: {up}, offsets {mine:?} vs {theirs:?})\n{}",
                self.port,
                primary.port,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `key` has `value` here (e.g. a write replicated from the primary).
    pub async fn wait_for_key(&self, key: &str, value: &str) {
        let deadline = Instant::now() + READY;
        while self.get(key).await.as_deref() != Some(value) {
            assert!(
                Instant::now() < deadline,
                "{key} never reached {} with value {value}\n{}",
                self.port,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the process (SIGKILL: a crash, nothing flushed) and waits for it.
    /// Dropping the server does the same.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty (nothing is persisted),
    /// with the same arguments; kills it first if it runs.
    pub async fn restart(&mut self) {
        self.kill();
        let binary = redis_server_binary();
        let deadline = Instant::now() + READY;
        loop {
            match self.spawn(&binary).await {
                Ok(()) => return,
                // The port may linger for a moment after the kill.
                Err(e) if Instant::now() < deadline => {
                    eprintln!("restart on {} failed, retrying: {e}", self.port);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("could not restart redis-server on {}: {e}", self.port),
            }
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A primary and a replica in sync with it (see [`RedisServer::replicate_from`]).
pub async fn pair() -> (RedisServer, RedisServer) {
    let primary = RedisServer::start().await;
    let replica = RedisServer::start().await;
    replica.replicate_from(&primary).await;
    (primary, replica)
}

/// `redis-server` on `PATH`, or a panic saying how to install it.
fn redis_server_binary() -> PathBuf {
    find_redis_server(std::env::var_os("PATH").as_deref()).unwrap_or_else(|e| panic!("{e}"))
}

fn find_redis_server(path: Option<&OsStr>) -> Result<PathBuf, String> {
    std::env::split_paths(path.unwrap_or_default())
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "redis-server is not on PATH, and these tests run a real Redis server: {INSTALL}"
            )
        })
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("a bound address").port()
}

/// Writes one command and reads its reply on `stream`.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin + Send>(
    stream: &mut BufReader<S>,
    args: &[&str],
) -> io::Result<Reply> {
    stream.get_mut().write_all(&encode(args)).await?;
    stream.get_mut().flush().await?;
    read_reply(stream).await
}

/// A command as a RESP array of bulk strings.
fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads one RESP2 reply.
fn read_reply<'a, R>(r: &'a mut R) -> Pin<Box<dyn Future<Output = io::Result<Reply>> + Send + 'a>>
where
    R: AsyncBufRead + Unpin + Send,
{
    Box::pin(async move {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before a reply",
            ));
        }
        let line = line.trim_end_matches("\r\n");
        let (kind, rest) = line
            .split_at_checked(1)
            .ok_or_else(|| invalid("empty reply line"))?;
        let length = || {
            rest.parse::<i64>()
                .map_err(|e| invalid(format!("length `{rest}`: {e}")))
        };
        match kind {
            "+" => Ok(Reply::Simple(rest.to_string())),
            "-" => Ok(Reply::Error(rest.to_string())),
            ":" => rest
                .parse()
                .map(Reply::Int)
                .map_err(|e| invalid(format!("integer `{rest}`: {e}"))),
            "$" => {
                let Ok(len) = usize::try_from(length()?) else {
                    return Ok(Reply::Bulk(None));
                };
                let mut buf = vec![0; len + 2];
                r.read_exact(&mut buf).await?;
                buf.truncate(len);
                String::from_utf8(buf)
                    .map(|s| Reply::Bulk(Some(s)))
                    .map_err(|e| invalid(format!("bulk string: {e}")))
            }
            "*" => {
                let Ok(len) = usize::try_from(length()?) else {
                    return Ok(Reply::Bulk(None));
                };
                let mut items = Vec::with_capacity(len.min(1024));
                for _ in 0..len {
                    items.push(read_reply(r).await?);
                }
                Ok(Reply::Array(items))
            }
            _ => Err(invalid(format!("unexpected reply `{line}`"))),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(bytes: &[u8]) -> io::Result<Reply> {
        let mut r = bytes;
        read_reply(&mut r).await
    }

    #[tokio::test]
    async fn parses_every_resp2_reply() {
        assert_eq!(parse(b"+OK\r\n").await.unwrap(), Reply::Simple("OK".into()));
        let e = parse(b"-READONLY You can't write\r\n").await.unwrap();
        assert_eq!(e.error_code(), Some("READONLY"));
        assert_eq!(parse(b":42\r\n").await.unwrap().int(), Some(42));
        assert_eq!(
            parse(b"$5\r\na\r\nbc\r\n").await.unwrap(),
            Reply::Bulk(Some("a\r\nbc".into()))
        );
        assert_eq!(parse(b"$-1\r\n").await.unwrap(), Reply::Bulk(None));
        assert_eq!(parse(b"*-1\r\n").await.unwrap(), Reply::Bulk(None));
        assert_eq!(
            parse(b"*2\r\n$4\r\nmode\r\n*1\r\n:0\r\n").await.unwrap(),
            Reply::Array(vec![
                Reply::Bulk(Some("mode".into())),
                Reply::Array(vec![Reply::Int(0)])
            ])
        );
        assert!(parse(b"").await.is_err());
        assert!(parse(b"?what\r\n").await.is_err());
        assert!(parse(b"$5\r\nab\r\n").await.is_err(), "truncated bulk");
    }

    #[test]
    fn encodes_commands_as_bulk_string_arrays() {
        assert_eq!(
            encode(&["SET", "k", ""]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n".to_vec()
        );
    }

    #[test]
    fn a_missing_redis_server_says_how_to_install_it() {
        let empty = tempfile::tempdir().unwrap();
        let e = find_redis_server(Some(empty.path().as_os_str())).unwrap_err();
        assert!(e.contains("apt-get install -y redis-server"), "{e}");
        let e = find_redis_server(None).unwrap_err();
        assert!(e.contains("redis-server is not on PATH"), "{e}");

        std::fs::write(empty.path().join("redis-server"), "").unwrap();
        assert_eq!(
            find_redis_server(Some(empty.path().as_os_str())).unwrap(),
            empty.path().join("redis-server")
        );
    }
}
