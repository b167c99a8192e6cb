//! `dr watch` benchmarks; prints figures, asserts nothing about speed.
//!
//! ```text
//! cargo bench -p dr-cli --bench watch                 # all three
//! cargo bench -p dr-cli --bench watch -- detection    # or: false-triggers, scale
//! ```
//!
//! 1. `detection`: a `dr watch --dry-run` on the sim (interval 200 ms,
//!    timeout 100 ms, failure_threshold 3); 20 times: mark the watched target
//!    down, read the trigger's recorded detection time (first failed probe →
//!    trigger) and the time from the mark to the event, against the bound
//!    `interval × failure_threshold + timeout` = 700 ms.
//! 2. `false-triggers`: the detector fed 10,000 rounds where the probe fails
//!    with probability 0.2 (seeded), never three failed rounds in a row by
//!    construction; threshold 3 → expect 0 triggers. For contrast, the same
//!    noise without that construction, and five probes with a quorum.
//! 3. `scale`: 10,000 HTTP endpoints on loopback (served by this process),
//!    probed every 10 s by one `dr watch` process: its CPU (percent of one
//!    core, over 6 rounds after the first) and peak RSS (VmHWM). Goals: < 20 %,
//!    < 100 MB.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use dr_core::watch::{Decision, Detector, Round, WatchState};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dr");

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |name: &str| args.is_empty() || args.iter().any(|a| a == name);
    if want("false-triggers") {
        false_triggers();
    }
    if want("detection") {
        detection();
    }
    if want("scale") {
        scale();
    }
}

/// A background `dr watch --json` whose events arrive on a channel.
struct Watch {
    child: Child,
    rx: Receiver<(Instant, Value)>,
}

impl Watch {
    fn spawn(dir: &Path, extra: &[&str]) -> Watch {
        let mut child = Command::new(BIN)
            .current_dir(dir)
            .args(["watch", "p.toml", "--json", "--state-dir", "sd"])
            .args(extra)
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
        Watch { child, rx }
    }

