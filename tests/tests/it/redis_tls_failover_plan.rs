//! A Redis failover over TLS (a private CA made per run, an ACL user whose password
//! comes from `${env:..}`, replication over TLS), run as a plan by the dr-core
//! executor; and the same plan trusting the wrong CA, which fails at once. Neither
//! run leaves a password or key in its journal, audit log or report.

use std::path::Path;

use dr_core::{LoadOptions, Plan};
use dr_redis::testing::{RedisServer, TlsFiles, TlsOptions};

use crate::common::{assert_all_succeeded, registry, run};

const ADMIN_PW: &str = "e2e-admin-pw-4417";
const USER_PW: &str = "e2e-dr-pw-90ab";

fn plan(east: &str, west: &str, ca: &Path) -> String {
    let ca = ca.display();
    format!(
        r#"
[plan]
name = "redis-tls-east-to-west"
rpo = "30s"

[resources.cache_west]
provider = "redis"
url = "{west}"
peer = "{east}"
username = "dr"
password = "${{env:REDIS_PASSWORD}}"
ca_file = "{ca}"
promote = "force"
timeout = "2s"

[resources.cache_east]
provider = "redis"
url = "{east}"
peer = "{west}"
username = "dr"
password = "${{env:REDIS_PASSWORD}}"
ca_file = "{ca}"
timeout = "2s"

[[steps]]
id = "rpo"
action = "replication.check"
replicator = "cache_west"
max_lag = "30s"

[[steps]]
id = "promote-west"
action = "datastore.promote"
store = "cache_west"
max_lag = "30s"
depends_on = ["rpo"]

[[steps]]
id = "fence-east"
action = "datastore.fence"
store = "cache_east"
depends_on = ["promote-west"]
"#
    )
}

fn parse(text: &str) -> Plan {
    let env = LoadOptions::with_env(|k| (k == "REDIS_PASSWORD").then(|| USER_PW.to_string()));
    Plan::parse("plan.toml", text, &registry(), &env)
        .unwrap_or_else(|d| panic!("the plan does not validate:\n{d}\n{text}"))
}

async fn tls_pair(files: &TlsFiles) -> (RedisServer, RedisServer) {
    let options = TlsOptions {
        password: Some(ADMIN_PW.into()),
        user: Some(("dr".into(), USER_PW.into())),
        ..TlsOptions::default()
    };
    let east = RedisServer::start_tls(files, &options).await;
    let west = RedisServer::start_tls(files, &options).await;
    west.replicate_from(&east).await;
    (east, west)
}

/// Every file under `dir`, and the report, free of the passwords and of key material.
fn assert_no_secrets(dir: &Path, report: &dr_core::report::Report) {
    let mut texts = vec![serde_json::to_string(report).unwrap(), report.to_markdown()];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                texts.push(String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned());
            }
        }
    }
    assert!(texts.len() > 2, "the run wrote its journal under {dir:?}");
    for text in &texts {
        for secret in [ADMIN_PW, USER_PW, "PRIVATE KEY"] {
            assert!(!text.contains(secret), "{secret} in:\n{text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_tls_failover_plan_promotes_west_and_fences_east() {
    let files = TlsFiles::generate();
    let (east, west) = tls_pair(&files).await;
    assert!(east.set("session:1", "alice").await.is_ok());
    west.wait_for_key("session:1", "alice").await;

    let state = tempfile::tempdir().unwrap();
    let text = plan(&east.url(), &west.url(), &files.ca());
    let (_executor, outcome) = run(parse(&text), state.path()).await;
    assert_all_succeeded(&outcome);

    assert_eq!(west.info_field("role").await.as_deref(), Some("master"));
    assert_eq!(west.get("session:1").await.as_deref(), Some("alice"));
    assert!(west.set("after", "failover").await.is_ok());
    // East is fenced by following west, over TLS as the ACL user.
    assert_eq!(
        east.set("split", "brain").await.error_code(),
        Some("READONLY")
    );
    east.wait_for_key("after", "failover").await;
    assert_eq!(outcome.report.rpo_met, Some(true));
    assert_no_secrets(state.path(), &outcome.report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_fails_the_plan_at_the_first_step_without_retrying() {
    let files = TlsFiles::generate();
    let (east, west) = tls_pair(&files).await;

    let state = tempfile::tempdir().unwrap();
    let text = plan(&east.url(), &west.url(), &files.other_ca());
    let (_executor, outcome) = run(parse(&text), state.path()).await;
    assert_ne!(outcome.status, dr_core::executor::RunStatus::Succeeded);
    let rpo = &outcome.report.steps[0];
    assert_eq!(rpo.id, "rpo");
    assert_eq!(rpo.status, "failed", "{rpo:#?}");
    assert_eq!(rpo.error_kind.as_deref(), Some("auth"), "{rpo:#?}");
    assert_eq!(rpo.attempts, 1, "an auth error is not retried: {rpo:#?}");
    let error = rpo.error.as_deref().unwrap_or_default();
    assert!(error.contains("TLS handshake failed"), "{error}");
    assert!(error.contains("ca_file"), "{error}");
    // Nothing was promoted.
    assert_eq!(west.info_field("role").await.as_deref(), Some("slave"));
    assert_no_secrets(state.path(), &outcome.report);
}
