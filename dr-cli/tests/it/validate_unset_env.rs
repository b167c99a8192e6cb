//! `dr validate --allow-unset-env`: unset `${env:..}` are warnings with
//! placeholders, so CI can lint plans without production secrets; every command
//! that acts on the plan still refuses them.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use tempfile::TempDir;

use crate::support;

/// Variables the plan uses; the tests make sure they are unset.
const VARS: [&str; 2] = ["DR_TEST_UNSET_WEB_URL", "DR_TEST_UNSET_API_TOKEN"];

const PLAN: &str = r#"[plan]
name = "unset-env"

[resources.web_west]
provider = "http"
url = "${env:DR_TEST_UNSET_WEB_URL}"
headers = { Authorization = "Bearer ${env:DR_TEST_UNSET_API_TOKEN}" }

[resources.front]
provider = "sim.router"
targets = ["east", "west"]
state_file = "sim.json"

[[steps]]
id = "west"
action = "traffic.set"
router = "front"
split = { west = 100 }
"#;

/// A temp dir with `plan.toml`, and `dr` run in it with the variables unset.
fn setup() -> (TempDir, impl Fn(&[&str]) -> Command) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plan.toml"), PLAN).unwrap();
    let cwd = dir.path().to_path_buf();
    let dr = move |args: &[&str]| {
        let mut c = support::dr(&cwd, args);
        for v in VARS {
            c.env_remove(v);
        }
        c
    };
    (dir, dr)
}

#[test]
fn validate_with_the_flag_exits_0_and_warns_at_each_reference() {
    let (_dir, dr) = setup();
    dr(&["validate", "plan.toml", "--allow-unset-env"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("plan `unset-env` is valid"))
        .stderr(predicate::str::contains(
            "warning: environment variable `DR_TEST_UNSET_WEB_URL` is not set; validated with \
             the placeholder `http://placeholder.invalid/`",
        ))
        .stderr(predicate::str::contains(
            "--> plan.toml:6:8 (resources.web_west.url)",
        ))
        .stderr(predicate::str::contains(
            "--> plan.toml:7:37 (resources.web_west.headers.Authorization)",
        ))
        // The source line, with the caret under the reference.
        .stderr(predicate::str::contains(
            "6 | url = \"${env:DR_TEST_UNSET_WEB_URL}\"\n  |        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n",
        ));
}

#[test]
fn validate_json_lists_the_warnings() {
    let (_dir, dr) = setup();
    let out = dr(&["validate", "plan.toml", "--allow-unset-env", "--json"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["valid"], true, "{v}");
    let warnings = v["warnings"].as_array().unwrap();
    let at: Vec<(u64, u64, &str)> = warnings
        .iter()
        .map(|w| {
            (
                w["line"].as_u64().unwrap(),
                w["column"].as_u64().unwrap(),
                w["key"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        at,
        [
            (6, 8, "resources.web_west.url"),
            (7, 37, "resources.web_west.headers.Authorization"),
        ]
    );
    assert!(
        warnings[1]["message"]
            .as_str()
            .unwrap()
            .contains("`DR_TEST_UNSET_API_TOKEN` is not set"),
        "{v}"
    );
}

#[test]
fn without_the_flag_validate_refuses_unset_variables() {
    let (_dir, dr) = setup();
    dr(&["validate", "plan.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "environment variable `DR_TEST_UNSET_WEB_URL` is not set",
        ));
}

#[test]
fn run_plan_and_status_still_refuse_unset_variables() {
    let (dir, dr) = setup();
    for args in [
        &["run", "plan.toml", "--yes"][..],
        &["plan", "plan.toml"],
        &["status", "plan.toml"],
    ] {
        dr(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "environment variable `DR_TEST_UNSET_WEB_URL` is not set",
            ))
            .stderr(predicate::str::contains("placeholder").not());
    }
    // Nothing ran: the sim router was never touched.
    assert!(!dir.path().join("sim.json").exists());
}

#[test]
fn the_flag_belongs_to_validate_only() {
    let (_dir, dr) = setup();
    dr(&["run", "plan.toml", "--yes", "--allow-unset-env"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "unexpected argument '--allow-unset-env'",
        ));
}
