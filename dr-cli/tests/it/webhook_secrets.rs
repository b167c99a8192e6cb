//! A webhook URL is the credential (whoever has a Slack or Teams webhook URL
//! can post), so a `notify` step's URL stays out of everything `dr` writes or
//! prints: `--json` events, the journal, the audit log, the reports (JSON,
//! Markdown, HTML), `dr status`, `dr plan` and the `RUST_LOG=trace` lines of
//! every crate. The webhook is a wiremock stand-in whose first answer is a
//! proxy's 503 echoing the path, as a misconfigured gateway does; its
//! variable's name says nothing secret.

use std::path::Path;

use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::{dr, json_lines, with_plan};

/// The part of a Slack webhook URL that is the credential.
const SECRET: &str = "XXXXsecretXXXX";

/// A gateway's 503 naming the path it could not route (retry at once).
struct EchoPath;

impl Respond for EchoPath {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        ResponseTemplate::new(503)
            .insert_header("retry-after", "0")
            .set_body_string(format!("no healthy upstream for POST {}", req.url.path()))
    }
}

/// Everything `dr` printed (`out`) and every file under `dir`.
fn everything(dir: &Path, out: &[std::process::Output]) -> String {
    let mut seen = String::new();
    for o in out {
        seen.push_str(&String::from_utf8_lossy(&o.stdout));
        seen.push_str(&String::from_utf8_lossy(&o.stderr));
    }
    for file in crate::playbook::walk(dir) {
        seen.push_str(&String::from_utf8_lossy(
            &std::fs::read(file).unwrap_or_default(),
        ));
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn a_notify_webhook_url_is_never_written_or_printed() {
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(EchoPath)
        .up_to_n_times(1)
        .mount(&hook)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    let url = format!("{}/services/T000/B000/{SECRET}", hook.uri());
    let dir = with_plan(
        r#"
[plan]
name = "hooks"

[resources.front]
provider = "sim.router"
targets = ["east", "west"]
initial = { east = 100 }
state_file = "sim.json"

[[steps]]
id = "shift"
action = "traffic.set"
router = "front"
split = { west = 100 }

[[steps]]
id = "tell"
action = "notify"
url = "${env:NOTIFY_URL}"
message = "failed over to west"
depends_on = ["shift"]
"#,
    );
    let dir = dir.path();
    let run = |args: &[&str]| {
        dr(dir, args)
            .env("NOTIFY_URL", &url)
            .env("RUST_LOG", "trace")
            .output()
            .expect("dr runs")
    };
    let mut outs = vec![run(&["run", "p.toml", "--json", "--yes"])];
    assert_eq!(outs[0].status.code(), Some(0), "{outs:?}");
    let run_id = json_lines(&outs[0].stdout)
        .iter()
        .find_map(|v| v["run_id"].as_str().map(str::to_string))
        .expect("a run id");
    for args in [
        &["report", &run_id, "--format", "json"][..],
        &["report", &run_id, "--format", "md"],
        &["report", &run_id, "--format", "html"],
        &["status", "p.toml", "--json"],
        &["status", "p.toml"],
        &["plan", "p.toml"],
        &["plan", "p.toml", "--json"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
        outs.push(out);
    }

    // The webhook was posted to, at its secret path, and its echo came back.
    let received = hook.received_requests().await.unwrap();
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|r| r.url.path().ends_with(SECRET)));
    let seen = everything(dir, &outs);
    assert!(seen.contains("no healthy upstream for POST"), "{seen}");
    assert!(seen.contains(&format!("{}/******", hook.uri())), "{seen}");
    assert!(!seen.contains(SECRET), "the webhook URL leaked: {seen}");
    assert!(!seen.contains("/services/T000"), "its path leaked: {seen}");
}
