//! Running the playbook plans of `examples/plans/` through the `dr` binary
//! against emulators and stand-ins (the `playbook_*` modules).
//!
//! The example plans are written for production (real endpoints, resource ids,
//! minutes-long soaks). A test reads one, points it at its stand-ins with
//! [`Retarget`] (every replacement must match, so a plan that drifts from its
//! test fails it), shortens its waits with [`fast`], and runs it with `dr drill`
//! (the failover, a check, the failback, one report), then compares the world's
//! end state with its start.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::dr_in;

/// The text of `examples/plans/REL`.
pub fn example(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/plans")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Edits that point a production plan at the test's stand-ins.
#[derive(Debug, Default)]
pub struct Retarget {
    edits: Vec<(String, String)>,
    settings: Vec<(String, String)>,
}

impl Retarget {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces every occurrence of `from` (which must occur) by `to`.
    pub fn replace(mut self, from: &str, to: impl Into<String>) -> Self {
        self.edits.push((from.to_string(), to.into()));
        self
    }

    /// Adds the line `setting` to every resource whose provider starts with
    /// `provider_prefix` (e.g. an `api_base` for `cloudflare.`).
    pub fn add_setting(mut self, provider_prefix: &str, setting: impl Into<String>) -> Self {
        self.settings
            .push((provider_prefix.to_string(), setting.into()));
        self
    }

    /// The plans retargeted; every replacement must match in one of them at
    /// least.
    pub fn apply_all(&self, texts: &[&str]) -> Vec<String> {
        for (from, _) in &self.edits {
            assert!(
                texts.iter().any(|t| t.contains(from.as_str())),
                "the plans no longer contain `{from}`: update the test with it"
            );
        }
        texts.iter().map(|t| self.apply(t)).collect()
    }

    fn apply(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (from, to) in &self.edits {
            text = text.replace(from.as_str(), to);
        }
        for (prefix, setting) in &self.settings {
            let needle = format!("provider = \"{prefix}");
            let mut out = String::new();
            let mut hits = 0;
            for line in text.lines() {
                out.push_str(line);
                out.push('\n');
                if line.trim_start().starts_with(&needle) {
                    out.push_str(setting);
                    out.push('\n');
                    hits += 1;
                }
            }
            assert!(hits > 0, "no resource with provider `{prefix}..`");
            text = out;
        }
        text
    }
}

/// The plan with its waits shortened for a test: every `every` becomes 20ms,
/// every `healthy_for` 100ms, and `wait` steps' `duration` 50ms. Targets (`rto`,
/// `rpo`), timeouts and the steps themselves are unchanged.
pub fn fast(text: &str) -> String {
    let mut text = text.to_string();
    for (key, value) in [
        ("every", "20ms"),
        ("healthy_for", "100ms"),
        ("duration", "50ms"),
    ] {
        let needle = format!("{key} = \"");
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(at) = rest.find(&needle) {
            let start = at + needle.len();
            let end = start + rest[start..].find('"').expect("a closing quote");
            out.push_str(&rest[..start]);
            out.push_str(value);
            rest = &rest[end..];
        }
        out.push_str(rest);
        text = out;
    }
    text
}

/// A temp dir with the two plans, where `dr` runs.
pub struct Drill {
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Drill {
    pub fn new(failover: &str, failback: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("failover.toml"), failover).unwrap();
        std::fs::write(dir.path().join("failback.toml"), failback).unwrap();
        Drill {
            dir,
            env: Vec::new(),
        }
    }

    /// An environment variable of the `dr` process (the plans' `${env:..}`).
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_string(), value.into()));
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path().join("sd")
    }

    /// `dr` in the drill's dir, with its environment.
    pub fn dr(&self) -> Command {
        let mut cmd = Command::from_std(dr_in(self.path()));
        cmd.arg("--state-dir").arg(self.state_dir());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Everything `dr` printed (`out`) and kept in the state dir, as one text:
    /// where a leaked secret would show.
    pub fn seen(&self, out: &Output) -> String {
        let mut seen = String::from_utf8_lossy(&out.stdout).into_owned();
        seen.push_str(&String::from_utf8_lossy(&out.stderr));
        for entry in walk(&self.state_dir()) {
            seen.push_str(&std::fs::read_to_string(entry).unwrap_or_default());
        }
        seen
    }

    /// `dr validate` of both plans must pass.
    pub fn validate(&self) {
        for plan in ["failover.toml", "failback.toml"] {
            let out = self.dr().args(["validate", plan]).output().unwrap();
            assert!(
                out.status.success(),
                "{plan}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// `dr --json drill failover.toml --failback failback.toml --yes EXTRA..`:
    /// the output and the `drill_finished` object.
    pub fn run(&self, extra: &[&str]) -> (Output, Value) {
        let out = self
            .dr()
            .args([
                "--json",
                "drill",
                "failover.toml",
                "--failback",
                "failback.toml",
                "--yes",
            ])
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let report = stdout
            .lines()
            .rev()
            .find(|l| l.contains("\"drill_finished\""))
            .map(|l| serde_json::from_str(l).unwrap())
            .unwrap_or_else(|| {
                panic!(
                    "no drill_finished line:\n{stdout}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        (out, report)
    }
}

/// Asserts the drill met its targets, both runs succeeded, every check passed
/// and the report's RTO fields are filled (and RPO where `with_rpo`).
pub fn assert_met(out: &Output, report: &Value, with_rpo: bool) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{report:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["status"], "met", "{report:#}");
    for run in ["failover", "failback"] {
        assert_eq!(report[run]["status"], "succeeded", "{run}: {report:#}");
        assert!(
            report[run]["rto_ms"].as_u64().is_some(),
            "{run}: {report:#}"
        );
        assert_eq!(report[run]["rto_met"], true, "{run}: {report:#}");
        if with_rpo {
            assert!(
                report[run]["rpo_ms"].as_u64().is_some(),
                "{run}: {report:#}"
            );
            assert_eq!(report[run]["rpo_met"], true, "{run}: {report:#}");
        }
    }
    let checks = report["check"].as_array().unwrap();
    assert!(
        !checks.is_empty() && checks.iter().all(|c| c["ok"] == true),
        "{checks:#?}"
    );
    assert!(report["on_secondary_ms"].as_u64().is_some(), "{report:#}");
}

/// Every file under `dir`.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Runs a boto3 script with moto's venv python against the moto server at
/// `url` (to set up and read back what dr-cli has no AWS SDK for); the
/// script's last stdout line is JSON.
pub fn boto(url: &str, script: &str) -> Value {
    let server = std::env::var(dr_aws::testing::MOTO_ENV).expect("source scripts/deps/moto.sh");
    let python = Path::new(&server).with_file_name("python");
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(format!("import boto3, json\nEP = {url:?}\n{script}"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("moto's python");
    assert!(
        out.status.success(),
        "boto3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or("null")).unwrap()
}

/// A region's web tier: answers `GET /healthz` with 200 `ok`.
pub async fn healthz() -> MockServer {
    let web = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/healthz"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&web)
        .await;
    web
}

/// The plans' notification webhook: takes `POST /hook`, and checks when it
/// drops that it was called `notifications` times.
pub async fn webhook(notifications: u64) -> MockServer {
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .expect(notifications)
        .mount(&hook)
        .await;
    hook
}

/// The destinations of the `Enabled` ones of S3 replication rules given as
/// (id, status, destination).
pub fn enabled_rules(rules: &[(String, String, String)]) -> Vec<String> {
    rules
        .iter()
        .filter(|(_, status, _)| status == "Enabled")
        .map(|(_, _, dest)| dest.clone())
        .collect()
}
