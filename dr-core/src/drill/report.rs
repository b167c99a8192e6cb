//! The drill's report: both runs against their targets, the end-state check,
//! the time on the secondary, and why the drill is not met.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::EndStateFinding;
use crate::report::Report;

/// One run of the drill, as the report shows it.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct DrillRun {
    /// The run's id (`dr report RUN_ID`).
    pub run_id: String,
    /// The plan's name.
    pub plan: String,
    /// How the run ended (`succeeded`, `rolled_back`, ...).
    pub status: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Measured RTO.
    pub rto_ms: Option<u64>,
    /// The plan's `rto`.
    pub rto_target_ms: Option<u64>,
    /// Whether the RTO met its target (`None`: no target).
    pub rto_met: Option<bool>,
    /// Measured RPO.
    pub rpo_ms: Option<u64>,
    /// The plan's `rpo`.
    pub rpo_target_ms: Option<u64>,
    /// Whether the RPO met its target (`None`: no target or no replication).
    pub rpo_met: Option<bool>,
    /// The steps that failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_steps: Vec<String>,
    /// How the run's `[plan.after]` window ended (`healthy`, `unhealthy`,
    /// `interrupted`), when the plan has one and the run succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

impl DrillRun {
    fn from_report(r: &Report) -> Self {
        DrillRun {
            run_id: r.run_id.clone(),
            plan: r.plan.clone(),
            status: r.status.clone(),
            started_at: r.started_at,
            finished_at: r.finished_at,
            rto_ms: r.rto_ms,
            rto_target_ms: r.rto_target_ms,
            rto_met: r.rto_met,
            rpo_ms: r.rpo_ms,
            rpo_target_ms: r.rpo_target_ms,
            rpo_met: r.rpo_met,
            failed_steps: r.failed_steps.clone(),
            after: r.after.as_ref().map(|a| a.status.clone()),
        }
    }
}

/// How a drill ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DrillStatus {
    /// Both runs succeeded, the check passed and every target was met.
    Met,
    /// Everything ran, but a target or the end-state check was missed.
    Missed,
    /// A run did not succeed (or could not start).
    Failed,
    /// Interrupted (Ctrl-C, SIGTERM): the drill stopped where it was; a run
    /// in progress is resumable (`dr resume`), and the failback did not run
    /// unless it was the one interrupted.
    Interrupted,
}

impl DrillStatus {
    /// `met`, `missed`, `failed` or `interrupted`.
    pub fn as_str(self) -> &'static str {
        match self {
            DrillStatus::Met => "met",
            DrillStatus::Missed => "missed",
            DrillStatus::Failed => "failed",
            DrillStatus::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for DrillStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The drill's report (`dr drill`'s `drill_finished` line and
/// `<state-dir>/drills/<drill-id>.{json,md}`).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct DrillReport {
    /// `drill-<failover run id>`.
    pub drill_id: String,
    /// How the drill ended.
    pub status: DrillStatus,
    /// `status == met`.
    pub met: bool,
    /// The failover run.
    pub failover: DrillRun,
    /// What the failover left behind, read back.
    pub check: Vec<EndStateFinding>,
    /// The hold on the secondary, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_ms: Option<u64>,
    /// The failback run, when it ran.
    pub failback: Option<DrillRun>,
    /// From the failover's traffic reaching the secondary to the failback's
    /// traffic starting to leave it.
    pub on_secondary_ms: Option<u64>,
    /// Why the drill is not `met`, one line each.
    pub reasons: Vec<String>,
}

impl DrillReport {
    /// The report of a drill whose failover ran (`failed` until the failback
    /// is in).
    pub(super) fn new(failover: &Report, hold: Option<Duration>) -> Self {
        DrillReport {
            drill_id: format!("drill-{}", failover.run_id),
            status: DrillStatus::Failed,
            met: false,
            failover: DrillRun::from_report(failover),
            check: Vec::new(),
            hold_ms: hold.map(|h| h.as_millis() as u64),
            failback: None,
            on_secondary_ms: None,
            reasons: Vec::new(),
        }
    }

    /// Takes in the failback's report and decides the verdict.
    pub(super) fn failback_ran(&mut self, back: &Report, succeeded: bool) {
        self.on_secondary_ms = on_secondary(&self.failover, back);
        let back = DrillRun::from_report(back);
        if !succeeded {
            self.reasons
                .push(format!("the failback ended {}", back.status));
            self.failback = Some(back);
            return;
        }
        self.status = DrillStatus::Missed;
        let mut missed = Vec::new();
        for (which, run) in [("failover", &self.failover), ("failback", &back)] {
            if run.rto_met == Some(false) {
                missed.push(format!(
                    "{which} RTO {} > target {}",
                    ms(run.rto_ms),
                    ms(run.rto_target_ms)
                ));
            }
            if run.rpo_met == Some(false) {
                missed.push(format!(
                    "{which} RPO {} > target {}",
                    ms(run.rpo_ms),
                    ms(run.rpo_target_ms)
                ));
            }
            if run.after.as_deref() == Some("unhealthy") {
                missed.push(format!(
                    "{which}: the new side was unhealthy during its [plan.after] window \
                     (`dr report {}` lists the failed rounds)",
                    run.run_id
                ));
            }
        }
        self.reasons.extend(missed);
        self.failback = Some(back);
        if self.reasons.is_empty() {
            self.status = DrillStatus::Met;
            self.met = true;
        }
    }

