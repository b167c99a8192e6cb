//! Failback against real servers: what a reverse would discard on the old
//! primary (the divergence), and the reverse itself, a real `pg_rewind` of the
//! old primary onto the promoted standby through `reverse_command`.

use std::time::Duration;

use dr_core::{ErrorKind, ReplicationState, Role};
use dr_postgres::testing::{SUPERUSER_PASSWORD, pair};
use serde_json::json;

use crate::common::{self, count, in_recovery};

/// Writes to the old primary after the promote are what a reverse discards:
/// zero before them, their WAL after them; the reverse (a real `pg_rewind`
/// through `reverse_command`) throws them away, the old primary streams from
/// the new one, and then nothing is left to discard. Reversing again runs
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_to_the_old_primary_after_the_promote_are_the_divergence_and_the_reverse_discards_them()
 {
    let (old, new) = pair().await;
    common::app_schema(&old).await;
    old.exec("INSERT INTO orders SELECT g, 'before' FROM generate_series(1, 100) g")
        .await;
    new.wait_streaming(&old).await;
    // No WAL of the old primary's own after the promote (see `settle`).
    old.settle().await;
    let link = common::replicator_with(
        &new,
        &old,
        json!({ "reverse_command": old.rejoin_command() }),
    );
    assert!(link.capabilities().reverse && link.capabilities().discards);
    let err = link.divergence().await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "not promoted yet: {err}");

    link.stop().await.unwrap();
    common::store(&new, json!({})).promote().await.unwrap();
    assert_eq!(link.divergence().await.unwrap(), Some(0));

    // The old primary was not fenced and takes writes after the promote.
    old.exec("INSERT INTO orders SELECT g, repeat('late', 50) FROM generate_series(101, 600) g")
        .await;
    let diverged = link
        .divergence()
        .await
        .unwrap()
        .expect("a known divergence");
    assert!(diverged > 500 * 200, "500 rows of 200 bytes: {diverged}");
    old.exec("INSERT INTO orders VALUES (601, 'later')").await;
    let more = link.divergence().await.unwrap().unwrap();
    assert!(
        more > diverged,
        "{more} after one more row, {diverged} before"
    );
    assert_eq!(link.status().await.unwrap().state, ReplicationState::Broken);
    let err = link.reverse().await;
    assert!(err.is_ok(), "{err:?}\nold primary's log:\n{}", old.log());
    assert_eq!(old.rejoin_runs(), 1);

    // The old primary is a standby of the new one, without its late rows.
    assert!(in_recovery(&old).await);
    new.exec("INSERT INTO orders VALUES (1000, 'after the failback')")
        .await;
    old.wait_streaming(&new).await;
    assert_eq!(count(&old, "orders").await, 101);
    assert_eq!(count(&new, "orders").await, 101);
    assert_eq!(link.divergence().await.unwrap(), Some(0));
    let status = link.status().await.unwrap();
    assert_eq!(status.state, ReplicationState::Replicating, "{status:?}");
    assert_eq!(status.lag_bytes, Some(0), "{status:?}");
    assert!(matches!(
        common::store(&old, json!({})).role().await.unwrap(),
        Role::Replica { .. }
    ));

    // Idempotent: reversed already, nothing runs.
    link.reverse().await.unwrap();
    assert_eq!(old.rejoin_runs(), 1);
    // Stopping the reversed link from this side would stop nothing.
    let err = link.stop().await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");
}

