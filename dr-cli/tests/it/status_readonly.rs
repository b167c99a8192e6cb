//! `dr status --json` leaves a sim state file as it found it.

use assert_cmd::Command;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dr");

const PLAN: &str = r#"
[plan]
name = "status-readonly"

[resources.front]
provider = "sim.router"
targets = ["east", "west"]
initial = { east = 100 }
state_file = "sim.json"

[resources.web]
provider = "sim.probe"
sequence = ["healthy", "unhealthy", "degraded"]
state_file = "sim.json"
"#;

#[test]
fn status_does_not_advance_a_sequence_probe_in_the_state_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("p.toml"), PLAN).unwrap();
    // A run already consumed the first entry.
    let state = r#"{"resources":{"web":{"position":1}}}"#;
    std::fs::write(tmp.path().join("sim.json"), state).unwrap();
    for _ in 0..2 {
        let out = Command::new(BIN)
            .current_dir(tmp.path())
            .env("NO_COLOR", "1")
            .env_remove("DR_STATE_DIR")
            .env_remove("DR_SIM_STATE")
            .args(["status", "p.toml", "--json", "--state-dir", "sd"])
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone();
        let lines: Vec<Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let web = lines
            .iter()
            .find(|v| v["resource"] == "web")
            .expect("a status line for the probe");
        // The entry the next probe returns: the second.
        assert_eq!(web["status"], "unhealthy", "{web}");
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("sim.json")).unwrap(),
            state,
            "dr status changed the sim state"
        );
    }
}
