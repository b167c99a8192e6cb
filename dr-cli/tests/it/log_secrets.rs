//! Credentials a provider takes from its environment (no plan names them) stay
//! out of everything `dr` writes: `--json` events, the journal, `report.json`,
//! `dr status`, and the `RUST_LOG=trace` lines of every crate, the AWS SDK's
//! request dumps included. The remote side is a wiremock stand-in that echoes
//! the request's headers in a 502, as a misbehaving proxy does.

use std::path::Path;

use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::{dr, with_plan};

/// A proxy's 502 quoting every request header.
struct EchoHeaders;

impl Respond for EchoHeaders {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let headers: Vec<String> = req
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("?")))
            .collect();
        ResponseTemplate::new(502).set_body_string(format!(
            "bad gateway; your request had {}",
            headers.join("; ")
        ))
    }
}

async fn echoing_proxy() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(EchoHeaders)
        .mount(&server)
        .await;
    server
}

/// Everything `dr` wrote or printed in `dir`: stdout, stderr and every file.
fn everything(dir: &Path, out: &std::process::Output) -> String {
    let mut seen = String::from_utf8_lossy(&out.stdout).to_string();
    seen.push_str(&String::from_utf8_lossy(&out.stderr));
    for file in crate::playbook::walk(dir) {
        seen.push_str(&String::from_utf8_lossy(
            &std::fs::read(file).unwrap_or_default(),
        ));
    }
    seen
}

/// `dr run --json` and `dr status --json` with `RUST_LOG=trace` and the
/// environment `env`, on `plan`; what they printed and wrote.
fn run_traced(plan: &str, env: &[(&str, &str)]) -> String {
    let dir = with_plan(plan);
    let mut seen = String::new();
    for args in [
        &["run", "p.toml", "--json", "--yes"][..],
        &["status", "p.toml", "--json"][..],
    ] {
        let mut cmd = dr(dir.path(), args);
        cmd.env("RUST_LOG", "trace");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("dr runs");
        seen.push_str(&everything(dir.path(), &out));
    }
    seen
}

const STEP: &str = r#"
[[steps]]
id = "shift"
action = "traffic.set"
router = "front"
split = { west = 100 }
"#;

/// `CLOUDFLARE_API_TOKEN` echoed back by a proxy's error.
#[cfg(feature = "cloudflare")]
#[tokio::test(flavor = "multi_thread")]
async fn the_cloudflare_token_from_the_environment_is_never_written() {
    const TOKEN: &str = "cf-env-token-0d7c41b9e2";
    let proxy = echoing_proxy().await;
    let plan = format!(
        r#"
[plan]
name = "cf"

[resources.front]
provider = "cloudflare.dns_record"
zone_id = "zone1"
record = "rec1"
targets = {{ east = "203.0.113.10", west = "198.51.100.20" }}
api_base = "{}/client/v4"
{STEP}"#,
        proxy.uri()
    );
    let seen = run_traced(&plan, &[("CLOUDFLARE_API_TOKEN", TOKEN)]);
    assert!(
        seen.contains("bad gateway"),
        "the proxy was reached: {seen}"
    );
    assert!(!seen.contains(TOKEN), "the token leaked: {seen}");
}

/// `AZURE_ACCESS_TOKEN` echoed back by a proxy's error.
#[cfg(feature = "azure")]
#[tokio::test(flavor = "multi_thread")]
async fn the_azure_token_from_the_environment_is_never_written() {
    const TOKEN: &str = "azure-env-token-6a01f3c8d4";
    let proxy = echoing_proxy().await;
    let plan = format!(
        r#"
[plan]
name = "az"

[resources.front]
provider = "azure.traffic_manager"
subscription = "00000000-0000-0000-0000-000000000000"
resource_group = "rg"
profile = "tm"
routing_method = "weighted"
targets = {{ east = "azureEndpoints/east", west = "azureEndpoints/west" }}
arm_endpoint = "{}"
{STEP}"#,
        proxy.uri()
    );
    let seen = run_traced(&plan, &[("AZURE_ACCESS_TOKEN", TOKEN)]);
    assert!(
        seen.contains("bad gateway"),
        "the proxy was reached: {seen}"
    );
    assert!(!seen.contains(TOKEN), "the token leaked: {seen}");
}

/// The AWS secret key and session token: the SDK's own trace prints
/// `x-amz-security-token` on every attempt.
#[cfg(feature = "aws")]
#[tokio::test(flavor = "multi_thread")]
async fn aws_credentials_from_the_environment_are_not_in_the_sdk_trace() {
    const SECRET: &str = "aws-env-secret-8f2b6e0a71";
    const SESSION: &str = "aws-env-session-token-3c9d5e17ab";
    let proxy = echoing_proxy().await;
    let plan = format!(
        r#"
[plan]
name = "aws"

[resources.front]
provider = "aws.route53"
hosted_zone_id = "Z1"
record_name = "app.example.com"
targets = {{ east = "east", west = "west" }}
region = "us-east-1"
endpoint_url = "{}"
{STEP}"#,
        proxy.uri()
    );
    let seen = run_traced(
        &plan,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDLOGTEST"),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_SESSION_TOKEN", SESSION),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/nonexistent/dr-test"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/dr-test"),
        ],
    );
    assert!(
        seen.to_ascii_lowercase().contains("x-amz-security-token"),
        "the SDK traced its request: {seen}"
    );
    assert!(!seen.contains(SECRET), "the secret key leaked: {seen}");
    assert!(!seen.contains(SESSION), "the session token leaked: {seen}");
}
