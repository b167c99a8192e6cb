//! Real etcd clusters for tests: Debian `etcd-server` members on loopback
//! ports, started and stopped by the harness (`DR_ETCD_BIN` names the
//! binary; default `etcd` on the `PATH`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A cluster of etcd members on 127.0.0.1, each in its own data dir; stopped
/// (killed) when dropped.
#[derive(Debug)]
pub struct EtcdCluster {
    members: Vec<Member>,
    /// The cluster's `--initial-cluster-token`.
    token: String,
    _dir: tempfile::TempDir,
}

#[derive(Debug)]
struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    data: PathBuf,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn etcd_bin() -> String {
    std::env::var("DR_ETCD_BIN").unwrap_or_else(|_| "etcd".into())
}

impl EtcdCluster {
    /// Starts `n` members and waits until the cluster answers.
    pub fn start(n: usize) -> EtcdCluster {
        Self::start_in(n, &std::env::temp_dir())
    }

    /// [`EtcdCluster::start`] with the members' data dirs under `parent`
    /// (e.g. `/dev/shm`, to leave the disk's fsync out of a measurement).
    ///
    /// A free port is found by binding and releasing it, so another process
    /// may take it before a member binds it (many clusters start at once in
    /// the tests): a cluster whose member died or that is not healthy in
    /// time is started again on other ports, up to three times.
    pub fn start_in(n: usize, parent: &std::path::Path) -> EtcdCluster {
        for attempt in 1..=3 {
            let mut c = Self::spawn_all(n, parent);
            if c.became_healthy(Duration::from_secs(20)) {
                return c;
            }
            eprintln!("etcd test cluster: attempt {attempt} did not become healthy; again");
        }
        panic!("an etcd cluster of {n} did not become healthy in three attempts");
    }

    fn spawn_all(n: usize, parent: &std::path::Path) -> EtcdCluster {
        static CLUSTERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = tempfile::tempdir_in(parent).expect("a temp dir");
        let mut members: Vec<Member> = (0..n)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: free_port(),
                peer_port: free_port(),
                data: dir.path().join(format!("m{i}")),
                child: None,
            })
            .collect();
        let initial = members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        let token = format!(
            "dr-test-{}-{}",
            std::process::id(),
            CLUSTERS.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        for m in &mut members {
            m.child = Some(spawn(m, &initial, &token, "new"));
        }
        EtcdCluster {
            members,
            token,
            _dir: dir,
        }
    }

    /// Waits until every member is healthy; `false` when one died or time ran out.
    fn became_healthy(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let died = self.members.iter_mut().any(|m| {
                m.child
                    .as_mut()
                    .is_some_and(|c| c.try_wait().ok().flatten().is_some())
            });
            if died {
                return false;
            }
            if self.members.iter().all(|m| health(m.client_port)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// `etcd://127.0.0.1:P,..` with `query` (e.g. `?prefix=/t&lease_ttl=2s`).
    pub fn url(&self, query: &str) -> String {
        let hosts: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.client_port))
            .collect();
        format!("etcd://{}{query}", hosts.join(","))
    }

    /// `http://127.0.0.1:P` per member (for a raw etcd client).
    pub fn endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("http://127.0.0.1:{}", m.client_port))
            .collect()
    }

    /// Stops member `i` (SIGKILL).
    pub fn stop(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts member `i` again on its data dir.
    pub fn restart(&mut self, i: usize) {
        let initial = self
            .members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        let child = spawn(&self.members[i], &initial, &self.token, "existing");
        self.members[i].child = Some(child);
    }

    /// Waits until every running member answers `/health` with `true` (it
    /// has a leader).
    pub fn wait_healthy(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self
                .members
                .iter()
                .filter(|m| m.child.is_some())
                .all(|m| health(m.client_port))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the etcd cluster did not become healthy within {limit:?}");
    }
}

fn spawn(m: &Member, initial: &str, token: &str, state: &str) -> Child {
    let peer = format!("http://127.0.0.1:{}", m.peer_port);
    let client = format!("http://127.0.0.1:{}", m.client_port);
    Command::new(etcd_bin())
        .args(["--name", &m.name])
        .arg("--data-dir")
        .arg(&m.data)
        .args(["--listen-peer-urls", &peer])
        .args(["--initial-advertise-peer-urls", &peer])
        .args(["--listen-client-urls", &client])
        .args(["--advertise-client-urls", &client])
        .args(["--initial-cluster", initial])
        .args(["--initial-cluster-token", token])
        .args(["--initial-cluster-state", state])
        // Loopback: short heartbeats, so elections take well under a second.
        .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
        .args(["--log-level", "error", "--logger", "zap"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {} ({e}); set DR_ETCD_BIN", etcd_bin()))
}

/// `GET /health` says `"health":"true"`.
fn health(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.contains("\"health\":\"true\"")
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.stop(i);
        }
    }
}
