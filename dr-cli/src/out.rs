//! Printing to stdout and stderr without panicking when nobody reads them.
//!
//! `print!`/`println!` panic when stdout is a closed pipe (`dr schema | head -1`).
//! [`outln!`] and [`out!`] write the same way, but a closed stdout (`EPIPE`) only
//! stops the printing: the command goes on and exits with its own code. Any other
//! write error is reported once on stderr and makes the exit code 1 (see
//! [`failed`]). [`errln!`] and [`err!`] do the same for stderr
//! (`dr validate plan.toml 2>&1 | head -1`), where a failed write has nowhere
//! to be reported and only stops the printing.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// 0: writing; 1: stdout closed (EPIPE); 2: another write error.
static STATE: AtomicU8 = AtomicU8::new(OPEN);
const OPEN: u8 = 0;
const CLOSED: u8 = 1;
const FAILED: u8 = 2;

/// Writes `args` (and a newline when `newline`) to stdout and flushes.
pub fn write(args: fmt::Arguments<'_>, newline: bool) {
    if STATE.load(Ordering::Relaxed) != OPEN {
        return;
    }
    let mut stdout = io::stdout().lock();
    let result = stdout
        .write_fmt(args)
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
    let mut stderr = io::stderr().lock();
    let result = stderr.write_fmt(args).and_then(|()| {
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