/// Unknown, never zero, when it cannot be measured: the history file the role
/// may not read, the old primary down.
#[tokio::test]
async fn the_divergence_is_unknown_when_the_history_cannot_be_read_or_the_old_primary_is_down() {
    let (mut old, new) = pair().await;
    // A monitoring role: the stats and settings it needs, not pg_read_file.
    old.exec(
        "CREATE ROLE watcher LOGIN PASSWORD 'watcher-pw'; \
         GRANT pg_read_all_settings, pg_read_all_stats TO watcher; \
         CREATE TABLE t (id int)",
    )
    .await;
    new.wait_streaming(&old).await;
    common::store(&new, json!({})).promote().await.unwrap();
    old.exec("INSERT INTO t SELECT generate_series(1, 1000)")
        .await;

    let watcher = common::replicator_with(
        &new,
        &old,
        json!({ "url": new.url_for("watcher"), "peer": old.url_for("watcher"), "password": "watcher-pw" }),
    );
    assert_eq!(watcher.divergence().await.unwrap(), None);
    let superuser = common::replicator(&new, &old);
    let diverged = superuser.divergence().await.unwrap().unwrap();
    assert!(diverged > 0);
    // The one grant it needs (pg_read_file of a file under the data dir).
    new.exec("GRANT EXECUTE ON FUNCTION pg_read_file(text, bigint, bigint, boolean) TO watcher")
        .await;
    let granted = watcher.divergence().await.unwrap();
    assert!(granted.is_some_and(|d| d >= diverged), "{granted:?}");

    old.kill();
    assert_eq!(superuser.divergence().await.unwrap(), None);
}

#[tokio::test]
async fn a_failing_reverse_command_is_fatal_with_its_exit_status_and_stderr_and_no_password() {
    let (old, new) = pair().await;
    let failing = json!({
        "reverse_command": [
            "bash", "-c",
            format!(
                "echo \"pg_rewind: could not connect to $DR_PG_NEW_PRIMARY_HOST:$DR_PG_NEW_PRIMARY_PORT \
                 (old $DR_PG_OLD_PRIMARY_PORT) with password {SUPERUSER_PASSWORD}\" >&2; exit 3"
            ),
        ],
    });
    let link = common::replicator_with(&new, &old, failing.clone());

    // Before the promote: refused, nothing runs.
    let err = link.reverse().await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");
    assert!(err.message().contains("promote it"), "{err}");

    common::store(&new, json!({})).promote().await.unwrap();
    let err = link.reverse().await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Fatal, "{err}");
    assert!(!err.is_retryable());
    assert_eq!(err.provider(), Some("postgres"));
    let shown = err.to_string();
    assert!(shown.contains("exit status: 3"), "{shown}");
    assert!(
        shown.contains(&format!(
            "could not connect to 127.0.0.1:{} (old {})",
            new.port(),
            old.port()
        )),
        "{shown}"
    );
    assert!(!shown.contains(SUPERUSER_PASSWORD), "{shown}");
    assert!(shown.contains("with password ******"), "{shown}");

    // A command that exits 0 without rejoining anything: the reverse checks.
    let lying = common::replicator_with(
        &new,
        &old,
        json!({ "reverse_command": ["true"], "reverse_timeout": "1s" }),
    );
    let err = lying.reverse().await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Fatal, "{err}");
    assert!(
        err.message().contains("does not stream") && err.message().contains("not in recovery"),
        "{err}"
    );

    // A command that does not finish in time is killed.
    let slow = common::replicator_with(
        &new,
        &old,
        json!({ "reverse_command": ["sleep", "30"], "reverse_timeout": "300ms" }),
    );
    let started = std::time::Instant::now();
    let err = slow.reverse().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(err.message().contains("did not finish within"), "{err}");
}

#[tokio::test]
async fn reverse_needs_reverse_command_and_settings_are_checked() {
    let (old, new) = pair().await;
    let link = common::replicator(&new, &old);
    assert!(!link.capabilities().reverse);
    assert!(link.capabilities().discards);
    let err = link.reverse().await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidRequest, "{err}");
    assert!(err.message().contains("reverse_command"), "{err}");

    for (bad, expected) in [
        (json!({ "reverse_command": [] }), "reverse_command"),
        (json!({ "reverse_command": [""] }), "reverse_command"),
        (json!({ "reverse_command": "pg-rejoin" }), "reverse_command"),
        (
            json!({ "reverse_command": ["true"], "reverse_timeout": "0s" }),
            "reverse_timeout",
        ),
    ] {
        let mut values = json!({
            "url": new.url(), "peer": old.url(), "password": SUPERUSER_PASSWORD,
        });
        for (k, v) in bad.as_object().unwrap() {
            values[k] = v.clone();
        }
        let err = common::registry()
            .build_replicator(&dr_core::Settings::from_json("link", "postgres", values))
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().contains(expected), "{bad}: {err}");
    }
}
