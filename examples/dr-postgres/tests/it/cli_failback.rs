//! Failback through `dr-with-postgres`: a failover plan, then a re-protect plan
//! whose `replication.reverse` makes the old primary a standby of the new one
//! with `reverse_command` (a real `pg_rewind` of the test cluster). What the
//! old primary wrote after the promote is measured first (`divergence_bytes`
//! in the report), and a reverse that would discard it needs
//! `--accept-data-loss`.

use std::path::Path;

use dr_postgres::testing::{PgServer, SUPERUSER_PASSWORD, pair};
use serde_json::{Value, json};

use crate::cli::{dr, json_lines};
use crate::common::{self, count, in_recovery};

/// Stop the link into west, promote west.
fn failover_plan(east: &PgServer, west: &PgServer) -> String {
    format!(
        r#"[plan]
name = "pg-failover"

[resources.db_west]
provider = "postgres"
url = "{west}"
password = "${{env:PG_DR_PASSWORD}}"
peer = "{east}"

[[steps]]
id = "stop-link"
action = "replication.stop"
replicator = "db_west"

[[steps]]
id = "promote-west"
action = "datastore.promote"
store = "db_west"
depends_on = ["stop-link"]
"#,
        east = east.url(),
        west = west.url()
    )
}

/// Reverse the link: east (the old primary) follows west. `reverse_command`
/// as a TOML array, or none.
fn reprotect_plan(east: &PgServer, west: &PgServer, reverse_command: Option<&[String]>) -> String {
    let command = reverse_command
        .map(|argv| format!("reverse_command = {}\n", json!(argv)))
        .unwrap_or_default();
    format!(
        r#"[plan]
name = "pg-reprotect"

[resources.link]
provider = "postgres"
url = "{west}"
password = "${{env:PG_DR_PASSWORD}}"
peer = "{east}"
{command}
[[steps]]
id = "reverse"
action = "replication.reverse"
replicator = "link"
"#,
        east = east.url(),
        west = west.url()
    )
}

