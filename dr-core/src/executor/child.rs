//! Commands of `exec` steps: a process group of their own, killed as a whole,
//! and never outliving `dr` by much.
//!
//! Three layers, because no single one is enough on its own:
//! - the child gets `SIGKILL` when the `dr` thread that started it dies
//!   (Linux `PR_SET_PDEATHSIG`), so a `kill -9` of `dr` stops the command at once;
//! - the child leads its own process group, and a step that times out or is
//!   stopped hard kills the whole group (grandchildren included);
//! - the journal records the group id, and `dr resume` kills what is left of it
//!   before it continues (a grandchild that survived its parent's death).

/// Puts the command in a process group of its own and, on Linux, asks the
/// kernel to kill it when its parent dies.
pub(crate) fn isolate(cmd: &mut tokio::process::Command) {
    #[cfg(unix)]
    cmd.process_group(0);
    #[cfg(target_os = "linux")]
    die_with_parent(cmd);
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut tokio::process::Command) {
    let parent = std::process::id();
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed. It makes two system calls (prctl and
    // getppid) through nix's thin wrappers, which neither allocate nor lock.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
            // The parent may have died between fork and prctl: then no signal
            // will ever come, so do not start the command at all.
            if nix::unistd::getppid().as_raw() as u32 != parent {
                return Err(std::io::Error::other(
                    "parent exited before the command started",
                ));
            }
            Ok(())
        });
    }
}

/// Kills the process group `pgid` when dropped, unless disarmed (the command
/// finished on its own).
#[derive(Debug)]
pub(crate) struct GroupGuard {
    pgid: Option<u32>,
}

impl GroupGuard {
    /// Guards the group led by the child with `pid`.
    pub(crate) fn new(pid: Option<u32>) -> Self {
        GroupGuard { pgid: pid }
    }

    /// The command finished: leave its group alone.
    pub(crate) fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            kill_group(pgid);
        }
    }
}

#[cfg(unix)]
fn kill_group(pgid: u32) -> bool {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    let Ok(raw) = i32::try_from(pgid) else {
        return false;
    };
    if raw <= 1 {
        return false;
    }
    killpg(Pid::from_raw(raw), Signal::SIGKILL).is_ok()
}

#[cfg(not(unix))]
fn kill_group(_pgid: u32) -> bool {
    false
}

/// Kills what is left of the process group an earlier process of this run
/// started; true when something was there to kill.
pub(crate) fn kill_leftover(pgid: u32) -> bool {
    kill_group(pgid)
}
