//! Divergence at failback: `replication.reverse` makes the old primary a copy
//! of the new one, throwing away what it accepted after the new primary's
//! last replicated byte. Measured before anything changes, reported as the
//! step's `divergence_bytes` (`null`: the store cannot tell), and a reverse
//! that would discard a non-zero or unknown amount needs `--accept-data-loss`.

use dr_redis::testing::RedisServer;
use serde_json::Value;

use crate::support::{dr, json_lines, report_json, with_plan};

/// Failback's `replication.reverse` makes the old primary a copy of the new
/// one: what it accepted after the new primary's last replicated byte is
/// thrown away. Measured on real Redis (the old primary's offset past the new
/// primary's `second_repl_offset` in the same history), reported as
/// `divergence_bytes`, and refused without `--accept-data-loss`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reverse_that_would_discard_the_old_primarys_late_writes_needs_consent() {
    for late_writes in [false, true] {
        let east = RedisServer::start().await;
        let west = RedisServer::start().await;
        west.replicate_from(&east).await;
        east.set("order:1", "paid").await;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        std::fs::write(
            dir.join("failover.toml"),
            format!(
                "[plan]\nname = \"cache-failover\"\n\n[resources.cache_west]\nprovider = \"redis\"\nurl = \"{}\"\n\n\
                 [[steps]]\nid = \"promote\"\naction = \"datastore.promote\"\nstore = \"cache_west\"\n",
                west.url()
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("reprotect.toml"),
            format!(
                "[plan]\nname = \"cache-reprotect\"\n\n[resources.link]\nprovider = \"redis\"\nurl = \"{}\"\npeer = \"{}\"\n\n\
                 [[steps]]\nid = \"reverse\"\naction = \"replication.reverse\"\nreplicator = \"link\"\n",
                west.url(),
                east.url()
            ),
        )
        .unwrap();
        let d = dir.clone();
        tokio::task::spawn_blocking(move || {
            dr(&d, &["run", "failover.toml", "--yes", "--ungraceful"])
                .assert()
                .code(0);
        })
        .await
        .unwrap();
        // The old primary was not asked and still takes writes.
        if late_writes {
            east.set("order:2", "paid-in-east-after-the-promote").await;
            // Fencing it keeps them: following the new primary would throw
            // them away, so the fence refuses writes instead.
            std::fs::write(
                dir.join("fence.toml"),
                format!(
                    "[plan]\nname = \"cache-fence\"\n\n[resources.cache_east]\nprovider = \"redis\"\nurl = \"{}\"\npeer = \"{}\"\n\n\
                     [[steps]]\nid = \"fence\"\naction = \"datastore.fence\"\nstore = \"cache_east\"\n",
                    east.url(),
                    west.url()
                ),
            )
            .unwrap();
            let d = dir.clone();
            tokio::task::spawn_blocking(move || {
                dr(&d, &["run", "fence.toml", "--yes"]).assert().code(0);
            })
            .await
            .unwrap();
            assert_eq!(east.info_field("role").await.as_deref(), Some("master"));
            assert!(east.get("order:2").await.is_some());
            assert!(!east.set("order:3", "refused").await.is_ok(), "fenced");
        }
        let d = dir.clone();
        let out = tokio::task::spawn_blocking(move || {
            dr(&d, &["run", "reprotect.toml", "--yes", "--json"])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let events = json_lines(&out.stdout);
        let run_id = events[0]["run_id"].as_str().unwrap().to_string();
        let d = dir.clone();
        let rid = run_id.clone();
        let report: Value = tokio::task::spawn_blocking(move || report_json(&d, &rid))
            .await
            .unwrap();
        let step = &report["steps"][0];
        if !late_writes {
            assert_eq!(out.status.code(), Some(0), "{events:?}");
            assert_eq!(step["divergence_bytes"], 0, "{step}");
            assert_eq!(east.info_field("role").await.as_deref(), Some("slave"));
            continue;
        }
        assert_eq!(out.status.code(), Some(1), "{events:?}");
        let diverged = step["divergence_bytes"].as_u64().unwrap_or(0);
        assert!(diverged > 0, "{step}");
        let error = step["error"].as_str().unwrap();
        assert!(error.contains("divergence"), "{error}");
        assert!(error.contains(&format!("{diverged} byte(s)")), "{error}");
        // Refused before anything changed: the late write is still there.
        assert_eq!(east.info_field("role").await.as_deref(), Some("master"));
        assert!(east.get("order:2").await.is_some());

        let d = dir.clone();
        let out = tokio::task::spawn_blocking(move || {
            dr(
                &d,
                &[
                    "run",
                    "reprotect.toml",
                    "--yes",
                    "--accept-data-loss",
                    "--json",
                ],
            )
            .output()
            .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let events = json_lines(&out.stdout);
        assert!(
            events
                .iter()
                .any(|e| e["event"] == "warning"
                    && e["message"].as_str().unwrap().contains("byte(s)")),
            "{events:?}"
        );
        assert_eq!(east.info_field("role").await.as_deref(), Some("slave"));
    }
}

#[test]
fn the_sim_reports_an_unknown_divergence_as_null_and_refuses_without_consent() {
    let tmp = with_plan(
        r#"
[plan]
name = "reprotect"

[resources.link]
provider = "sim.replicator"
state = "paused"
divergence = "unknown"
state_file = "state.json"

[[steps]]
id = "reverse"
action = "replication.reverse"
replicator = "link"
"#,
    );
    let dir = tmp.path();
    let out = dr(dir, &["run", "p.toml", "--yes", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let run_id = json_lines(&out.stdout)[0]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let report = report_json(dir, &run_id);
    let step = &report["steps"][0];
    assert!(
        step.get("divergence_bytes").is_some_and(Value::is_null),
        "{step}"
    );
    assert!(
        step["error"].as_str().unwrap().contains("cannot tell"),
        "{step}"
    );
    assert_eq!(crate::support::calls(dir, "p.toml", "link", "reverse"), 0);
    dr(dir, &["run", "p.toml", "--yes", "--accept-data-loss"])
        .assert()
        .code(0);
    assert_eq!(crate::support::calls(dir, "p.toml", "link", "reverse"), 1);
}
