//! What the CLI test modules share: the `dr` binary cargo built for them, run
//! in a test's own temp dir with an environment of its own; its JSON-lines
//! output; the sim resources' state as `dr status --json` shows it; signals;
//! and the sim failover plan several modules run.
//!
//! The modules run on parallel threads of one process, so none changes the
//! process's environment or current directory: what a `dr` needs goes on its
//! command (`.current_dir(..)`, `.env(..)`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

/// The `dr` binary of this package.
pub const BIN: &str = env!("CARGO_BIN_EXE_dr");

/// The variables through which the environment of whoever runs the tests would
/// reach `dr`: every `dr` here runs without them, and a test that wants one sets
/// it on its command (`.env(..)` after these removals wins).
pub const DR_VARS: [&str; 5] = [
    "DR_COORDINATION",
    "DR_STATE_DIR",
    "DR_SIM_STATE",
    "DR_LOCK_DIR",
    "DR_AUDIT_KEY",
];

/// `dr` in `dir`, without colours and without [`DR_VARS`]; no arguments yet.
/// For a `dr` spawned in the background (a `std` command).
pub fn dr_in(dir: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(BIN);
    c.current_dir(dir).env("NO_COLOR", "1");
    for v in DR_VARS {
        c.env_remove(v);
    }
    c
}

/// `dr ARGS --state-dir STATE_DIR` in `dir` (see [`dr_in`]).
pub fn dr_with_state_dir(dir: &Path, state_dir: &str, args: &[&str]) -> Command {
    let mut c = Command::from_std(dr_in(dir));
    c.args(args).args(["--state-dir", state_dir]);
    c
}

/// `dr ARGS --state-dir sd` in `dir` (see [`dr_in`]).
pub fn dr(dir: &Path, args: &[&str]) -> Command {
    dr_with_state_dir(dir, "sd", args)
}

/// The stdout of `dr ARGS --state-dir sd` in `dir`, asserting its exit code.
pub fn dr_stdout(dir: &Path, args: &[&str], code: i32) -> String {
    let out = dr(dir, args)
        .assert()
        .code(code)
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

/// `dr report RUN_ID --format json` in `dir` (state dir `sd`), parsed.
pub fn report_json(dir: &Path, run_id: &str) -> Value {
    serde_json::from_str(&dr_stdout(dir, &["report", run_id, "--format", "json"], 0)).unwrap()
}

/// One JSON value per non-blank line of `out`.
pub fn json_lines(out: impl AsRef<[u8]>) -> Vec<Value> {
    String::from_utf8_lossy(out.as_ref())
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// A temp dir holding `text` as `p.toml`.
pub fn with_plan(text: &str) -> TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("p.toml"), text).unwrap();
    tmp
}

/// `dr status PLAN --json` in `dir`: one object per resource and kind.
pub fn status(dir: &Path, plan: &str) -> Vec<Value> {
    json_lines(dr_stdout(dir, &["status", plan, "--json"], 0))
}

/// The split of the router `router` of `plan` in `dir`.
pub fn split(dir: &Path, plan: &str, router: &str) -> Value {
    status(dir, plan)
        .into_iter()
        .find(|v| v["resource"] == router && v["kind"] == "router")
        .unwrap_or_else(|| panic!("no status line for the router {router}"))["split"]
        .clone()
}

/// The `calls` counter `op` of `resource` of `plan` in `dir` (0 when absent).
pub fn calls(dir: &Path, plan: &str, resource: &str, op: &str) -> u64 {
    let status = status(dir, plan);
    let line = status
        .iter()
        .find(|v| v["resource"] == resource)
        .unwrap_or_else(|| panic!("no status line for {resource}: {status:?}"));
    line["calls"][op].as_u64().unwrap_or(0)
}

/// Sends `sig` (`-TERM`, `-INT`, `-9`) to `child` with `kill`.
pub fn kill(child: &Child, sig: &str) {
    assert!(
        std::process::Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .unwrap()
            .success(),
        "kill {sig} {}",
        child.id()
    );
}

