//! `reverse_command`: the operator's program that makes the old primary a
//! standby of the new one (a `pg_rewind` or a new base backup, `standby.signal`,
//! a restart: files and processes on that host, out of SQL's reach).

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dr_core::ProviderError;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::error::fatal;

/// How much of the command's stderr an error shows (its end: where the
/// failure is).
const TAIL_CHARS: usize = 2000;

/// How long the rest of stderr may take to arrive once the command exited.
const STDERR_GRACE: Duration = Duration::from_millis(200);

/// Runs `argv` (no shell) with `env` added to `dr`'s environment, for at most
/// `limit`. Its stdout is discarded (so is stderr written more than a moment
/// after it exits, by a server it started without a log file); a non-zero exit is an error with the exit
/// status and the tail of its stderr, every one of `secrets` in it replaced by
/// `******`. Out of time, or when the call is dropped (the executor cancels a
/// step that way), the command's whole process group is killed.
///
/// Every failure is [`Fatal`](dr_core::ErrorKind::Fatal): the command may have
/// done part of its work, so it is not run again by a retry; `dr resume`
/// measures the link again before it does anything.
pub(crate) async fn run(
    argv: &[String],
    env: &[(&str, String)],
    limit: Duration,
    secrets: &[String],
) -> Result<(), ProviderError> {
    let program = argv.first().map(String::as_str).unwrap_or_default();
    let mut cmd = Command::new(program);
    cmd.args(&argv[1..])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| fatal(format!("reverse_command: cannot run `{program}`: {e}")))?;
    let mut group = GroupGuard(child.id());
    // Read stderr beside the wait, not to its end: a server the command
    // started may hold the pipe open long after the command exits.
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let reader = child.stderr.take().map(|mut pipe| {
        let into = Arc::clone(&stderr);
        tokio::spawn(async move {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                if let Ok(mut buf) = into.lock() {
                    buf.extend_from_slice(&chunk[..n]);
                }
            }
        })
    });
    let status = match tokio::time::timeout(limit, child.wait()).await {
        Err(_) => {
            return Err(fatal(format!(
                "reverse_command `{program}` did not finish within {limit:?} \
                 (`reverse_timeout`); it was killed with its process group"
            )));
        }
        Ok(Err(e)) => {
            return Err(fatal(format!(
                "reverse_command: waiting for `{program}`: {e}"
            )));
        }
        Ok(Ok(status)) => status,
    };
    group.0 = None;
    if let Some(mut reader) = reader
        && tokio::time::timeout(STDERR_GRACE, &mut reader)
            .await
            .is_err()
    {
        reader.abort();
    }
    if status.success() {
        return Ok(());
    }
    let stderr = stderr.lock().map(|b| b.clone()).unwrap_or_default();
    Err(fatal(format!(
        "reverse_command `{program}` failed ({status}); stderr ends: {}",
        hide(&tail(&stderr), secrets)
    )))
}

/// The last [`TAIL_CHARS`] characters of `bytes`, as text.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end();
    let start = text
        .char_indices()
        .rev()
        .nth(TAIL_CHARS - 1)
        .map(|(i, _)| i)
        .unwrap_or(0);
    if text.is_empty() {
        "(nothing)".into()
    } else {
        text[start..].to_string()
    }
}

/// `text` with every non-empty secret replaced by `******`.
fn hide(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(text.to_string(), |t, s| t.replace(s.as_str(), "******"))
}

/// Kills the process group led by the command when dropped, unless the
/// command finished (its group may hold a server it started: that one stays).
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(raw) = self.0.and_then(|pid| i32::try_from(pid).ok())
            && raw > 1
        {
            use nix::sys::signal::{Signal, killpg};
            let _ = killpg(nix::unistd::Pid::from_raw(raw), Signal::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_the_end_and_secrets_are_hidden() {
        let long = format!("{}END", "x".repeat(5000));
        let t = tail(long.as_bytes());
        assert!(t.ends_with("END") && t.chars().count() == TAIL_CHARS, "{t}");
        assert_eq!(tail(b"  \n"), "(nothing)");
        assert_eq!(
            hide("password=s3cret host=h", &["s3cret".into(), String::new()]),
            "password=****** host=h"
        );
    }
}
