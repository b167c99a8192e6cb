//! Printing to stdout and stderr without panicking when nobody reads them.
//!
//! `print!`/`println!` panic when stdout is a closed pipe (`dr schema | head -1`).
//! [`outln!`] and [`out!`] write the same way, but a closed stdout (`EPIPE`) only
//! stops the printing: the command goes on and exits with its own code. Any other
//! write error is reported once on stderr and makes the exit code 1 (see
//! [`failed`]). [`errln!`] and [`err!`] do the same for stderr
//! (`dr validate plan.toml 2>&1 | head -1`), where a failed write has nowhere
//! to be reported and only stops the printing.
//!
//! Whatever is written is made safe for a terminal ([`safe`]): a control
//! character that reached a message unescaped (a command's stderr, an API's
//! error) is shown escaped, never sent, whichever command printed it.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// 0: writing; 1: stdout closed (EPIPE); 2: another write error.
static STATE: AtomicU8 = AtomicU8::new(OPEN);
const OPEN: u8 = 0;
const CLOSED: u8 = 1;
const FAILED: u8 = 2;

/// The escape sequences [`Palette`](crate::terminal::Palette) writes:
/// `ESC [ code m` with one of these codes.
const PALETTE_CODES: &[&str] = &["0", "1", "2", "31", "32", "33", "36"];

/// `s` safe for a terminal: newlines and tabs stay (a CRLF becomes a
/// newline), the palette's own color sequences stay when `colors`, and every
/// other control or bidi character is shown escaped
/// ([`dr_core::text::escaped`]). JSON stays valid JSON: a raw control
/// character can only be inside a string there, and its escape `\u009b` is
/// the JSON escape of the same character.
pub fn safe(s: &str, colors: bool) -> Cow<'_, str> {
    use dr_core::text::{escaped, is_unsafe};
    let keep = |c: char| c == '\n' || c == '\t';
    if !s.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        let len = c.len_utf8();
        if c == '\x1b'
            && colors
            && let Some(seq) = palette_sequence(rest)
        {
            out.push_str(seq);
            rest = &rest[seq.len()..];
            continue;
        }
        if c == '\r' && rest[len..].starts_with('\n') {
            // A CRLF line end is a line end.
        } else if is_unsafe(c) && !keep(c) {
            out.push_str(&escaped(c));
        } else {
            out.push(c);
        }
        rest = &rest[len..];
    }
    Cow::Owned(out)
}

/// The palette sequence `s` starts with, if any.
fn palette_sequence(s: &str) -> Option<&str> {
    let body = s.strip_prefix("\x1b[")?;
    let end = body.find('m')?;
    PALETTE_CODES.contains(&&body[..end]).then(|| &s[..end + 3])
}

/// Whether colors are on for stdout and stderr, decided once.
fn colors() -> (bool, bool) {
    static COLORS: OnceLock<(bool, bool)> = OnceLock::new();
    *COLORS.get_or_init(|| {
        (
            crate::terminal::colors_on_stdout(),
            crate::terminal::colors_on_stderr(),
        )
    })
}

/// Writes `args` (and a newline when `newline`) to stdout and flushes.
pub fn write(args: fmt::Arguments<'_>, newline: bool) {
    if STATE.load(Ordering::Relaxed) != OPEN {
        return;
    }
    let text = fmt::format(args);
    let text = safe(&text, colors().0);
    let mut stdout = io::stdout().lock();
    let result = stdout
        .write_all(text.as_bytes())
        .and_then(|()| {
            if newline {
                stdout.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| stdout.flush());
    if let Err(e) = result {
        record(&e);
    }
}

/// Notes a failed write to stdout: a closed pipe silences further output, any
/// other error is also reported on stderr.
pub fn record(e: &io::Error) {
    if e.kind() == io::ErrorKind::BrokenPipe {
        let _ = STATE.compare_exchange(OPEN, CLOSED, Ordering::Relaxed, Ordering::Relaxed);
    } else if STATE.swap(FAILED, Ordering::Relaxed) != FAILED {
        write_err(format_args!("error: cannot write to stdout: {e}"), true);
    }
}

/// Whether writing to stdout failed for a reason other than a closed pipe.
pub fn failed() -> bool {
    STATE.load(Ordering::Relaxed) == FAILED
}

/// Writes `args` (and a newline when `newline`) to stderr; after a failed write,
/// nothing more is written there.
pub fn write_err(args: fmt::Arguments<'_>, newline: bool) {
    if ERR_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let text = fmt::format(args);
    let text = safe(&text, colors().1);
    let mut stderr = io::stderr().lock();
    let result = stderr.write_all(text.as_bytes()).and_then(|()| {
        if newline {
            stderr.write_all(b"\n")
        } else {
            Ok(())
        }
    });
    if result.is_err() {
        ERR_CLOSED.store(true, Ordering::Relaxed);
    }
}

static ERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// `println!` that stops quietly at a closed stdout instead of panicking.
macro_rules! outln {
    () => {
        $crate::out::write(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*), true)
    };
}

/// `print!` that stops quietly at a closed stdout instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*), false)
    };
}

/// `eprintln!` that stops quietly at a closed stderr instead of panicking.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::out::write_err(format_args!($($arg)*), true)
    };
}

/// `eprint!` that stops quietly at a closed stderr instead of panicking.
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::out::write_err(format_args!($($arg)*), false)
    };
}

pub(crate) use {err, errln, out, outln};

/// A writer over stdout for APIs that take one (`clap_complete::generate`): a
/// closed pipe swallows the rest of the output instead of failing.
#[derive(Debug, Default)]
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if STATE.load(Ordering::Relaxed) == OPEN
            && let Err(e) = io::stdout().write_all(buf)
        {
            record(&e);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if STATE.load(Ordering::Relaxed) == OPEN
            && let Err(e) = io::stdout().flush()
        {
            record(&e);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::safe;

    #[test]
    fn only_the_palettes_own_sequences_reach_the_terminal() {
        let painted = "\x1b[32m✓\x1b[0m step x failed: \x1b[2J\rsucceeded\x1b[8m";
        assert_eq!(
            safe(painted, true),
            "\x1b[32m✓\x1b[0m step x failed: \\x1b[2J\\x0dsucceeded\\x1b[8m"
        );
        assert_eq!(
            safe(painted, false),
            "\\x1b[32m✓\\x1b[0m step x failed: \\x1b[2J\\x0dsucceeded\\x1b[8m"
        );
        assert_eq!(safe("a\r\nb\tc\n", false), "a\nb\tc\n");
    }

    #[test]
    fn json_stays_json_with_the_same_strings() {
        let v = serde_json::json!({"error": "x\u{9b}2J\u{202e}y\x1b"});
        let text = v.to_string();
        let shown = safe(&text, false);
        assert!(!shown.chars().any(dr_core::text::is_unsafe), "{shown}");
        let back: serde_json::Value = serde_json::from_str(&shown).expect("still JSON");
        assert_eq!(back, v);
    }
}
