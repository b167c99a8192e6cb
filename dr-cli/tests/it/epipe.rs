//! A closed stdout (`dr schema | head -1`) stops the printing, never the
//! process with a panic: every command exits with its own code.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{BIN, dr_in};

const PLAN: &str = include_str!("../../../examples/local-drill.toml");

/// `dr ARGS` in `dir` with stdout a pipe whose read end is already closed, so
/// the first write fails with EPIPE; returns (exit code, stderr).
fn with_closed_stdout(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = dr_in(dir)
        .args(args)
        .args(["--state-dir", "sd"])
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (child.wait().unwrap().code(), stderr)
}

#[test]
fn every_printing_command_exits_normally_when_stdout_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("drill.toml"), PLAN).unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[plan]\nname = \"p\"\nrto = \"200000000000000d\"\n",
    )
    .unwrap();
    for (args, code) in [
        (&["schema"][..], 0),
        (&["completions", "bash"], 0),
        (&["validate", "drill.toml"], 0),
        (&["validate", "drill.toml", "--json"], 0),
        (&["validate", "bad.toml", "--json"], 2),
        (&["graph", "drill.toml"], 0),
        (&["plan", "drill.toml"], 0),
        (&["plan", "drill.toml", "--json"], 0),
        (&["status", "drill.toml"], 0),
        (&["audit", "verify", "--json"], 0),
    ] {
        let (status, stderr) = with_closed_stdout(dir.path(), args);
        assert!(!stderr.contains("panicked"), "dr {args:?}: {stderr}");
        assert_eq!(status, Some(code), "dr {args:?}: {stderr}");
    }
}

#[test]
fn schema_piped_to_head_reads_one_line_and_exits_0() {
    let mut child = Command::new(BIN)
        .arg("schema")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped: the rest of the schema goes to a closed pipe.
    assert_eq!(first.trim_end(), "{");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn other_write_errors_are_reported_and_fail_the_command() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return; // no /dev/full on this system
    };
    let out = Command::new(BIN)
        .arg("schema")
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        stderr.matches("error: cannot write to stdout").count(),
        1,
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
}

#[test]
fn diagnostics_to_a_closed_stderr_end_quietly_with_exit_2() {
    // Enough problems that the diagnostics overflow any pipe buffer.
    let mut plan = String::from("[plan]\nname = \"p\"\n");
    for i in 0..500 {
        plan.push_str(&format!(
            "[[steps]]\nid = \"a{i}\"\naction = \"wait\"\nduration = \"400d\"\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), plan).unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = dr_in(dir.path())
        .args(["validate", "bad.toml"])
        .stdout(Stdio::null())
        .stderr(writer)
        .status()
        .unwrap();
    // A panic would be exit 101 (its message lost to the closed stderr).
    assert_eq!(status.code(), Some(2));
}