/// A failover of sim resources sharing `sim.json`, each call taking `latency`:
/// maintenance page, fence east, a one-way promote of west (`max_lag = "30s"`),
/// flush the cache, then a phased shift to west gated on `web_west` (which
/// follows `front:west`) that rolls back on failure. `extra` is appended.
pub fn sim_failover(name: &str, latency: &str, extra: &str) -> String {
    format!(
        r#"
[plan]
name = "{name}"
rto = "5m"
rpo = "1m"

[resources.front]
provider = "sim.router"
targets = ["east", "west", "maintenance"]
initial = {{ east = 100 }}
latency = "{latency}"
state_file = "sim.json"

[resources.web_west]
provider = "sim.probe"
follows = "front:west"
state_file = "sim.json"

[resources.db_east]
provider = "sim.store"
role = "primary"
latency = "{latency}"
state_file = "sim.json"

[resources.db_west]
provider = "sim.store"
role = "replica"
lag = "2s"
latency = "{latency}"
state_file = "sim.json"

[resources.cache]
provider = "sim.store"
role = "primary"
latency = "{latency}"
state_file = "sim.json"

[[steps]]
id = "maintenance"
action = "traffic.set"
router = "front"
split = {{ maintenance = 100 }}

[[steps]]
id = "fence"
action = "datastore.fence"
store = "db_east"
depends_on = ["maintenance"]

[[steps]]
id = "promote"
action = "datastore.promote"
store = "db_west"
max_lag = "30s"
depends_on = ["fence"]

[[steps]]
id = "flush"
action = "datastore.flush"
store = "cache"
depends_on = ["promote"]

[[steps]]
id = "shift"
action = "traffic.shift"
router = "front"
to = "west"
phases = [50, 100]
gate = {{ probe = "web_west", times = 1, every = "50ms", timeout = "2s" }}
on_failure = "rollback"
depends_on = ["flush"]
{extra}
"#
    )
}

/// Long enough for a loaded CI machine; a passing test never waits it out.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A `dr ARGS --json --state-dir sd` in the background whose JSON lines
/// arrive on a channel.
pub struct Bg {
    child: Child,
    rx: Receiver<Value>,
    seen: Vec<Value>,
}

impl Bg {
    pub fn spawn(dir: &Path, args: &[&str]) -> Bg {
        Bg::spawn_in(dir, "sd", args)
    }

    /// [`Bg::spawn`] with the state dir `state_dir`.
    pub fn spawn_in(dir: &Path, state_dir: &str, args: &[&str]) -> Bg {
        let mut child = dr_in(dir)
            .args(args)
            .args(["--json", "--state-dir", state_dir])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { break };
                let v: Value =
                    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Bg {
            child,
            rx,
            seen: Vec::new(),
        }
    }

    /// Waits (bounded) for an event satisfying `pred`; returns it.
    pub fn until(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                }
                Err(_) => panic!("no {what} within {PATIENCE:?}; seen: {:#?}", self.seen),
            }
        }
    }

    /// Whether an event seen so far (or waiting now) satisfies `pred`.
    pub fn seen_any(&mut self, pred: impl Fn(&Value) -> bool) -> bool {
        while let Ok(v) = self.rx.try_recv() {
            self.seen.push(v);
        }
        self.seen.iter().any(pred)
    }

    pub fn event(&mut self, name: &str) -> Value {
        self.until(name, |v| v["event"] == name)
    }

    pub fn signal(&self, sig: &str) {
        kill(&self.child, sig);
    }

    /// Waits for the process to end; its exit code, with every event.
    pub fn finish(mut self) -> (i32, Vec<Value>) {
        let deadline = Instant::now() + PATIENCE;
        let code = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("dr did not exit; seen: {:#?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(v) = self.rx.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(v);
        }
        (code, std::mem::take(&mut self.seen))
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
