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

/// Slack, Teams and PagerDuty targets: each body in its service's documented
/// shape; PagerDuty triggers when the run fails and resolves the same
/// incident (`dedup_key`) when the resumed run succeeds. The routing key is a
/// secret: in the body PagerDuty gets, nowhere dr prints or writes.
#[tokio::test(flavor = "multi_thread")]
async fn slack_teams_and_pagerduty_get_their_own_shapes_and_pagerduty_resolves_after_the_resume() {
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&hook)
        .await;
    let text = r#"
[plan]
name = "paged"

[plan.notify]
on = ["run_started", "failed", "succeeded"]
targets = [
  { url = "${env:HOOK}/slack", format = "slack" },
  { url = "${env:HOOK}/teams", format = "teams" },
  { url = "${env:HOOK}/pd", format = "pagerduty", routing_key = "${env:PD_KEY}" },
]

[[steps]]
id = "work"
action = "exec"
command = "test -f go"
"#;
    let tmp = with_plan(text);
    let dir = tmp.path().to_path_buf();
    let uri = hook.uri();
    let run = |args: &'static [&'static str]| {
        let (dir, uri) = (dir.clone(), uri.clone());
        move || {
            dr(&dir, args)
                .env("HOOK", &uri)
                .env("PD_KEY", "R0UT1NGKEYsecretXX")
                .output()
                .unwrap()
        }
    };
    let first = tokio::task::spawn_blocking(run(&["run", "p.toml", "--yes", "--json"]))
        .await
        .unwrap();
    assert_eq!(first.status.code(), Some(1));
    let run_id = json_lines(&first.stdout)[0]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    // The operator goes on without the failed step: the run succeeds.
    let d = dir.clone();
    let u = uri.clone();
    let id = run_id.clone();
    let second = tokio::task::spawn_blocking(move || {
        dr(&d, &["resume", &id, "--skip", "work", "--json"])
            .env("HOOK", &u)
            .env("PD_KEY", "R0UT1NGKEYsecretXX")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&second.stdout)
    );

    let by_path = |p: &'static str, all: &[wiremock::Request]| -> Vec<Value> {
        all.iter()
            .filter(|r| r.url.path() == p)
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    };
    let all = hook.received_requests().await.unwrap();
    // Slack: `text` plus Block Kit blocks (header, fields, text, next step).
    let slack = by_path("/slack", &all);
    assert_eq!(
        slack.len(),
        4,
        "started, failed, started (resumed), succeeded: {slack:#?}"
    );
    let failed = &slack[1];
    assert!(failed["text"].as_str().unwrap().contains(&run_id));
    assert_eq!(failed["blocks"][0]["type"], "header");
    assert_eq!(failed["blocks"][0]["text"]["type"], "plain_text");
    assert_eq!(failed["blocks"][0]["text"]["text"], "dr: plan paged failed");
    let fields = failed["blocks"][1]["fields"].as_array().unwrap();
    assert!(fields.iter().all(|f| f["type"] == "mrkdwn"));
    assert!(
        fields
            .iter()
            .any(|f| f["text"] == format!("*Run*\n{run_id}")),
        "{fields:?}"
    );
    assert!(
        fields.iter().any(|f| f["text"] == "*status*\nfailed"),
        "{fields:?}"
    );
    assert_eq!(
        failed["blocks"][3]["elements"][0]["text"],
        format!("Next: `dr resume {run_id} (see dr report {run_id} first)`")
    );
    // Teams: a message carrying an Adaptive Card.
    let teams = by_path("/teams", &all);
    assert_eq!(teams.len(), 4);
    let card = &teams[3];
    assert_eq!(card["type"], "message");
    let att = &card["attachments"][0];
    assert_eq!(
        att["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(att["content"]["type"], "AdaptiveCard");
    assert_eq!(att["content"]["version"], "1.4");
    let facts = att["content"]["body"][1]["facts"].as_array().unwrap();
    assert!(
        facts
            .iter()
            .any(|f| f["title"] == "Plan" && f["value"] == "paged")
    );
    assert!(
        facts
            .iter()
            .any(|f| f["title"] == "Event" && f["value"] == "succeeded")
    );
    // PagerDuty: a trigger when the run failed, the resolve of the same
    // incident when the resumed run succeeded; nothing for run_started.
    let pd = by_path("/pd", &all);
    assert_eq!(pd.len(), 2, "{pd:#?}");
    assert_eq!(pd[0]["event_action"], "trigger");
    assert_eq!(pd[0]["routing_key"], "R0UT1NGKEYsecretXX");
    assert_eq!(pd[0]["payload"]["severity"], "critical");
    assert_eq!(pd[0]["payload"]["source"], "dr plan paged");
    assert!(
        pd[0]["payload"]["summary"]
            .as_str()
            .unwrap()
            .contains(&run_id)
    );
    assert_eq!(pd[1]["event_action"], "resolve");
    assert_eq!(pd[1]["dedup_key"], pd[0]["dedup_key"]);
    assert!(pd[1].get("payload").is_none());
    // The key went to PagerDuty only.
    let mut seen = String::from_utf8_lossy(&first.stdout).to_string();
    seen.push_str(&String::from_utf8_lossy(&first.stderr));
    seen.push_str(&String::from_utf8_lossy(&second.stdout));
    seen.push_str(&String::from_utf8_lossy(&second.stderr));
    for f in crate::playbook::walk(tmp.path()) {
        seen.push_str(&String::from_utf8_lossy(&std::fs::read(f).unwrap()));
    }
    assert!(!seen.contains("R0UT1NGKEYsecretXX"));
}

#[test]
fn a_pagerduty_target_needs_a_routing_key_and_only_it_takes_one() {
    for (targets, says) in [
        (r#"[{ format = "pagerduty" }]"#, "needs `routing_key`"),
        (
            r#"[{ url = "https://hooks.example/a", routing_key = "k" }]"#,
            "routing_key is for format = \"pagerduty\"",
        ),
        (r#"[{ format = "slack" }]"#, "has no `url`"),
    ] {
        let text = format!(
            "[plan]\nname = \"p\"\n[plan.notify]\non = [\"failed\"]\ntargets = {targets}\n[[steps]]\nid = \"w\"\naction = \"exec\"\ncommand = \"true\"\n"
        );
        let tmp = with_plan(&text);
        let out = dr(tmp.path(), &["validate", "p.toml"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{err}");
    }
    // The default URL: PagerDuty's public endpoint (validated, not called).
    let tmp = with_plan(
        "[plan]\nname = \"p\"\n[plan.notify]\non = [\"failed\"]\ntargets = [{ format = \"pagerduty\", routing_key = \"k\" }]\n[[steps]]\nid = \"w\"\naction = \"exec\"\ncommand = \"true\"\n",
    );
    dr(tmp.path(), &["validate", "p.toml"]).assert().code(0);
}
