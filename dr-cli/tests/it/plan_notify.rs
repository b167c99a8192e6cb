//! `[plan.notify]`: run events (`run_started`, the run's end, `after_finished`,
//! ..) to webhook targets, one message per event per target, each naming the
//! plan and the run; a target that cannot be told never fails the run: an
//! event (`notify_failed`) and a line in the report. The URL is a secret.

use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{dr, json_lines, with_plan};

const SECRET: &str = "T0/B0/XXnotifysecretXX";

fn plan(on: &str, after_healthy: bool, last_command: &str) -> String {
    format!(
        r#"
[plan]
name = "told"

[plan.notify]
on = {on}
targets = [
  {{ url = "${{env:GOOD_HOOK}}", headers = {{ X-Team = "dr" }} }},
  {{ url = "${{env:BAD_HOOK}}", format = "webhook" }},
]

[plan.after]
probes = ["web_west"]
for = "30ms"
every = "10ms"

[resources.web_west]
provider = "sim.probe"
healthy = {after_healthy}

[[steps]]
id = "work"
action = "exec"
command = "{last_command}"
"#
    )
}

async fn bodies(hook: &MockServer) -> Vec<(Value, String)> {
    hook.received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| {
            (
                serde_json::from_slice(&r.body).unwrap(),
                r.headers
                    .get("idempotency-key")
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn run_events_reach_every_target_and_a_target_that_fails_never_fails_the_run() {
    let good = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&good)
        .await;
    let bad = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&bad)
        .await;
    let tmp = with_plan(&plan(
        r#"["run_started", "succeeded", "failed", "after_finished"]"#,
        false,
        "true",
    ));
    let dir = tmp.path().to_path_buf();
    let (g, b) = (
        format!("{}/hooks/{SECRET}", good.uri()),
        format!("{}/hooks/{SECRET}", bad.uri()),
    );
    let out = tokio::task::spawn_blocking(move || {
        dr(&dir, &["run", "p.toml", "--yes", "--json"])
            .env("GOOD_HOOK", g)
            .env("BAD_HOOK", b)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    // The after window was unhealthy: exit 1, the run still succeeded.
    assert_eq!(out.status.code(), Some(1));
    let events = json_lines(&out.stdout);
    let last = events.last().unwrap();
    assert_eq!(last["status"], "succeeded");
    let run_id = last["run_id"].as_str().unwrap();

    let got = bodies(&good).await;
    let kinds: Vec<&str> = got
        .iter()
        .map(|(b, _)| b["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["run_started", "after_finished", "succeeded"],
        "{got:?}"
    );
    for (body, key) in &got {
        assert_eq!(body["plan"], "told");
        assert_eq!(body["run_id"], run_id);
        assert_eq!(body["delivery_id"].as_str().unwrap(), key);
        assert!(body["text"].as_str().unwrap().contains(run_id), "{body}");
    }
    assert_eq!(got[1].0["status"], "unhealthy");
    let received = good.received_requests().await.unwrap();
    assert_eq!(received[0].headers.get("x-team").unwrap(), "dr");
    let ids: std::collections::HashSet<&String> = got.iter().map(|(_, k)| k).collect();
    assert_eq!(ids.len(), 3, "one delivery id per message");

    // The failing target: tried for each, said, and in the report.
    assert_eq!(bodies(&bad).await.len(), 3);
    let failed: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "notify_failed")
        .collect();
    assert_eq!(failed.len(), 3, "{events:?}");
    let report: Value = serde_json::from_slice(
        &dr(tmp.path(), &["report", run_id, "--format", "json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let lines = report["notify_failed"].as_array().unwrap();
    assert_eq!(lines.len(), 3, "{report:#}");
    assert_eq!(lines[0]["event"], "run_started");
    let md =
        String::from_utf8(dr(tmp.path(), &["report", run_id]).output().unwrap().stdout).unwrap();
    assert!(md.contains("Not notified"), "{md}");
    // The URL is a credential: nowhere in what dr printed or wrote.
    let mut seen = String::from_utf8_lossy(&out.stdout).to_string();
    seen.push_str(&String::from_utf8_lossy(&out.stderr));
    seen.push_str(&md);
    for f in crate::playbook::walk(tmp.path()) {
        seen.push_str(&String::from_utf8_lossy(&std::fs::read(f).unwrap()));
    }
    assert!(!seen.contains("XXnotifysecretXX"));
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_events_of_on_are_sent_and_a_failure_says_why() {
    let good = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&good)
        .await;
    let tmp = with_plan(&plan(r#"["failed"]"#, true, "exit 3"));
    let dir = tmp.path().to_path_buf();
    let g = format!("{}/hooks/{SECRET}", good.uri());
    let code = tokio::task::spawn_blocking(move || {
        dr(&dir, &["run", "p.toml", "--yes"])
            .env("GOOD_HOOK", &g)
            .env("BAD_HOOK", &g)
            .output()
            .unwrap()
            .status
            .code()
    })
    .await
    .unwrap();
    assert_eq!(code, Some(1));
    let got = bodies(&good).await;
    assert_eq!(got.len(), 2, "one per target: {got:?}");
    for (body, _) in &got {
        assert_eq!(body["event"], "failed");
        assert_eq!(body["status"], "failed");
        assert!(body["error"].as_str().unwrap().contains("work"), "{body}");
    }
}

#[test]
fn notify_tables_are_checked_where_they_stand() {
    for (bad, says) in [
        (r#"on = ["exploded"]"#, "exploded"),
        (r#"on = []"#, "on must not be empty"),
    ] {
        let text = plan(r#"["failed"]"#, true, "true").replace(r#"on = ["failed"]"#, bad);
        let tmp = with_plan(&text);
        let out = dr(tmp.path(), &["validate", "p.toml"])
            .env("GOOD_HOOK", "https://hooks.example/a")
            .env("BAD_HOOK", "https://hooks.example/b")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("p.toml:6:"), "{err}");
        assert!(err.contains(says), "{err}");
    }
    let text = plan(r#"["failed"]"#, true, "true")
        .replace("format = \"webhook\"", "format = \"carrier-pigeon\"");
    let tmp = with_plan(&text);
    let out = dr(tmp.path(), &["validate", "p.toml"])
        .env("GOOD_HOOK", "https://hooks.example/a")
        .env("BAD_HOOK", "ftp://hooks.example/b")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("carrier-pigeon"), "{err}");
}
