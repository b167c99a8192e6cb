//! `[plan.after]`: after the last step of a failover that succeeded, `dr`
//! keeps probing the new side for `for`, one round every `every`. Healthy:
//! exit 0. Unhealthy (a probe down during the window): exit 1, the run stays
//! `succeeded` and traffic stays where the run put it. Ctrl-C ends the window
//! without changing the run's outcome. An invalid table is refused where it
//! stands.

use serde_json::Value;

use crate::support::{Bg, dr, dr_stdout, json_lines, report_json, sim_failover, split, with_plan};

/// The sim failover (traffic ends on west, `web_west` follows `front:west`)
/// with `[plan.after]` watching `probes`, and a probe `west_broken` that is
/// always unhealthy (no step uses it).
fn plan(after: &str) -> String {
    sim_failover(
        "after",
        "0ms",
        &format!(
            r#"
[resources.west_broken]
provider = "sim.probe"
healthy = false

[plan.after]
{after}
"#
        ),
    )
}

fn event<'a>(events: &'a [Value], name: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["event"] == name)
        .unwrap_or_else(|| panic!("no {name} in {events:#?}"))
}

#[test]
fn a_healthy_window_after_the_last_step_exits_0_and_is_in_every_report() {
    let tmp = with_plan(&plan(
        r#"probes = ["web_west"]
for = "300ms"
every = "100ms""#,
    ));
    let dir = tmp.path();
    let events = json_lines(dr_stdout(dir, &["run", "p.toml", "--yes", "--json"], 0));
    let started = event(&events, "after_started");
    assert_eq!(started["probes"], serde_json::json!(["web_west"]));
    assert_eq!(started["for_ms"], 300);
    assert_eq!(started["every_ms"], 100);
    let finished = event(&events, "after_finished");
    assert_eq!(finished["status"], "healthy", "{finished}");
    assert_eq!(finished["rounds"], 3, "{finished}");
    assert_eq!(finished["failures"], serde_json::json!([]));
    // The window follows the last step and the run's end follows it.
    let pos = |name: &str| events.iter().position(|e| e["event"] == name).unwrap();
    let last_step = events
        .iter()
        .rposition(|e| e["event"] == "step_finished")
        .unwrap();
    assert!(last_step < pos("after_started"));
    assert!(pos("after_finished") < pos("run_finished"));
    assert_eq!(events.last().unwrap()["status"], "succeeded");

    let run_id = events[0]["run_id"].as_str().unwrap();
    let r = report_json(dir, run_id);
    assert_eq!(r["status"], "succeeded");
    let after = &r["after"];
    assert_eq!(after["status"], "healthy", "{r}");
    assert_eq!(after["rounds"], 3);
    assert_eq!(after["probes"], serde_json::json!(["web_west"]));
    assert!(after["started_at"].is_string() && after["finished_at"].is_string());
    assert_eq!(after["failures"], serde_json::json!([]));
    let md = dr_stdout(dir, &["report", run_id], 0);
    assert!(md.contains("## After the last step: healthy"), "{md}");
    let html = dr_stdout(dir, &["report", run_id, "--format", "html"], 0);
    assert!(html.contains(r#"data-step="after: web_west""#), "{html}");
    assert!(html.contains(r#"class="bar healthy""#), "{html}");
}

#[test]
fn an_unhealthy_probe_in_the_window_exits_1_reports_it_and_moves_nothing_back() {
    let tmp = with_plan(&plan(
        r#"probes = ["web_west", "west_broken"]
for = "200ms"
every = "100ms""#,
    ));
    let dir = tmp.path();
    let events = json_lines(dr_stdout(dir, &["run", "p.toml", "--yes", "--json"], 1));
    let finished = event(&events, "after_finished");
    assert_eq!(finished["status"], "unhealthy", "{finished}");
    let failures = finished["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 2, "{finished}");
    assert!(failures.iter().all(|f| f["probe"] == "west_broken"));
    assert_eq!(failures[0]["round"], 1);
    assert_eq!(failures[0]["status"], "unhealthy");
    // A warning says so; the run itself succeeded and nothing was undone.
    assert!(
        events.iter().any(|e| e["event"] == "warning"
            && e["message"].as_str().unwrap().contains("nothing is undone")),
        "{events:#?}"
    );
    let last = events.last().unwrap();
    assert_eq!(last["status"], "succeeded");
    assert_eq!(last["after"], "unhealthy");
    assert_eq!(
        split(dir, "p.toml", "front"),
        serde_json::json!({"west": 100})
    );
    let run_id = events[0]["run_id"].as_str().unwrap();
    let r = report_json(dir, run_id);
    assert_eq!(r["status"], "succeeded");
    assert_eq!(r["after"]["status"], "unhealthy", "{r}");
    assert_eq!(r["after"]["failures"][0]["probe"], "west_broken");
    let md = dr_stdout(dir, &["report", run_id], 0);
    assert!(md.contains("## After the last step: unhealthy"), "{md}");
    assert!(md.contains("| 1 | `west_broken` | unhealthy |"), "{md}");
    let html = dr_stdout(dir, &["report", run_id, "--format", "html"], 0);
    assert!(html.contains(r#"class="bar unhealthy""#), "{html}");
}

#[test]
fn a_region_marked_down_during_the_window_makes_it_unhealthy() {
    let tmp = with_plan(&plan(
        r#"probes = ["web_west"]
for = "10m"
every = "50ms""#,
    ));
    let dir = tmp.path();
    let mut run = Bg::spawn(dir, &["run", "p.toml", "--yes"]);
    run.event("after_started");
    dr(dir, &["sim", "down", "west", "--state-file", "sim.json"])
        .assert()
        .code(0);
    // Said as soon as a round fails, not only at the window's end.
    let warned = run.until("the first failed round", |v| {
        v["event"] == "warning" && v["message"].as_str().unwrap_or("").contains("unhealthy")
    });
    assert!(
        warned["message"].as_str().unwrap().contains("web_west"),
        "{warned}"
    );
    // Ctrl-C ends the ten-minute window; a failed round keeps it unhealthy.
    run.signal("-INT");
    let (code, events) = run.finish();
    assert_eq!(code, 1, "{events:#?}");
    let finished = event(&events, "after_finished");
    assert_eq!(finished["status"], "unhealthy", "{finished}");
    assert_eq!(finished["failures"][0]["probe"], "web_west");
    assert_eq!(events.last().unwrap()["status"], "succeeded");
    // Traffic is not moved back.
    assert_eq!(
        split(dir, "p.toml", "front"),
        serde_json::json!({"west": 100})
    );
}

#[test]
fn ctrl_c_during_the_window_ends_it_interrupted_and_the_run_still_exits_0() {
    let tmp = with_plan(&plan(
        r#"probes = ["web_west"]
for = "10m"
every = "50ms""#,
    ));
    let dir = tmp.path();
    let mut run = Bg::spawn(dir, &["run", "p.toml", "--yes"]);
    run.event("after_started");
    run.signal("-INT");
    let (code, events) = run.finish();
    assert_eq!(code, 0, "{events:#?}");
    assert_eq!(event(&events, "after_finished")["status"], "interrupted");
    let last = events.last().unwrap();
    assert_eq!(last["event"], "run_finished");
    assert_eq!(last["status"], "succeeded");
    let r = report_json(dir, last["run_id"].as_str().unwrap());
    assert_eq!(r["status"], "succeeded");
    assert_eq!(r["after"]["status"], "interrupted");
}

#[test]
fn an_invalid_after_table_is_refused_naming_file_line_column_and_key() {
    for (after, key, msg) in [
        (
            "probes = [\"web_west\", \"nosuch\"]\nfor = \"1m\"\nevery = \"10s\"",
            "plan.after.probes[1]",
            "nosuch",
        ),
        (
            "probes = [\"front\"]\nfor = \"1m\"\nevery = \"10s\"",
            "plan.after.probes[0]",
            "front",
        ),
        (
            "probes = [\"web_west\"]\nfor = \"1m\"\nevery = \"2m\"",
            "plan.after.every",
            "every (2m) must be at most for (1m)",
        ),
        (
            "probes = [\"web_west\"]\nfor = \"0s\"\nevery = \"0s\"",
            "plan.after.for",
            "for must be more than 0",
        ),
    ] {
        let text = plan(after);
        let tmp = with_plan(&text);
        let out = dr(tmp.path(), &["validate", "p.toml", "--json"])
            .assert()
            .code(2);
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        let d = v["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["key"] == key)
            .unwrap_or_else(|| panic!("no diagnostic at {key}: {v}"));
        assert!(d["message"].as_str().unwrap().contains(msg), "{after}: {v}");
        let name = key.trim_start_matches("plan.after.");
        let name = name.split('[').next().unwrap();
        let line = text
            .lines()
            .position(|l| l.starts_with(&format!("{name} =")))
            .unwrap()
            + 1;
        assert_eq!(d["line"], line, "{after}: {v}");
        assert!(d["column"].as_u64().unwrap() >= 1);
        // The human form names file:line:column.
        dr(tmp.path(), &["validate", "p.toml"])
            .assert()
            .code(2)
            .stderr(predicates::str::contains(format!("p.toml:{line}:")));
    }
}

#[test]
fn the_schema_describes_the_after_table() {
    let tmp = with_plan("");
    let schema: Value = serde_json::from_str(&dr_stdout(tmp.path(), &["schema"], 0)).unwrap();
    let text = schema.to_string();
    assert!(text.contains("AfterTable"), "{text}");
    let defs = &schema["$defs"]["AfterTable"]["properties"];
    for k in ["probes", "for", "every"] {
        assert!(defs.get(k).is_some(), "{k}: {defs}");
    }
}

#[test]
fn a_resumed_run_that_succeeds_watches_the_window_too() {
    let tmp = with_plan(&plan(
        r#"probes = ["web_west"]
for = "100ms"
every = "50ms""#,
    ));
    let dir = tmp.path();
    dr(dir, &["sim", "down", "west", "--state-file", "sim.json"])
        .assert()
        .code(0);
    let events = json_lines(dr_stdout(dir, &["run", "p.toml", "--yes", "--json"], 1));
    assert_eq!(events.last().unwrap()["status"], "halted");
    assert!(events.iter().all(|e| e["event"] != "after_started"));
    let run_id = events[0]["run_id"].as_str().unwrap();
    dr(dir, &["sim", "up", "west", "--state-file", "sim.json"])
        .assert()
        .code(0);
    let events = json_lines(dr_stdout(dir, &["resume", run_id, "--json"], 0));
    assert_eq!(event(&events, "after_finished")["status"], "healthy");
    assert_eq!(events.last().unwrap()["status"], "succeeded");
    assert_eq!(report_json(dir, run_id)["after"]["status"], "healthy");
}

/// A long window of a side that stays down keeps the first 50 failures (the
/// journal and report do not grow with the window) and counts every round.
#[test]
fn a_window_that_stays_unhealthy_keeps_the_first_failures_only() {
    let tmp = with_plan(&plan(
        r#"probes = ["west_broken"]
for = "3s"
every = "10ms""#,
    ));
    let dir = tmp.path();
    let events = json_lines(dr_stdout(dir, &["run", "p.toml", "--yes", "--json"], 1));
    let finished = event(&events, "after_finished");
    let rounds = finished["rounds"].as_u64().unwrap();
    assert!(rounds > 50, "{finished}");
    assert_eq!(finished["failures"].as_array().unwrap().len(), 50);
    let want = format!("unhealthy in {rounds} of {rounds} round(s)");
    assert!(
        events
            .iter()
            .filter_map(|e| e["message"].as_str())
            .any(|m| m.contains(&want)),
        "{want}: {events:#?}"
    );
}
