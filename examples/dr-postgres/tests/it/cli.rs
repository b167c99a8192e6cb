//! `dr-with-postgres`: the whole `dr` CLI plus this plugin, as a team would ship
//! it, running a PostgreSQL failover against a real primary and standby.

use std::path::Path;

use assert_cmd::Command;
use dr_postgres::testing::{SUPERUSER_PASSWORD, pair};
use serde_json::Value;

pub(crate) fn dr(state: &Path) -> Command {
    let mut cmd = Command::cargo_bin("dr-with-postgres").unwrap();
    cmd.arg("--state-dir")
        .arg(state)
        .env("PG_DR_PASSWORD", SUPERUSER_PASSWORD);
    cmd
}

fn plan(east: &str, west: &str) -> String {
    format!(
        r#"
[plan]
name = "pg-east-to-west"
rto = "1m"
rpo = "10s"

[resources.front]
provider = "sim.router"
targets = ["east", "west", "maintenance"]
initial = {{ east = 100 }}
state_file = "sim-state.json"

[resources.db_east]
provider = "postgres"
url = "{east}"
password = "${{env:PG_DR_PASSWORD}}"

[resources.db_west]
provider = "postgres"
url = "{west}"
password = "${{env:PG_DR_PASSWORD}}"
peer = "{east}"

[[steps]]
id = "maintenance"
action = "traffic.set"
router = "front"
split = {{ maintenance = 100 }}

[[steps]]
id = "fence-east"
action = "datastore.fence"
store = "db_east"
depends_on = ["maintenance"]

[[steps]]
id = "stop-link"
action = "replication.stop"
replicator = "db_west"
depends_on = ["fence-east"]

[[steps]]
id = "promote-west"
action = "datastore.promote"
store = "db_west"
max_lag = "10s"
depends_on = ["stop-link"]

[[steps]]
id = "to-west"
action = "traffic.set"
router = "front"
split = {{ west = 100 }}
depends_on = ["promote-west"]
"#
    )
}

pub(crate) fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dr_with_postgres_runs_a_postgres_failover_and_never_shows_the_password() {
    let (east, west) = pair().await;
    east.exec("CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 100)")
        .await;
    west.wait_streaming(&east).await;
    let dir = tempfile::tempdir().unwrap();
    let plan_path = dir.path().join("plan.toml");
    std::fs::write(&plan_path, plan(&east.url(), &west.url())).unwrap();
    let state = dir.path().join("state");

    let out = dr(&state)
        .current_dir(dir.path())
        .args(["validate"])
        .arg(&plan_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = dr(&state)
        .current_dir(dir.path())
        .args(["--json", "run", "--yes"])
        .arg(&plan_path)
        .output()
        .unwrap();
    let events = json_lines(&out.stdout);
    let last = events.last().expect("events");
    assert_eq!(last["event"], "run_finished", "{last}");
    assert_eq!(
        last["status"],
        "succeeded",
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));

    // West is the primary with every row; east refuses writes.
    let rows: i64 = west
        .client()
        .await
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 100);
    west.exec("INSERT INTO t VALUES (101)").await;
    let err = east
        .client()
        .await
        .batch_execute("INSERT INTO t VALUES (102)")
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("25006"), "{err}");

    // `dr status` through the same binary sees the plugin's resources.
    let out = dr(&state)
        .current_dir(dir.path())
        .args(["--json", "status"])
        .arg(&plan_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = json_lines(&out.stdout);
    let role = |name: &str| {
        status
            .iter()
            .find(|s| s["resource"] == name && s["kind"] == "store")
            .map(|s| s["role"].clone())
    };
    assert_eq!(role("db_west"), Some(Value::from("primary")), "{status:?}");
    assert_eq!(role("db_east"), Some(Value::from("primary")), "{status:?}");

    // The password went in through the environment and came out nowhere.
    let mut seen = String::from_utf8_lossy(&out.stdout).into_owned();
    for entry in walk(&state) {
        seen.push_str(&std::fs::read_to_string(&entry).unwrap_or_default());
    }
    assert!(seen.contains("promote-west"), "the state dir holds the run");
    assert!(!seen.contains(SUPERUSER_PASSWORD), "the password leaked");
}

#[test]
fn a_replicator_without_a_peer_is_refused_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let plan_path = dir.path().join("plan.toml");
    std::fs::write(
        &plan_path,
        r#"[plan]
name = "no-peer"

[resources.db]
provider = "postgres"
url = "postgres://dr@127.0.0.1:5432/postgres"

[[steps]]
id = "stop"
action = "replication.stop"
replicator = "db"
"#,
    )
    .unwrap();
    let out = dr(dir.path())
        .args(["validate"])
        .arg(&plan_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("plan.toml:"), "{stderr}");
    assert!(stderr.contains("peer"), "{stderr}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
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
