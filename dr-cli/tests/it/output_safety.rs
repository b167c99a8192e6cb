//! Output an operator can trust: text from outside dr (a command's stderr)
//! never reaches the terminal with its control characters, and `dr validate`
//! prints a bounded amount whatever the plan.

use crate::support::{dr, with_plan};

/// A command that fails and writes, on stderr, an escape sequence that
/// clears the screen, then a line claiming success.
const LIAR: &str = r#"
[plan]
name = "liar"

[[steps]]
id = "lie"
action = "exec"
command = "printf '\\033[2J\\033[H\\rrun succeeded\\n' >&2; exit 1"
"#;

fn all_output(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_commands_escape_sequences_are_shown_escaped_never_sent() {
    let tmp = with_plan(LIAR);
    let run = dr(tmp.path(), &["run", "p.toml", "--yes"]).assert().code(1);
    let shown = all_output(run.get_output());
    assert!(!shown.contains('\x1b'), "{shown:?}");
    assert!(!shown.contains('\r'), "{shown:?}");
    assert!(shown.contains("\\x1b[2J"), "{shown:?}");
    // The claim stays inside the failed step's line, not a line of its own.
    assert!(
        !shown
            .lines()
            .any(|l| l.trim_start().starts_with("run succeeded")),
        "{shown}"
    );

    // The Markdown report, from the journal, carries no escape either.
    let json = dr(tmp.path(), &["run", "p.toml", "--yes", "--json"])
        .assert()
        .code(1);
    let events = crate::support::json_lines(&json.get_output().stdout);
    let run_id = events[0]["run_id"].as_str().unwrap().to_string();
    let md = dr(tmp.path(), &["report", &run_id]).assert().code(0);
    let md = all_output(md.get_output());
    assert!(!md.contains('\x1b') && !md.contains('\r'), "{md:?}");
}

/// A one-line JSON plan of `n` steps whose action is unknown.
fn bad_json_plan(n: usize) -> String {
    let steps: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"id":"s{i}","action":"no.such.action"}}"#))
        .collect();
    format!(
        r#"{{"plan":{{"name":"big"}},"steps":[{}]}}"#,
        steps.join(",")
    )
}

#[test]
fn validate_of_thousands_of_bad_steps_on_one_line_prints_a_bounded_amount() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = bad_json_plan(4000);
    assert!(plan.len() > 150_000 && !plan.contains('\n'));
    std::fs::write(tmp.path().join("p.json"), &plan).unwrap();
    let out = dr(tmp.path(), &["validate", "p.json"]).assert().code(2);
    let shown = all_output(out.get_output());
    assert!(shown.len() < 64 * 1024, "{} bytes", shown.len());
    assert!(shown.contains("… and 3950 more"), "{shown}");
    assert!(shown.contains("(4000 problems)"), "{shown}");

    // `--json` lists every diagnostic, each of bounded size.
    let out = dr(tmp.path(), &["validate", "p.json", "--json"])
        .assert()
        .code(2);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["diagnostics"].as_array().unwrap().len(), 4000);
    assert!(out.get_output().stdout.len() < 4000 * 1024);
}

#[test]
fn validate_of_one_huge_value_prints_a_window_of_it() {
    let tmp = tempfile::tempdir().unwrap();
    let huge = "x".repeat(5 * 1024 * 1024);
    let plan = format!(r#"{{"plan":{{"name":"big"}},"steps":[{{"id":"s","action":"{huge}"}}]}}"#);
    std::fs::write(tmp.path().join("p.json"), &plan).unwrap();
    let out = dr(tmp.path(), &["validate", "p.json"]).assert().code(2);
    let shown = all_output(out.get_output());
    assert!(shown.len() < 16 * 1024, "{} bytes", shown.len());
    let out = dr(tmp.path(), &["validate", "p.json", "--json"])
        .assert()
        .code(2);
    assert!(out.get_output().stdout.len() < 16 * 1024);
}
