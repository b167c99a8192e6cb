//! Takeover time of `dr watch --coordination`; prints figures
//! (`cargo bench -p dr-cli --bench takeover [-- TRIALS]`, default 20).
//!
//! A 3-member etcd cluster on loopback (real `etcd` processes); two watch
//! instances `a` and `b` of one sim plan (probe interval 500 ms), with
//! `lease_ttl = 5s`. Per trial: the watched side fails, the leader `a` runs
//! the plan; once its shift has applied its first phase, `a` is killed
//! (SIGKILL). Measured: from the kill to the resumed run's first journal
//! append by `b` (its `resumed` entry, read from etcd's journal keys through
//! the run's events: `run_started` with `resumed: true` is emitted right
//! before it). Goal: max <= 6 s (the lease plus one probe round).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use dr_etcd::testing::EtcdCluster;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dr");

const PLAN: &str = r#"
[plan]
name = "taken-over"

[plan.watch]
probes = ["web_east"]
interval = "500ms"
timeout = "400ms"
failure_threshold = 2

[resources.front]
provider = "sim.router"
targets = ["east", "west"]
initial = { east = 100 }
state_file = "sim.json"

[resources.web_east]
provider = "sim.probe"
follows = "front:east"
state_file = "sim.json"

[resources.web_west]
provider = "sim.probe"
healthy = true

[resources.db]
provider = "sim.store"
role = "replica"
lag = "1s"
state_file = "sim.json"

[[steps]]
id = "promote"
action = "datastore.promote"
store = "db"
max_lag = "5s"

[[steps]]
id = "shift"
action = "traffic.shift"
router = "front"
to = "west"
phases = [25, 50, 100]
gate = { probe = "web_west", times = 4, every = "500ms" }
depends_on = ["promote"]
"#;

struct Proc {
    child: Child,
    rx: Receiver<(Instant, Value)>,
}

impl Proc {
    fn spawn(dir: &Path, args: &[&str]) -> Proc {
        let mut child = Command::new(BIN)
            .current_dir(dir)
            .args(args)
            .arg("--json")
            .env_remove("DR_COORDINATION")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dr");
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && tx.send((Instant::now(), v)).is_err()
                {
                    break;
                }
            }
        });
        Proc { child, rx }
    }

    fn until(&self, what: &str, pred: impl Fn(&Value) -> bool) -> (Instant, Value) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self
                .rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok((t, v)) if pred(&v) => return (t, v),
                Ok(_) => {}
                Err(_) => panic!("no {what} within 60s"),
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn trial(cluster: &EtcdCluster, i: usize) -> (Duration, u64) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.toml"), PLAN).unwrap();
    let url = cluster.url(&format!("?prefix=/takeover{i}&lease_ttl=5s"));
    let watch = |sd: &str, name: &str| {
        Proc::spawn(
            dir.path(),
            &[
                "watch",
                "p.toml",
                "--state-dir",
                sd,
                "--coordination",
                &url,
                "--instance",
                name,
            ],
        )
    };
    let mut a = watch("sdA", "a");
    a.until("a leading", |v| {
        v["event"] == "watch_leader" && v["leader"] == true
    });
    let b = watch("sdB", "b");
    b.until("b following", |v| v["event"] == "watch_leader");
    let down = Command::new(BIN)
        .current_dir(dir.path())
        .args(["sim", "down", "east", "--state-file", "sim.json"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(down.success());
    a.until("a's first phase", |v| v["event"] == "phase_applied");
    let _ = a.child.kill();
    let killed = Instant::now();
    let _ = a.child.wait();
    let (_, took) = b.until("the takeover", |v| v["event"] == "run_taken_over");
    let (resumed, _) = b.until("the resumed run", |v| {
        v["event"] == "run_started" && v["resumed"] == true
    });
    let (_, end) = b.until("the end", |v| v["event"] == "run_finished");
    assert_eq!(end["status"], "succeeded", "{end}");
    (
        resumed.duration_since(killed),
        took["after_ms"].as_u64().unwrap_or_default(),
    )
}

fn main() {
    let trials: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    let cluster = EtcdCluster::start(3);
    let mut times = Vec::new();
    for i in 0..trials {
        let (t, after_ms) = trial(&cluster, i);
        println!(
            "  trial {:2}: {:6.0} ms from kill -9 to the resumed run (run_taken_over after_ms {after_ms})",
            i + 1,
            t.as_secs_f64() * 1e3
        );
        times.push(t);
    }
    times.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    let mean = times.iter().map(ms).sum::<f64>() / times.len() as f64;
    println!("takeover: {trials} trials, lease_ttl 5s, probe interval 500ms");
    println!(
        "  min {:.0} ms, median {:.0} ms, mean {mean:.0} ms, max {:.0} ms (goal: max <= 6000 ms)",
        ms(&times[0]),
        ms(&times[times.len() / 2]),
        ms(&times[times.len() - 1])
    );
}
