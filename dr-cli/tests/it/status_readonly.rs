//! `dr status --json` leaves a sim state file as it found it.

use crate::support::{status, with_plan};

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
    let tmp = with_plan(PLAN);
    // A run already consumed the first entry.
    let state = r#"{"resources":{"web":{"position":1}}}"#;
    std::fs::write(tmp.path().join("sim.json"), state).unwrap();
    for _ in 0..2 {
        let lines = status(tmp.path(), "p.toml");
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
