//! The HTML report as a person sees it: a sim run that retries a step and halts
//! at a one-way step, rendered by headless Chromium. The screenshot must show
//! something (not a blank page) and the SVG must have one lane per step.
//!
//! Needs `chromium` (Debian package; `scripts/test` installs it when missing).

use std::path::PathBuf;
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use crate::support::{dr_stdout, with_plan};

const STEPS: [&str; 4] = ["maintenance", "promote", "flush", "shift"];

/// Maintenance, a promote whose first call fails (so it is retried), a flush,
/// and a gated shift that fails at 50 % because west is down: the rollback
/// stops at the one-way promote and the run halts.
const PLAN: &str = r#"
[plan]
name = "screenshot"
rto = "5m"
rpo = "1m"

[resources.front]
provider = "sim.router"
targets = ["east", "west", "maintenance"]
initial = { east = 100 }
state_file = "sim.json"

[resources.web_west]
provider = "sim.probe"
follows = "front:west"
state_file = "sim.json"

[resources.db_west]
provider = "sim.store"
role = "replica"
lag = "2s"
fail_first = 1
state_file = "sim.json"

[resources.cache]
provider = "sim.store"
role = "primary"
state_file = "sim.json"

[[steps]]
id = "maintenance"
action = "traffic.set"
router = "front"
split = { maintenance = 100 }

[[steps]]
id = "promote"
action = "datastore.promote"
store = "db_west"
max_lag = "30s"
depends_on = ["maintenance"]

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
gate = { probe = "web_west", times = 1, every = "50ms", timeout = "2s" }
on_failure = "rollback"
depends_on = ["flush"]
"#;

fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "chromium is not on PATH: install it (apt-get install chromium), or run scripts/test"
            )
        })
}

#[test]
fn the_html_report_of_a_halted_run_with_a_retry_renders_in_headless_chromium() {
    let tmp = with_plan(PLAN);
    let dir = tmp.path();
    dr_stdout(dir, &["sim", "down", "west", "--plan", "p.toml"], 0);
    let out = dr_stdout(dir, &["run", "p.toml", "--yes"], 1);
    let run_id = out
        .lines()
        .next()
        .unwrap()
        .strip_prefix("run ")
        .unwrap()
        .to_string();
    assert!(out.contains("halted"), "{out}");
    assert!(out.contains("retrying"), "the promote was retried: {out}");

    let html = dr_stdout(dir, &["report", &run_id, "--format", "html"], 0);
    assert_eq!(
        html.matches("class=\"lane\"").count(),
        STEPS.len(),
        "{html}"
    );
    for s in STEPS {
        assert!(
            html.contains(&format!("data-step=\"{s}\"")),
            "no lane for {s}"
        );
    }
    assert!(html.contains("one-way"), "{html}");
    let page = dir.join("report.html");
    std::fs::write(&page, &html).unwrap();

    // Headless Chromium, bounded; its profile in the temp dir.
    let shot = dir.join("report.png");
    let mut child = StdCommand::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            "--window-size=1200,1400",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .env("HOME", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish the screenshot within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(shot.is_file(), "chromium wrote no screenshot");

    // Not blank: decode it and look at the pixels.
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1200, 1400));
    let px = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
    let background = pixels[0];
    let differing = pixels.iter().filter(|p| p[..3] != background[..3]).count();
    let colours: std::collections::HashSet<&[u8]> = pixels.iter().map(|p| &p[..3]).collect();
    assert!(
        differing * 100 > pixels.len(),
        "the screenshot is (almost) blank: {differing} of {} pixels differ from the background",
        pixels.len()
    );
    assert!(
        colours.len() > 8,
        "only {} colours in the screenshot",
        colours.len()
    );
    // Kept for a person to look at when the test runs with DR_KEEP_SCREENSHOT=path.
    if let Some(keep) = std::env::var_os("DR_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}
