//! `dr report RUN_ID --format html`: one self-contained page with an SVG
//! timeline, for a halted run and a succeeded one. Each test works in its own
//! temp dir (the cwd, where the plan's `state_file` lands) with its own
//! `--state-dir`.

use serde_json::Value;
use tempfile::TempDir;

use crate::support::{dr_stdout, sim_failover, with_plan};

const STEPS: [&str; 5] = ["maintenance", "fence", "promote", "flush", "shift"];

/// Runs the sim failover (maintenance, fence, a one-way promote, flush, and a
/// phased, gated shift to west that rolls back on failure) in a fresh dir, with
/// west down first when `west_down`; returns the dir and the run id.
fn run(west_down: bool, code: i32) -> (TempDir, String) {
    let dir = with_plan(&sim_failover("html-report", "0ms", ""));
    if west_down {
        dr_stdout(dir.path(), &["sim", "down", "west", "--plan", "p.toml"], 0);
    }
    let out = dr_stdout(dir.path(), &["run", "p.toml", "--yes"], code);
    let first = out.lines().next().unwrap();
    let run_id = first.strip_prefix("run ").expect(first).to_string();
    (dir, run_id)
}

/// Checks what every page must be: a complete document with one timeline
/// lane per plan step, in plan order, and nothing fetched from elsewhere.
fn check_page(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.trim_end().ends_with("</html>"), "{html}");
    assert!(html.contains("<svg"), "{html}");
    assert_eq!(
        html.matches("class=\"lane\"").count(),
        STEPS.len(),
        "{html}"
    );
    let lanes: Vec<usize> = STEPS
        .iter()
        .map(|s| {
            html.find(&format!("class=\"lane\" data-step=\"{s}\""))
                .unwrap_or_else(|| panic!("no lane for {s}: {html}"))
        })
        .collect();
    assert!(lanes.windows(2).all(|w| w[0] < w[1]), "{lanes:?}");
    let lower = html.to_ascii_lowercase();
    for attr in ["src=", "href="] {
        for (i, _) in lower.match_indices(attr) {
            let value = lower[i + attr.len()..].trim_start_matches(['"', '\'']);
            assert!(!value.starts_with("http"), "external URL at {i}: {html}");
            assert!(!value.starts_with("//"), "external URL at {i}: {html}");
        }
    }
    assert!(!lower.contains("<script"), "{html}");
    assert!(lower.contains("prefers-color-scheme: dark"), "{html}");
    assert!(lower.contains("@media print"), "{html}");
}

#[test]
fn a_halted_run_renders_as_one_page_with_a_lane_per_step_and_the_one_way_step() {
    let (dir, run_id) = run(true, 1);
    let json: Value = serde_json::from_str(&dr_stdout(
        dir.path(),
        &["report", &run_id, "--format", "json"],
        0,
    ))
    .unwrap();
    assert_eq!(json["status"], "halted");
    let hash = json["audit_head"]["hash"].as_str().unwrap().to_string();
    // The phases the shift applied before its gate failed are in the JSON report.
    assert_eq!(json["phases"][0]["step"], "shift", "{json}");

    let html = dr_stdout(dir.path(), &["report", &run_id, "--format", "html"], 0);
    check_page(&html);
    assert!(html.contains("one-way"), "{html}");
    assert!(html.contains("one-way: rollback stopped here"), "{html}");
    assert!(html.contains(&hash), "{html}");
    assert!(html.contains("halted"), "{html}");
    assert!(html.contains("Traffic share"), "{html}");
    // The promote observed db_west's lag, against the 1m RPO target.
    assert!(html.contains("Replication lag observed"), "{html}");

    // `--json` still means JSON, whatever the format.
    let v: Value = serde_json::from_str(&dr_stdout(
        dir.path(),
        &["report", &run_id, "--format", "html", "--json"],
        0,
    ))
    .unwrap();
    assert_eq!(v["run_id"], run_id.as_str());
    // Markdown stays the default.
    assert!(dr_stdout(dir.path(), &["report", &run_id], 0).starts_with("# Run"));
}

#[test]
fn a_succeeded_run_renders_with_its_verdict() {
    let (dir, run_id) = run(false, 0);
    let html = dr_stdout(dir.path(), &["report", &run_id, "--format", "html"], 0);
    check_page(&html);
    assert!(html.contains("Status: succeeded"), "{html}");
    assert!(html.contains("RTO <span class=\"met\">"), "{html}");
    assert!(!html.contains("one-way"), "{html}");
    assert_eq!(html.matches("not run").count(), 0, "{html}");
    assert!(html.contains("west 100"), "{html}");
}

#[test]
fn demo_writes_the_html_report_of_its_run_into_the_state_dir_and_prints_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let out = dr_stdout(dir.path(), &["demo"], 0);
    // The printed path, relative to the cwd like the `--state-dir` given.
    let printed = out
        .lines()
        .find_map(|l| l.split_once("as one HTML page: ").map(|(_, p)| p.trim()))
        .unwrap_or_else(|| panic!("no HTML report path: {out}"));
    let path = dir.path().join(printed);
    assert_eq!(path, dir.path().join("sd").join("report.html"), "{out}");
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("Status: succeeded"), "{html}");
    // The resumed run's page: one lane per step of the drill plan.
    let runs: Vec<_> = std::fs::read_dir(dir.path().join("sd").join("runs"))
        .unwrap()
        .collect();
    assert_eq!(runs.len(), 1);
    let run_id = runs[0].as_ref().unwrap().file_name();
    let json: Value = serde_json::from_str(&dr_stdout(
        dir.path(),
        &["report", run_id.to_str().unwrap(), "--format", "json"],
        0,
    ))
    .unwrap();
    let steps = json["steps"].as_array().unwrap().len();
    assert!(steps > 0);
    assert_eq!(html.matches("class=\"lane\"").count(), steps, "{html}");
}
