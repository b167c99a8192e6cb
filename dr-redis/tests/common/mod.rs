//! Test harness: real `redis-server` processes on free loopback ports.
//!
//! Each [`RedisServer`] is started with `--save '' --appendonly no
//! --repl-diskless-sync-delay 0` in its own temporary directory and killed when it
//! is dropped (also when a test panics). A missing `redis-server` fails the test
//! with the command that installs it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dr_core::{DataStore, HealthProbe, Registry, Replicator, Settings};
use serde_json::{Value, json};

/// How long a server may take to answer PING, or a replica to sync.
const READY: Duration = Duration::from_secs(20);

fn redis_server_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "redis-server is not on PATH; the dr-redis tests run a real Redis. Install it \
                 with `apt-get install -y redis-server` (Debian/Ubuntu) or `brew install redis`"
            )
        })
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap().port()
}

/// A running `redis-server`, killed on drop.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    extra: Vec<String>,
    password: Option<String>,
}

impl RedisServer {
    /// Starts a server with no password.
    pub async fn start() -> Self {
        Self::start_with(&[], None).await
    }

    /// Starts a server with `--requirepass password` (and `--masterauth`).
    pub async fn start_with_password(password: &str) -> Self {
        Self::start_with(
            &["--requirepass", password, "--masterauth", password],
            Some(password),
        )
        .await
    }

    async fn start_with(extra: &[&str], password: Option<&str>) -> Self {
        let mut last_error = String::new();
        // A free port can be taken between probing and binding; try a few.
        for _ in 0..5 {
            let mut server = RedisServer {
                port: free_port(),
                child: None,
                dir: tempfile::tempdir().expect("temp dir"),
                extra: extra.iter().map(|s| s.to_string()).collect(),
                password: password.map(str::to_string),
            };
            match server.spawn().await {
                Ok(()) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("could not start redis-server: {last_error}");
    }

    async fn spawn(&mut self) -> Result<(), String> {
        let log = self.dir.path().join("redis.log");
        let child = Command::new(redis_server_binary())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--repl-diskless-sync-delay", "0"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn redis-server: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + READY;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                self.child = None;
                return Err(format!("redis-server exited with {status}: {log}"));
            }
            if let Ok(mut conn) = self.connection().await {
                let pong: redis::RedisResult<String> =
                    redis::cmd("PING").query_async(&mut conn).await;
                if pong.is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!("redis-server on {} never answered PING", self.port));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A direct connection (with the password, if any).
    pub async fn connection(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        let url = match &self.password {
            Some(pw) => format!("redis://:{pw}@127.0.0.1:{}", self.port),
            None => self.url(),
        };
        let client = redis::Client::open(url)?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)));
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    /// Runs one command and returns its reply.
    pub async fn cmd<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        let mut conn = self.connection().await?;
        cmd.query_async(&mut conn).await
    }

    /// A field of `INFO replication`.
    pub async fn info_field(&self, field: &str) -> Option<String> {
        let text: String = self.cmd(redis::cmd("INFO").arg("replication")).await.ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .map(|v| v.trim().to_string())
    }

    /// Makes this server a replica of `primary` and waits until it has every byte.
    pub async fn replicate_from(&self, primary: &RedisServer) {
        let _: String = self
            .cmd(redis::cmd("REPLICAOF").arg("127.0.0.1").arg(primary.port))
            .await
            .expect("REPLICAOF");
        self.wait_in_sync_with(primary).await;
        // After a diskless sync Redis 7.0 lists the replica as online but streams to
        // it only after its first ACK (within a second): wait until a write arrives.
        let _: String = primary
            .cmd(redis::cmd("SET").arg("__harness_streaming").arg(self.port))
            .await
            .expect("SET on the primary");
        let deadline = Instant::now() + READY;
        loop {
            let got: Option<String> = self
                .cmd(redis::cmd("GET").arg("__harness_streaming"))
                .await
                .expect("GET on the replica");
            if got == Some(self.port.to_string()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "replica {} never received a write from {}",
                self.port,
                primary.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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
                "replica {} did not sync with {} (link up: {up}, offsets {mine:?} vs {theirs:?})",
                self.port,
                primary.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the process (SIGKILL: a crash, nothing flushed) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: nothing is persisted).
    pub async fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + READY;
        loop {
            match self.spawn().await {
                Ok(()) => return,
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

/// Settings for a `provider = "redis"` resource.
pub fn settings(name: &str, values: Value) -> Settings {
    Settings::from_json(name, "redis", values)
}

/// Settings for `server` with `peer` as its peer.
pub fn pair_settings(name: &str, server: &RedisServer, peer: &RedisServer) -> Settings {
    settings(
        name,
        json!({"url": server.url(), "peer": peer.url(), "timeout": "2s"}),
    )
}

fn registry() -> Registry {
    let mut r = Registry::new();
    dr_redis::register(&mut r);
    r
}

/// The store the registry builds from `settings`.
pub fn store(settings: &Settings) -> Arc<dyn DataStore> {
    registry()
        .build_store(settings)
        .expect("redis is registered as a store")
        .expect("valid settings")
}

/// The replicator the registry builds from `settings`.
pub fn replicator(settings: &Settings) -> Arc<dyn Replicator> {
    registry()
        .build_replicator(settings)
        .expect("redis is registered as a replicator")
        .expect("valid settings")
}

/// The probe the registry builds from `settings`.
pub fn probe(settings: &Settings) -> Arc<dyn HealthProbe> {
    registry()
        .build_probe(settings)
        .expect("redis is registered as a probe")
        .expect("valid settings")
}

/// A primary and a replica in sync with it.
pub async fn pair() -> (RedisServer, RedisServer) {
    let primary = RedisServer::start().await;
    let replica = RedisServer::start().await;
    replica.replicate_from(&primary).await;
    (primary, replica)
}

/// Whether a `SET` on `server` is refused with `code` (`READONLY`, `NOREPLICAS`).
pub async fn write_refused_with(server: &RedisServer, code: &str) -> bool {
    let r: redis::RedisResult<String> = server.cmd(redis::cmd("SET").arg("__probe").arg("1")).await;
    match r {
        Ok(_) => false,
        Err(e) => e.code() == Some(code),
    }
}

/// Polls `status()` until the link reports zero bytes of lag (the primary pings its
/// replicas now and then, so a single read may catch a ping in flight).
pub async fn wait_caught_up(r: &dyn Replicator) -> dr_core::ReplicationStatus {
    let deadline = Instant::now() + READY;
    loop {
        let status = r.status().await.expect("status()");
        if status.state == dr_core::ReplicationState::Replicating && status.lag_bytes == Some(0) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the link never caught up: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