    /// The drill was interrupted: it stops here, `why` says where and what
    /// the operator can do next.
    pub(super) fn interrupted(&mut self, why: String) {
        self.status = DrillStatus::Interrupted;
        self.met = false;
        self.reasons.push(why);
    }

    /// Writes `<state_dir>/drills/<drill-id>.json` and `.md`; the `.md` path.
    pub fn save(&self, state_dir: &Path) -> std::io::Result<PathBuf> {
        let dir = state_dir.join("drills");
        std::fs::create_dir_all(&dir)?;
        let json = serde_json::to_string_pretty(self).unwrap_or_default();
        std::fs::write(dir.join(format!("{}.json", self.drill_id)), json)?;
        let path = dir.join(format!("{}.md", self.drill_id));
        std::fs::write(&path, self.to_markdown())?;
        Ok(path)
    }

    /// The report as Markdown: one table of both runs against their targets,
    /// the time on the secondary, the check, and what was not met. Ids, names
    /// and messages are escaped for where they stand ([`crate::text::markdown`]).
    pub fn to_markdown(&self) -> String {
        use crate::text::markdown::{cell, cell_code, code, text};
        let verdict = |v: Option<bool>| match v {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "no target",
        };
        let mut s = format!(
            "# Drill {}: {}\n\n| run | plan | status | RTO | target | | RPO | target | |\n\
             |---|---|---|---|---|---|---|---|---|\n",
            text(&self.drill_id),
            if self.met {
                "targets met"
            } else {
                self.status.as_str()
            }
        );
        let runs = [
            ("failover", Some(&self.failover)),
            ("failback", self.failback.as_ref()),
        ];
        for (which, run) in runs {
            match run {
                Some(run) => s.push_str(&format!(
                    "| {which} {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                    cell_code(&run.run_id),
                    cell(&run.plan),
                    cell(&run.status),
                    ms(run.rto_ms),
                    ms(run.rto_target_ms),
                    verdict(run.rto_met),
                    ms(run.rpo_ms),
                    ms(run.rpo_target_ms),
                    verdict(run.rpo_met),
                )),
                None => s.push_str(&format!("| {which} | | not run | | | | | | |\n")),
            }
        }
        s.push('\n');
        if let Some(on) = self.on_secondary_ms {
            s.push_str(&format!("On the secondary: {}.\n\n", ms(Some(on))));
        }
        if !self.check.is_empty() {
            s.push_str("Check after the failover:\n\n");
            for f in &self.check {
                s.push_str(&format!(
                    "- {} {} {}: {}\n",
                    if f.ok { "✓" } else { "✗" },
                    text(f.check),
                    code(&f.resource),
                    text(&f.message)
                ));
            }
            s.push('\n');
        }
        if !self.reasons.is_empty() {
            s.push_str("Not met:\n\n");
            for reason in &self.reasons {
                s.push_str(&format!("- {}\n", text(reason)));
            }
        }
        s
    }
}

fn ms(v: Option<u64>) -> String {
    match v {
        Some(ms) => crate::format_duration(Duration::from_millis(ms)),
        None => "unknown".to_string(),
    }
}

/// From the failover's traffic on the secondary (its RTO point, else its end)
/// to the failback's first traffic step starting (else its start).
fn on_secondary(failover: &DrillRun, failback: &Report) -> Option<u64> {
    let from = match failover.rto_ms {
        Some(rto) => failover.started_at + chrono::Duration::milliseconds(rto as i64),
        None => failover.finished_at?,
    };
    let until = failback
        .steps
        .iter()
        .filter(|s| s.action.starts_with("traffic."))
        .filter_map(|s| s.started_at)
        .min()
        .unwrap_or(failback.started_at);
    u64::try_from((until - from).num_milliseconds()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_keeps_outside_text_in_its_cell_and_inert() {
        let evil = "a|b\n```\n<script>x</script>\x1b[2J";
        let run = DrillRun {
            run_id: "r1".into(),
            plan: evil.into(),
            status: "succeeded".into(),
            started_at: Utc::now(),
            finished_at: None,
            rto_ms: None,
            rto_target_ms: None,
            rto_met: None,
            rpo_ms: None,
            rpo_target_ms: None,
            rpo_met: None,
            failed_steps: Vec::new(),
            after: None,
        };
        let report = DrillReport {
            drill_id: "drill-r1".into(),
            status: DrillStatus::Failed,
            met: false,
            failover: run,
            check: vec![EndStateFinding {
                check: "traffic",
                resource: "front`".into(),
                ok: false,
                message: evil.into(),
            }],
            hold_ms: None,
            failback: None,
            on_secondary_ms: None,
            reasons: vec![evil.into()],
        };
        let md = report.to_markdown();
        assert!(
            !md.chars().any(|c| c != '\n' && crate::text::is_unsafe(c)),
            "{md}"
        );
        assert!(!md.contains("<script"), "{md}");
        assert!(!md.lines().any(|l| l.starts_with("```")), "{md}");
        let row = md
            .lines()
            .find(|l| l.starts_with("| failover"))
            .expect("row");
        assert_eq!(row.matches(" | ").count(), 8, "{row}");
    }
}
