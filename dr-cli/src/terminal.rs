//! What the terminal can do: colors (`NO_COLOR`), prompts, interactive approvals.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use async_trait::async_trait;
use dr_core::executor::Approver;
use indicatif::MultiProgress;

/// Whether `NO_COLOR` is set (to anything non-empty).
fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Colors on stdout: only on a terminal, and never with `NO_COLOR`.
pub fn colors_on_stdout() -> bool {
    std::io::stdout().is_terminal() && !no_color()
}

/// Colors on stderr: only on a terminal, and never with `NO_COLOR`.
pub fn colors_on_stderr() -> bool {
    std::io::stderr().is_terminal() && !no_color()
}

/// Whether a person can be asked: stdin and stderr are both terminals.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// ANSI styling that is a no-op when colors are off.
#[derive(Debug, Clone, Copy)]
pub struct Palette {
    on: bool,
}

impl Palette {
    /// Colors on or off.
    pub fn new(on: bool) -> Self {
        Palette { on }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    pub fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }

    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }

    pub fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }

    pub fn cyan(&self, s: &str) -> String {
        self.paint("36", s)
    }

    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }

    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
}

/// Asks `question [y/N]` on stderr and reads the answer from stdin.
pub fn ask_yes_no(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Asks a person at the terminal to approve `approval` steps, pausing the
/// progress view while it asks.
#[derive(Debug, Clone)]
pub struct TerminalApprover {
    progress: Option<MultiProgress>,
}

impl TerminalApprover {
    /// An approver; `progress` is hidden while the question is on screen.
    pub fn new(progress: Option<MultiProgress>) -> Arc<Self> {
        Arc::new(TerminalApprover { progress })
    }
}

#[async_trait]
impl Approver for TerminalApprover {
    async fn approve(&self, step: &str, message: &str) -> bool {
        let question = format!(
            "approval `{}`: {}",
            crate::render::t(step),
            crate::render::m(message)
        );
        let progress = self.progress.clone();
        tokio::task::spawn_blocking(move || match progress {
            Some(p) => p.suspend(|| ask_yes_no(&question)),
            None => ask_yes_no(&question),
        })
        .await
        .unwrap_or(false)
    }
}
