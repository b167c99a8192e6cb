//! Test harness: real `redis-server` processes on free loopback ports, a tiny RESP
//! client to look at them from outside `dr`, and a plan runner.
//!
//! Each [`RedisServer`] runs with `--save '' --appendonly no
//! --repl-diskless-sync-delay 0` in its own temporary directory and is killed when
//! dropped (also when a test panics). A missing `redis-server` fails the test with
//! the command that installs it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dr_core::executor::{Executor, RunOptions, RunOutcome};
use dr_core::{LoadOptions, Plan, Registry};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long a server may take to answer PING, or a replica to sync.
const READY: Duration = Duration::from_secs(20);

fn redis_server_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "redis-server is not on PATH: install redis-server (apt-get install redis-server), \
                 or run scripts/test"
            )
        })
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// One RESP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Simple(String),
    /// `-READONLY ...`
    Error(String),
    /// `:1`
    Int(i64),
    /// `$3 abc`, or `$-1` (nil).
    Bulk(Option<String>),
}

impl Reply {
    /// The error code (`READONLY`, `NOREPLICAS`), if this is an error reply.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Reply::Error(e) => e.split_whitespace().next(),
            _ => None,
        }
    }
}

/// A running `redis-server`, killed on drop.
pub struct RedisServer {
    /// Its loopback port.
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts a server on a free port (retrying if the port is taken meanwhile).
    pub async fn start() -> Self {
        let binary = redis_server_binary();
        let mut last_error = String::new();
        for _ in 0..5 {
            let mut server = RedisServer {
                port: free_port(),
                child: None,
                dir: tempfile::tempdir().expect("temp dir"),
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
        let child = Command::new(binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--repl-diskless-sync-delay", "0"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn redis-server: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + READY;
        loop {
            let child = self.child.as_mut().expect("child");
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                self.child = None;
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("redis-server exited with {status}: {log}"));
            }
            if self.cmd(&["PING"]).await == Ok(Reply::Simple("PONG".into())) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("redis-server on {} never answered PING", self.port));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// Sends one command over a fresh connection and reads its reply.
    pub async fn cmd(&self, args: &[&str]) -> Result<Reply, String> {
        let port = self.port;
        tokio::time::timeout(Duration::from_secs(5), async move {
            let mut stream = TcpStream::connect(("127.0.0.1", port))
                .await
                .map_err(|e| format!("connect 127.0.0.1:{port}: {e}"))?;
            let mut out = format!("*{}\r\n", args.len());
            for a in args {
                out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
            }
            stream
                .write_all(out.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            read_reply(&mut BufReader::new(stream)).await
        })
        .await
        .map_err(|_| format!("no reply from 127.0.0.1:{port} within 5s"))?
    }

    /// `SET key value`, returning the raw reply (`+OK` or an error).
    pub async fn set(&self, key: &str, value: &str) -> Reply {
        self.cmd(&["SET", key, value]).await.expect("SET")
    }

    /// `GET key`.
    pub async fn get(&self, key: &str) -> Option<String> {
        match self.cmd(&["GET", key]).await.expect("GET") {
            Reply::Bulk(v) => v,
            other => panic!("GET {key} on {}: {other:?}", self.port),
        }
    }

    /// One `field:value` line of `INFO replication`.
    pub async fn info_field(&self, field: &str) -> Option<String> {
        let Ok(Reply::Bulk(Some(info))) = self.cmd(&["INFO", "replication"]).await else {
            return None;
        };
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .map(|v| v.trim().to_string())
    }

    /// `REPLICAOF primary`, then waits until the link is up and in sync.
    pub async fn replicate_from(&self, primary: &RedisServer) {
        let port = primary.port.to_string();
        let r = self.cmd(&["REPLICAOF", "127.0.0.1", &port]).await;
        assert_eq!(r, Ok(Reply::Simple("OK".into())), "REPLICAOF");
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

    /// Waits until `key` has `value` here (a write replicated from the primary).
    pub async fn wait_for_key(&self, key: &str, value: &str) {
        let deadline = Instant::now() + READY;
        while self.get(key).await.as_deref() != Some(value) {
            assert!(
                Instant::now() < deadline,
                "{key} never reached {} with value {value}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn read_reply(r: &mut BufReader<TcpStream>) -> Result<Reply, String> {
    let mut line = String::new();
    r.read_line(&mut line).await.map_err(|e| e.to_string())?;
    let line = line.trim_end_matches("\r\n");
    let (kind, rest) = line.split_at_checked(1).ok_or("connection closed")?;
    match kind {
        "+" => Ok(Reply::Simple(rest.to_string())),
        "-" => Ok(Reply::Error(rest.to_string())),
        ":" => rest.parse().map(Reply::Int).map_err(|e| e.to_string()),
        "$" => {
            let len: i64 = rest
                .parse()
                .map_err(|e| format!("bulk length {rest}: {e}"))?;
            if len < 0 {
                return Ok(Reply::Bulk(None));
            }
            let mut buf = vec![0; len as usize + 2];
            r.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
            buf.truncate(len as usize);
            String::from_utf8(buf)
                .map(|s| Reply::Bulk(Some(s)))
                .map_err(|e| e.to_string())
        }
        _ => Err(format!("unexpected reply: {line}")),
    }
}

/// A primary and a replica in sync with it.
pub async fn pair() -> (RedisServer, RedisServer) {
    let primary = RedisServer::start().await;
    let replica = RedisServer::start().await;
    replica.replicate_from(&primary).await;
    (primary, replica)
}

/// The built-in providers plus `redis` and `cloudflare.*`, as the CLI registers them.
pub fn registry() -> Registry {
    let mut r = Registry::with_builtins();
    dr_redis::register(&mut r);
    dr_cloudflare::register(&mut r);
    r
}

/// Parses `toml` against [`registry`], panicking with the diagnostics if invalid.
pub fn parse(toml: &str) -> Plan {
    Plan::parse("plan.toml", toml, &registry(), &LoadOptions::default())
        .unwrap_or_else(|d| panic!("the plan does not validate:\n{d}\n{toml}"))
}

/// Runs `plan` with `state_dir` and returns the executor (for its plan's
/// resources) and the outcome.
pub async fn run(plan: Plan, state_dir: &Path) -> (Executor, RunOutcome) {
    let executor = Executor::new(plan, RunOptions::new(state_dir));
    let outcome = executor.run().await.expect("the run could be carried out");
    (executor, outcome)
}

/// Asserts the run succeeded with every step succeeded, printing the report if not.
pub fn assert_all_succeeded(outcome: &RunOutcome) {
    let report = &outcome.report;
    let failed: Vec<_> = report
        .steps
        .iter()
        .filter(|s| s.status != "succeeded")
        .collect();
    assert!(
        outcome.status == dr_core::executor::RunStatus::Succeeded && failed.is_empty(),
        "run {}: {failed:#?}\n{}",
        outcome.status,
        report.to_markdown()
    );
    assert_eq!(report.status, "succeeded");
}
