//! What is secret in a plan, and that only that is hidden: raw and encoded.

use std::sync::{Arc, Mutex};

use dr_core::executor::{Event, Executor, RunOptions, RunStatus};
use dr_core::sim::SimWorld;
use dr_core::{Health, HealthProbe, LoadOptions, Plan, ProviderError, Registry, async_trait};

/// A probe provider that takes any settings (connection strings, headers).
#[derive(Debug)]
struct AnyProbe;

#[async_trait]
impl HealthProbe for AnyProbe {
    async fn probe(&self) -> Result<Health, ProviderError> {
        Ok(Health::healthy(std::time::Duration::ZERO))
    }
}

fn registry() -> Registry {
    let mut registry = Registry::with_builtins();
    SimWorld::new().register(&mut registry);
    registry.probe("t.conn", |_| Ok(Arc::new(AnyProbe)));
    registry
}

const PASSWORD: &str = "pa ss\"w0rd";

fn env(name: &str) -> Option<String> {
    Some(
        match name {
            "DR_TARGET" => "west-europe-2",
            "STEP_ID" => "shift-traffic-now",
            "CF_ACCOUNT_ID" => "acct-0123456789",
            "PLAIN_VALUE" => "plain-but-under-password",
            "URL_USERPW" => "u-pw-in-userinfo",
            "REGION_Q" => "eu-central-9",
            "REDIS_PASSWORD" => PASSWORD,
            _ => return None,
        }
        .to_string(),
    )
}

const PLAN: &str = r#"
[plan]
name = "redaction"

[resources.front]
provider = "sim.router"
targets = ["east", "${env:DR_TARGET}"]
initial = { east = 100 }

[resources.conn]
provider = "t.conn"
account = "${env:CF_ACCOUNT_ID}"
password = "${env:PLAIN_VALUE}"
url = "https://svc:${env:URL_USERPW}@api.example.test/x?region=${env:REGION_Q}&token=${env:REDIS_PASSWORD}"
literal_url = "https://admin:literal-pw-123@db.example.test/"
headers = { Authorization = "Bearer literal-bearer-token", Accept = "application/json", X-Target = "west-europe-2" }

[resources.health]
provider = "http"
url = "http://127.0.0.1:9/health?token=${env:REDIS_PASSWORD}"
timeout = "2s"

[[steps]]
id = "${env:STEP_ID}"
action = "traffic.shift"
router = "front"
to = "${env:DR_TARGET}"

[[steps]]
id = "hook"
action = "exec"
depends_on = ["${env:STEP_ID}"]
command = "echo account=${env:CF_ACCOUNT_ID} pw='${env:REDIS_PASSWORD}' >&2"
"#;

fn plan() -> Plan {
    Plan::parse("plan.toml", PLAN, &registry(), &LoadOptions::with_env(env))
        .unwrap_or_else(|d| panic!("{d}"))
}

/// The forms a leaked password could take in a file, an event or a URL.
fn leaks(text: &str) -> Vec<&'static str> {
    [
        "pa ss\"w0rd",
        "pa ss\\\"w0rd",
        "pa%20ss%22w0rd",
        "pa+ss%22w0rd",
        "plain-but-under-password",
        "u-pw-in-userinfo",
        "eu-central-9",
        "literal-pw-123",
        "literal-bearer-token",
    ]
    .into_iter()
    .filter(|s| text.contains(s))
    .collect()
}

/// `west-europe-2` is also a literal header value (a secret position), but it
/// is a router target: identifiers are never redacted.
#[test]
fn non_secret_env_values_are_kept_verbatim() {
    let plan = plan();
    assert!(plan.step("shift-traffic-now").is_some());
    let r = plan.redactor();
    let plain = "step shift-traffic-now to west-europe-2 in acct-0123456789, application/json";
    assert_eq!(r.redact(plain), plain);
    let mut split = serde_json::json!({"split": {"west-europe-2": 100}});
    r.redact_json(&mut split);
    assert_eq!(split, serde_json::json!({"split": {"west-europe-2": 100}}));
}

#[test]
fn secrets_are_hidden_raw_and_encoded() {
    let plan = plan();
    let r = plan.redactor();
    for (text, want) in [
        ("pw=pa ss\"w0rd", "pw=******"),
        ("token=pa%20ss%22w0rd&x=1", "token=******&x=1"),
        ("token=pa+ss%22w0rd", "token=******"),
        (r#"{"pw":"pa ss\"w0rd"}"#, r#"{"pw":"******"}"#),
        ("p=plain-but-under-password", "p=******"),
        ("u=u-pw-in-userinfo", "u=******"),
        ("region=eu-central-9", "region=******"),
        ("https://admin:literal-pw-123@db", "https://admin:******@db"),
        (
            "Authorization: Bearer literal-bearer-token",
            "Authorization: ******",
        ),
        ("token literal-bearer-token", "token ******"),
    ] {
        assert_eq!(r.redact(text), want, "{text}");
    }
    // The URL as an HTTP client shows it (percent-encoded) hides nothing.
    let url = plan.resource("conn").unwrap().settings.str("url").unwrap();
    let shown = reqwest::Url::parse(url).unwrap().to_string();
    assert!(shown.contains("pa%20ss%22w0rd"), "{shown}");
    let redacted = r.redact(&shown);
    assert!(leaks(&redacted).is_empty(), "{redacted}");
    assert!(redacted.contains("api.example.test"), "{redacted}");
}

#[test]
fn env_values_are_listed_once_per_name_in_first_use_order() {
    let plan = plan();
    let names: Vec<&str> = plan.env_values().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "DR_TARGET",
            "CF_ACCOUNT_ID",
            "PLAIN_VALUE",
            "URL_USERPW",
            "REGION_Q",
            "REDIS_PASSWORD",
            "STEP_ID"
        ]
    );
    assert!(
        plan.env_values()
            .iter()
            .all(|(n, v)| env(n).as_deref() == Some(v.as_str()))
    );
}