    fn until(&self, pred: impl Fn(&Value) -> bool) -> (Instant, Value) {
        loop {
            let (at, v) = self
                .rx
                .recv_timeout(Duration::from_secs(120))
                .expect("dr watch went quiet");
            if pred(&v) {
                return (at, v);
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn stats(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    let pct = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    format!(
        "min {:.0}  median {:.0}  p95 {:.0}  max {:.0}",
        v[0],
        pct(0.5),
        pct(0.95),
        v[v.len() - 1]
    )
}

fn detection() {
    println!(
        "\n== detection latency on the sim: interval 200ms, timeout 100ms, failure_threshold 3, 20 trials"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("p.toml"),
        r#"
[plan]
name = "detect"

[plan.watch]
probes = ["web_east"]
interval = "200ms"
timeout = "100ms"
failure_threshold = 3
hold_down = "0s"
check_every = "1h"

[resources.front]
provider = "sim.router"
targets = ["east", "west"]
state_file = "sim.json"

[resources.web_east]
provider = "sim.probe"
follows = "front:east"
state_file = "sim.json"

[[steps]]
id = "west"
action = "traffic.set"
router = "front"
split = { west = 100 }
"#,
    )
    .unwrap();
    let state = dir.join("sim.json");
    dr_core::sim::set_target_down(&state, "east", false).unwrap();
    let w = Watch::spawn(dir, &["--dry-run"]);
    let bound = w.until(|v| v["event"] == "watch_started").1["bound_ms"]
        .as_u64()
        .unwrap();
    let (mut recorded, mut outside) = (Vec::new(), Vec::new());
    for trial in 1..=20 {
        // Two healthy rounds, then down at a random point of the round.
        w.until(|v| v["event"] == "watch_round" && v["failed"] == false);
        w.until(|v| v["event"] == "watch_round" && v["failed"] == false);
        std::thread::sleep(Duration::from_millis(rand::random_range(0..200)));
        let marked = Instant::now();
        dr_core::sim::set_target_down(&state, "east", true).unwrap();
        let (at, t) = w.until(|v| v["event"] == "watch_triggered");
        let d = t["detection_ms"].as_u64().unwrap() as f64;
        let o = at.duration_since(marked).as_secs_f64() * 1000.0;
        println!(
            "  trial {trial:2}: recorded detection {d:4.0} ms, mark-to-event {o:4.0} ms (bound {bound} ms)"
        );
        recorded.push(d);
        outside.push(o);
        dr_core::sim::set_target_down(&state, "east", false).unwrap();
        w.until(|v| v["event"] == "watch_state" && v["state"] == "healthy");
    }
    let over = recorded.iter().filter(|d| **d > bound as f64).count();
    println!(
        "  recorded detection (first failed probe -> trigger), ms: {}",
        stats(recorded)
    );
    println!(
        "  mark down -> watch_triggered event seen here, ms:       {}",
        stats(outside)
    );
    println!("  bound {bound} ms; trials over the bound: {over} of 20");
}

fn false_triggers() {
    use rand::{Rng, SeedableRng};
    println!(
        "\n== false triggers: 10,000 rounds, probes failing 20% at random (seed 14), failure_threshold 3"
    );
    let base = Instant::now();
    let wall = chrono::Utc::now();
    let round = |i: u32, unhealthy: usize| Round {
        started: base + Duration::from_secs(10) * i,
        started_at: wall,
        ended: base + Duration::from_secs(10) * i + Duration::from_millis(5),
        ended_at: wall,
        unhealthy,
    };
    let count = |d: &mut Detector, rounds: &[usize]| {
        let (mut trig, mut suspect) = (0, 0);
        for (i, u) in rounds.iter().enumerate() {
            let o = d.observe(&round(i as u32, *u));
            if matches!(o.decision, Decision::Trigger(_)) {
                trig += 1;
            }
            if o.change.is_some_and(|(_, to)| to == WatchState::Suspect) {
                suspect += 1;
            }
        }
        (trig, suspect)
    };
    // One probe; never three failed rounds in a row (a third failure in a row
    // is drawn as healthy instead).
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    let mut run = 0;
    let guarded: Vec<usize> = (0..10_000)
        .map(|_| {
            let fail = run < 2 && rng.random_bool(0.2);
            run = if fail { run + 1 } else { 0 };
            usize::from(fail)
        })
        .collect();
    let failed = guarded.iter().sum::<usize>();
    let (trig, suspect) = count(&mut Detector::with(1, 3, Duration::ZERO), &guarded);
    println!(
        "  1 probe, never 3 in a row: {failed} failed rounds ({:.1}%), {suspect} suspect episodes, triggers: {trig}",
        failed as f64 / 100.0
    );
    // The same noise, independent: three in a row happen by chance.
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    let iid: Vec<usize> = (0..10_000)
        .map(|_| usize::from(rng.random_bool(0.2)))
        .collect();
    let (trig, _) = count(&mut Detector::with(1, 3, Duration::ZERO), &iid);
    println!(
        "  contrast: 1 probe, independent 20% noise: triggers {trig} (runs of 3 occur by chance)"
    );
    // Five probes, each failing 20% independently.
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    let five: Vec<usize> = (0..10_000)
        .map(|_| (0..5).filter(|_| rng.random_bool(0.2)).count())
        .collect();
    for quorum in [5, 3] {
        let (trig, suspect) = count(&mut Detector::with(quorum, 3, Duration::ZERO), &five);
        println!(
            "  contrast: 5 probes, independent 20% noise, quorum {quorum}: {suspect} suspect episodes, triggers {trig}"
        );
    }
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Raises this process's open-file limit (inherited by the `dr` it starts).
fn raise_nofile(want: u64) -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < want && setrlimit(Resource::RLIMIT_NOFILE, want, hard.max(want)).is_err() {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
    getrlimit(Resource::RLIMIT_NOFILE).unwrap().0
}

fn scale() {
    const N: usize = 10_000;
    const ROUNDS: u64 = 6;
    println!(
        "\n== scale: {N} HTTP endpoints on loopback, one `dr watch`, interval 10s, timeout 5s"
    );
    let nofile = raise_nofile(65_536);
    println!("  RLIMIT_NOFILE {nofile} (this process and the dr it starts)");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let ports: Vec<u16> = rt.block_on(async {
        let mut ports = Vec::with_capacity(N);
        for _ in 0..N {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            ports.push(l.local_addr().unwrap().port());
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                loop {
                    let Ok((mut s, _)) = l.accept().await else {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    tokio::spawn(async move {
                        let mut buf = [0u8; 2048];
                        let mut got = Vec::new();
                        while let Ok(n) = s.read(&mut buf).await {
                            if n == 0 {
                                return;
                            }
                            got.extend_from_slice(&buf[..n]);
                            if got.windows(4).any(|w| w == b"\r\n\r\n") {
                                break;
                            }
                        }
                        let _ = s
                            .write_all(
                                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                            )
                            .await;
                        let _ = s.shutdown().await;
                    });
                }
            });
        }
        ports
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut plan = String::from(
        "[plan]\nname = \"scale\"\n\n[plan.watch]\ninterval = \"10s\"\ntimeout = \"5s\"\nfailure_threshold = 3\nprobes = [",
    );
    for i in 0..N {
        plan.push_str(&format!("\"e{i}\","));
    }
    plan.push_str(
        "]\n\n[resources.front]\nprovider = \"sim.router\"\ntargets = [\"east\", \"west\"]\n",
    );
    for (i, port) in ports.iter().enumerate() {
        plan.push_str(&format!(
            "[resources.e{i}]\nprovider = \"http\"\nurl = \"http://127.0.0.1:{port}/healthz\"\ntimeout = \"5s\"\n"
        ));
    }
    plan.push_str(
        "[[steps]]\nid = \"west\"\naction = \"traffic.set\"\nrouter = \"front\"\nsplit = { west = 100 }\n",
    );
    std::fs::write(dir.join("p.toml"), plan).unwrap();
    let t0 = Instant::now();
    let w = Watch::spawn(dir, &["--dry-run", "--metrics", "127.0.0.1:0"]);
    let pid = w.child.id();
    w.until(|v| v["event"] == "watch_started");
    let loaded = t0.elapsed();
    let (_, first) = w.until(|v| v["event"] == "watch_round");
    let (_, check) = w.until(|v| v["event"] == "watch_check");
    println!(
        "  plan loaded and validated in {:.2}s; first round: {} down, took {} ms; startup check ready={}",
        loaded.as_secs_f64(),
        first["unhealthy"],
        first["took_ms"],
        check["ready"]
    );
    let ticks = 100.0; // USER_HZ on Linux
    let (c0, w0) = (cpu_ticks(pid), Instant::now());
    let mut took = Vec::new();
    let mut down = 0;
    for _ in 0..ROUNDS {
        let (_, r) = w.until(|v| v["event"] == "watch_round");
        took.push(r["took_ms"].as_f64().unwrap());
        down += r["unhealthy"].as_u64().unwrap();
    }
    let (c1, w1) = (cpu_ticks(pid), Instant::now());
    let secs = w1.duration_since(w0).as_secs_f64();
    let cpu = (c1 - c0) as f64 / ticks / secs * 100.0;
    let hwm = status_kb(pid, "VmHWM:") as f64 / 1024.0;
    let rss = status_kb(pid, "VmRSS:") as f64 / 1024.0;
    println!(
        "  {ROUNDS} rounds of {N} probes: round time ms {}; probes down {down}",
        stats(took)
    );
    println!(
        "  dr watch: CPU {cpu:.1}% of one core over {secs:.0}s (goal < 20%); peak RSS {hwm:.1} MB, now {rss:.1} MB (goal < 100 MB)"
    );
    drop(w);
    rt.shutdown_background();
}