/// Runs `dr-with-postgres` in `dir` (its state dir inside) with `args`.
fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    dr(&dir.join("state"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

/// The run's report as JSON (`dr report RUN_ID --format json`).
fn report(dir: &Path, events: &[Value]) -> Value {
    let run_id = events
        .iter()
        .find_map(|e| e["run_id"].as_str())
        .expect("a run id");
    let out = run(dir, &["report", run_id, "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The old primary keeps taking writes after the promote (it was not fenced).
/// The reverse is refused without consent, with the bytes in the report and
/// nothing changed; with `--accept-data-loss` the rejoin runs, the late rows
/// are gone and the old primary streams from the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reverse_that_would_discard_the_old_primarys_late_writes_needs_consent() {
    let (east, west) = pair().await;
    east.exec("CREATE TABLE t (id int, note text); INSERT INTO t SELECT g, 'before' FROM generate_series(1, 100) g")
        .await;
    west.wait_streaming(&east).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("failover.toml"), failover_plan(&east, &west)).unwrap();
    let rejoin = east.rejoin_command();
    std::fs::write(
        dir.join("reprotect.toml"),
        reprotect_plan(&east, &west, Some(&rejoin)),
    )
    .unwrap();
    let out = run(dir, &["run", "failover.toml", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    east.exec("INSERT INTO t SELECT g, 'late' FROM generate_series(101, 300) g")
        .await;
    let out = run(dir, &["--json", "run", "reprotect.toml", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let events = json_lines(&out.stdout);
    let step = report(dir, &events)["steps"][0].clone();
    let diverged = step["divergence_bytes"].as_u64().unwrap_or(0);
    assert!(diverged > 200 * 30, "200 late rows: {step}");
    let error = step["error"].as_str().unwrap_or_default();
    assert!(error.contains("divergence"), "{error}");
    assert!(error.contains(&format!("{diverged} byte(s)")), "{error}");
    assert!(error.contains("--accept-data-loss"), "{error}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("{diverged} byte(s)")),
        "the run's output names the bytes: {}",
        text(&out)
    );
    // Refused before anything changed.
    assert_eq!(east.rejoin_runs(), 0);
    assert!(!in_recovery(&east).await);
    assert_eq!(count(&east, "t").await, 300);

    let out = run(
        dir,
        &[
            "--json",
            "run",
            "reprotect.toml",
            "--yes",
            "--accept-data-loss",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}\n{}", text(&out), east.log());
    let events = json_lines(&out.stdout);
    assert!(
        events.iter().any(|e| e["event"] == "warning"
            && e["message"]
                .as_str()
                .unwrap_or_default()
                .contains("byte(s)")),
        "{events:?}"
    );
    let step = report(dir, &events)["steps"][0].clone();
    assert_eq!(step["status"], "succeeded", "{step}");
    assert!(
        step["divergence_bytes"].as_u64().unwrap_or(0) >= diverged,
        "{step}"
    );
    assert_eq!(east.rejoin_runs(), 1);

    // East is west's standby, without the late rows, and follows new writes.
    assert!(in_recovery(&east).await);
    west.exec("INSERT INTO t VALUES (1000, 'after the failback')")
        .await;
    east.wait_streaming(&west).await;
    assert_eq!(count(&east, "t").await, 101);
    let out = run(dir, &["--json", "status", "reprotect.toml"]);
    assert!(out.status.success(), "{}", text(&out));
    let link = json_lines(&out.stdout)
        .into_iter()
        .find(|s| s["resource"] == "link" && s["kind"] == "replicator")
        .expect("the link's status");
    assert_eq!(link["state"], "replicating", "{link}");
    assert!(!text(&out).contains(SUPERUSER_PASSWORD));
}

/// Nothing written to the old primary after the promote: zero bytes, and the
/// reverse runs without consent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failback_with_nothing_written_after_the_promote_reverses_without_consent() {
    let (east, west) = pair().await;
    east.exec("CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 100)")
        .await;
    west.wait_streaming(&east).await;
    // No WAL of east's own after the promote (see `settle`).
    east.settle().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("failover.toml"), failover_plan(&east, &west)).unwrap();
    let rejoin = east.rejoin_command();
    std::fs::write(
        dir.join("reprotect.toml"),
        reprotect_plan(&east, &west, Some(&rejoin)),
    )
    .unwrap();
    let out = run(dir, &["run", "failover.toml", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let out = run(dir, &["--json", "run", "reprotect.toml", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", text(&out), east.log());
    let step = report(dir, &json_lines(&out.stdout))["steps"][0].clone();
    assert_eq!(step["divergence_bytes"], 0, "{step}");
    assert_eq!(east.rejoin_runs(), 1);
    assert!(in_recovery(&east).await);
    west.exec("INSERT INTO t VALUES (101)").await;
    east.wait_streaming(&west).await;
    assert_eq!(count(&east, "t").await, 101);
}

/// Without `reverse_command` the plugin cannot reverse, and `dr validate`
/// says so before anything runs.
#[test]
fn a_plan_that_reverses_a_postgres_link_without_reverse_command_fails_validation() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let plan = |command: &str| {
        format!(
            "[plan]\nname = \"r\"\n\n[resources.link]\nprovider = \"postgres\"\n\
             url = \"postgres://dr@127.0.0.1:5432/postgres\"\n\
             peer = \"postgres://dr@127.0.0.1:5433/postgres\"\n{command}\n\
             [[steps]]\nid = \"reverse\"\naction = \"replication.reverse\"\nreplicator = \"link\"\n"
        )
    };
    std::fs::write(dir.join("p.toml"), plan("")).unwrap();
    let out = run(dir, &["validate", "p.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("p.toml:"), "{stderr}");
    assert!(stderr.contains("cannot reverse"), "{stderr}");

    std::fs::write(
        dir.join("p.toml"),
        plan("reverse_command = [\"/usr/local/bin/pg-rejoin\"]"),
    )
    .unwrap();
    let out = run(dir, &["validate", "p.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// A failing `reverse_command` fails the step with the provider, the resource,
/// the operation, the exit status and the end of its stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_reverse_command_fails_the_step_with_its_exit_status_and_stderr() {
    let (east, west) = pair().await;
    common::store(&west, json!({})).promote().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let failing = [
        "bash".to_string(),
        "-c".into(),
        "echo 'pg-rejoin: pg_rewind: error: target server must be shut down cleanly' >&2; exit 4"
            .into(),
    ];
    std::fs::write(
        dir.join("reprotect.toml"),
        reprotect_plan(&east, &west, Some(&failing)),
    )
    .unwrap();
    let out = run(
        dir,
        &[
            "--json",
            "run",
            "reprotect.toml",
            "--yes",
            "--accept-data-loss",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let step = report(dir, &json_lines(&out.stdout))["steps"][0].clone();
    let error = step["error"].as_str().unwrap_or_default();
    for part in [
        "postgres",
        "resource `link`",
        "reverse failed",
        "exit status: 4",
        "target server must be shut down cleanly",
    ] {
        assert!(error.contains(part), "{part}: {error}");
    }
    assert!(!in_recovery(&east).await);
}