#[tokio::test]
async fn a_run_journals_ids_and_targets_verbatim_and_no_secret_in_any_form() {
    let dir = tempfile::tempdir().unwrap();
    let events = Arc::new(Mutex::new(Vec::<Event>::new()));
    let e = events.clone();
    let out = Executor::new(
        plan(),
        RunOptions::new(dir.path()).on_event(move |ev: &Event| e.lock().unwrap().push(ev.clone())),
    )
    .run()
    .await
    .unwrap();
    assert_eq!(out.status, RunStatus::Succeeded, "{:?}", out.report.steps);
    let journal = std::fs::read_to_string(
        dir.path()
            .join("runs")
            .join(&out.report.run_id)
            .join("journal.jsonl"),
    )
    .unwrap();
    // What resume and rollback need is there as it was.
    assert!(journal.contains("\"shift-traffic-now\""), "{journal}");
    assert!(journal.contains("\"west-europe-2\""), "{journal}");
    assert!(
        !journal.contains("\"******\":"),
        "a redacted key in the captured state: {journal}"
    );
    let mut everything = format!("{:?}", events.lock().unwrap());
    everything.push_str(&serde_json::to_string(&out.report).unwrap());
    for entry in walk(dir.path()) {
        // The run's copy of the plan text is what `dr resume` loads: it holds
        // what the plan file holds (literal credentials included, `${env:..}`
        // unexpanded), nothing more.
        if entry.file_name().is_some_and(|n| n == "plan.toml") {
            assert_eq!(std::fs::read_to_string(&entry).unwrap(), PLAN);
            continue;
        }
        everything.push_str(&std::fs::read_to_string(entry).unwrap_or_default());
    }
    assert!(everything.contains("******"));
    assert!(
        leaks(&everything).is_empty(),
        "leaked: {:?}",
        leaks(&everything)
    );
}

#[tokio::test]
async fn status_hides_a_percent_encoded_query_secret() {
    let plan = plan();
    let lines = dr_core::status::collect(&plan, &registry())
        .await
        .iter()
        .map(|s| s.to_json())
        .collect::<Vec<_>>();
    let health = lines
        .iter()
        .find(|v| v["resource"] == "health")
        .expect("a status line for the http probe");
    let text = health.to_string();
    // The probe failed (nothing listens there) and said where it went.
    assert!(text.contains("127.0.0.1:9"), "{text}");
    assert!(text.contains("token=******"), "{text}");
    let all: String = lines.iter().map(|v| v.to_string()).collect();
    assert!(leaks(&all).is_empty(), "{all}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A webhook URL is the credential (Slack, Teams): every `notify` step's `url`
/// is hidden, whole and by its path and query, however it was written and
/// whatever its variable is called; its host is not.
#[test]
fn every_notify_url_is_a_secret_of_the_plan() {
    let text = r#"
[plan]
name = "hooks"

[[steps]]
id = "slack"
action = "notify"
url = "https://hooks.slack.example/services/T000/B000/XXXXsecretXXXX"
message = "failing over"

[[steps]]
id = "teams"
action = "notify"
url = "${env:TEAMS_URL}"
message = "failing over"
"#;
    let env = |name: &str| {
        (name == "TEAMS_URL").then(|| {
            "https://teams.example/workflows/wf-7c1d/triggers/manual/paths/invoke?api-version=1"
                .to_string()
        })
    };
    let plan = Plan::parse("p.toml", text, &registry(), &LoadOptions::with_env(env))
        .unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(
        plan.webhook_urls(),
        [
            "https://hooks.slack.example/services/T000/B000/XXXXsecretXXXX",
            "https://teams.example/workflows/wf-7c1d/triggers/manual/paths/invoke?api-version=1",
        ]
    );
    let r = plan.redactor();
    for (shown, want) in [
        (
            "POST https://hooks.slack.example/services/T000/B000/XXXXsecretXXXX failed",
            "POST ****** failed",
        ),
        (
            "proxy: no route for /services/T000/B000/XXXXsecretXXXX",
            "proxy: no route for ******",
        ),
        (
            "{\"u\":\"https:\\/\\/teams.example\\/workflows\\/wf-7c1d\\/triggers\\/manual\\/paths\\/invoke?api-version=1\"}",
            "{\"u\":\"******\"}",
        ),
        ("host teams.example", "host teams.example"),
    ] {
        assert_eq!(r.redact(shown), want, "{shown}");
    }
}
