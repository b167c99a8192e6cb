//! Drills: the monthly failover test, as a library.
//!
//! A [`Drill`] runs a failover plan, checks what it left behind against what
//! the plan meant to do ([`end_state`]: every router on its last split, every
//! promoted store a primary, every gate's probe healthy), holds on the
//! secondary for a while, runs the failback plan, and gives one
//! [`DrillReport`] comparing both runs' RTO and RPO with their targets and
//! saying how long the service was on the secondary. `dr drill` is a thin
//! layer over it (arguments, consent, rendering); an embedding program runs
//! the same drill:
//!
//! ```no_run
//! # async fn f(failover: dr_core::Plan, failback: dr_core::Plan) -> Result<(), dr_core::executor::ExecError> {
//! use dr_core::drill::Drill;
//! use dr_core::executor::RunOptions;
//!
//! let report = Drill::new(failover, failback)
//!     .run(|| RunOptions::new(".dr").approve("go").approve("go-back"))
//!     .await?;
//! report.save(std::path::Path::new(".dr"))?;
//! println!("{}", report.to_markdown());
//! # Ok(()) }
//! ```

mod check;
mod report;

use std::sync::Arc;
use std::time::Duration;

pub use check::{EndStateFinding, end_state};
pub use report::{DrillReport, DrillRun, DrillStatus};

use crate::Plan;
use crate::executor::{ExecError, Executor, RunOptions, RunStatus};

/// Receives the drill's stage lines.
type NoteSink = Arc<dyn Fn(&str) + Send + Sync>;

/// A failover, an end-state check, a hold and a failback. Both plans are
/// validated ([`Plan`]s) before the drill is built.
pub struct Drill {
    failover: Plan,
    failback: Plan,
    hold: Option<Duration>,
    note: Option<NoteSink>,
}

impl std::fmt::Debug for Drill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drill")
            .field("failover", &self.failover.name)
            .field("failback", &self.failback.name)
            .field("hold", &self.hold)
            .finish()
    }
}

impl Drill {
    /// A drill of `failover` then `failback`, with no hold between them.
    pub fn new(failover: Plan, failback: Plan) -> Self {
        Drill {
            failover,
            failback,
            hold: None,
            note: None,
        }
    }

    /// Stays on the secondary this long after the check, before failing back.
    pub fn hold(mut self, hold: Option<Duration>) -> Self {
        self.hold = hold;
        self
    }

    /// Called with one line whenever the drill moves to its next stage
    /// (`drill: failover with plan ..`, `drill: on the secondary for ..`).
    pub fn on_note(mut self, note: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.note = Some(Arc::new(note));
        self
    }

    fn note(&self, line: &str) {
        if let Some(n) = &self.note {
            n(line);
        }
    }

    /// Runs the drill; `options` gives the run options of each of the two runs
    /// (state dir, approvals, event sink). `Err` only when the failover could
    /// not start (lock held, state dir unusable, ...); everything after that
    /// ends in the report, whose [`DrillReport::met`] says whether the drill
    /// passed.
    ///
    /// The first run's cancel token is the drill's interrupt: once cancelled
    /// (Ctrl-C, SIGTERM), a run in progress stops at its next safe point
    /// (resumable), a hold ends at once, no failback starts, and the report
    /// is [`DrillStatus::Interrupted`].
    pub async fn run(
        self,
        mut options: impl FnMut() -> RunOptions,
    ) -> Result<DrillReport, ExecError> {
        self.note(&format!("drill: failover with plan {}", self.failover.name));
        let first = options();
        // The interrupt of the drill: the failover's (Ctrl-C, SIGTERM). It
        // ends a hold at once, and no failback starts after it.
        let cancel = first.cancel.clone();
        let ex = Executor::new(self.failover.clone(), first);
        let outcome = ex.run().await?;
        let mut report = DrillReport::new(&outcome.report, self.hold);
        if outcome.status == RunStatus::Interrupted {
            report.interrupted(format!(
                "the drill was interrupted during the failover: traffic is where it was, \
                 `dr resume {}` continues the failover; the failback was not run",
                outcome.report.run_id
            ));
            return Ok(report);
        }
        if outcome.status != RunStatus::Succeeded {
            report.reasons.push(format!(
                "the failover ended {}: the failback was not run ({})",
                outcome.status,
                match outcome.status {
                    RunStatus::RolledBack => "the rollback restored the start",
                    _ => "look at the run before failing back by hand",
                }
            ));
            return Ok(report);
        }

        report.check = end_state(ex.plan()).await;
        for f in report.check.iter().filter(|f| !f.ok) {
            report
                .reasons
                .push(format!("after the failover, {}: {}", f.resource, f.message));
        }
        let on_secondary = std::time::Instant::now();
        if let Some(hold) = self.hold {
            self.note(&format!(
                "drill: on the secondary for {}",
                crate::format_duration(hold)
            ));
            tokio::select! {
                _ = tokio::time::sleep(hold) => {}
                _ = cancel.cancelled() => {}
            }
        }
        if cancel.is_cancelled() {
            let why = format!(
                "the drill was interrupted on the secondary after {}{}: the failback was not \
                 run; the service stays on the secondary until you run the failback plan {} \
                 (`dr run`)",
                crate::format_duration(on_secondary.elapsed()),
                self.hold
                    .map(|h| format!(" of a {} hold", crate::format_duration(h)))
                    .unwrap_or_default(),
                self.failback.name
            );
            self.note(&format!("drill: {why}"));
            report.interrupted(why);
            return Ok(report);
        }

        self.note(&format!("drill: failback with plan {}", self.failback.name));
        let back = match Executor::new(self.failback.clone(), options()).run().await {
            Ok(o) => o,
            Err(e) => {
                report
                    .reasons
                    .push(format!("the failback could not run: {e}"));
                return Ok(report);
            }
        };
        report.failback_ran(&back.report, back.status == RunStatus::Succeeded);
        if back.status == RunStatus::Interrupted {
            report.interrupted(format!(
                "the drill was interrupted during the failback: `dr resume {}` continues it",
                back.report.run_id
            ));
        }
        Ok(report)
    }
}
