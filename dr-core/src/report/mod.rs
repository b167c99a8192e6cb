//! The run report: RTO and RPO achieved against the plan's targets, per-step
//! timings and attempts, and a timeline; built from the journal, as JSON,
//! Markdown or one self-contained HTML page ([`Report::to_html`]).

mod builder;

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::TrafficSplit;
pub use crate::journal::AuditHeadRef;
use crate::journal::{self, Entry};
use crate::outcome::{CompensationStatus, StepStatus};
use builder::ReportBuilder;

/// One step in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// Step id.
    pub id: String,
    /// Its action.
    pub action: String,
    /// `succeeded`, `failed`, `interrupted` (in flight when the run was
    /// interrupted), `not_run` or `skipped` (by the operator: `dr resume
    /// --skip`).
    pub status: StepStatus,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// How long it took.
    pub duration_ms: Option<u64>,
    /// Attempts (1 + retries); 0 when it did not run.
    pub attempts: u32,
    /// What it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The provider error's kind (`throttled`, `auth`, ...), when a provider call failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    /// The remote request id of the failed call: paste it into a support case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Replication lag observed (stop, promote).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_ms: Option<u64>,
    /// `replication.reverse` of a link whose reverse discards: the bytes the
    /// old primary accepted after the new primary's last replicated one (what
    /// the reverse threw away, or would have), `null` when the store cannot
    /// tell. Absent for other steps.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub divergence_bytes: Option<serde_json::Value>,
    /// What rollback did to it, if it ran (`succeeded: front: restored east 100`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensation: Option<String>,
    /// The rollback's verdict on it, if it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensation_status: Option<CompensationStatus>,
    /// `true` when the step was in flight when the run stopped and the
    /// operator attested that it took effect (`dr resume --done STEP`): its
    /// status is `succeeded`, but this run did not see it finish.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub done_by_operator: bool,
    /// `true` when the operator skipped the step (`dr resume --skip STEP`):
    /// its status is `skipped`, and the steps after it ran.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped_by_operator: bool,
    /// Who decided how it ends, when, and what (with `done_by_operator` or
    /// `skipped_by_operator`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attested: Option<crate::journal::Attestation>,
}

impl Report {
    /// The `[plan.after]` section of the Markdown report.
    fn after_markdown(&self, a: &AfterReport) -> String {
        use crate::text::markdown::{cell, cell_code, code, text};
        let d = |ms: u64| crate::format_duration(std::time::Duration::from_millis(ms));
        let mut out = format!(
            "## After the last step: {}\n\nProbes {} every {} for {}: {} round(s){}.\n\n",
            text(&a.status),
            a.probes
                .iter()
                .map(|p| code(p))
                .collect::<Vec<_>>()
                .join(", "),
            d(a.every_ms),
            d(a.for_ms),
            a.rounds,
            match a.status.as_str() {
                "unhealthy" => "; nothing was undone (the run stays succeeded)",
                "interrupted" => "; the window was ended early (Ctrl-C)",
                _ => "",
            }
        );
        if !a.failures.is_empty() {
            out.push_str("| round | probe | status | detail |\n|---|---|---|---|\n");
            for f in &a.failures {
                out.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    f.round,
                    cell_code(&f.probe),
                    cell(&f.status),
                    cell(&f.detail)
                ));
            }
            out.push('\n');
        }
        out
    }
}

impl StepReport {
    /// Its status as the Markdown and HTML reports show it: with the operator
    /// who decided it, when one did (`skipped by operator alice`).
    pub fn status_label(&self) -> String {
        let status = match self.status {
            StepStatus::NotRun => "not run",
            s => s.as_str(),
        };
        match &self.attested {
            Some(a) if self.skipped_by_operator => format!("{status} by operator {}", a.operator),
            Some(a) if self.done_by_operator => {
                format!("{status} (done by operator {})", a.operator)
            }
            _ => status.to_string(),
        }
    }
}

/// What the `[plan.after]` window saw after the last step of a run that
/// succeeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AfterReport {
    /// `healthy`, `unhealthy`, `interrupted` (Ctrl-C ended it before any
    /// round failed), or `running` (no end recorded: the process died).
    pub status: String,
    /// The probe resources watched.
    pub probes: Vec<String>,
    /// How long the window was to last.
    pub for_ms: u64,
    /// One round of probes every ...
    pub every_ms: u64,
    /// When it began (the last step's end).
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Rounds of probes made.
    pub rounds: u32,
    /// Every probe that was not healthy, by round.
    pub failures: Vec<journal::AfterFailure>,
}

/// The operator switched a run's mode (`dr resume RUN_ID --ungraceful`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModeChange {
    /// The mode before.
    pub from: crate::RunMode,
    /// The mode after.
    pub to: crate::RunMode,
    /// Who switched it.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A field that may be `null` and still be there (`Some(Value::Null)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// A `[plan.notify]` target that could not be told of a run event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyFailure {
    /// The run event (`failed`, `after_finished`, ..).
    pub event: String,
    /// The target, as its origin only.
    pub target: String,
    /// Why.
    pub error: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Milliseconds since the run started.
    pub offset_ms: i64,
    /// What happened.
    pub what: String,
}

/// A traffic phase that took effect: a point on a traffic step's lane and a
/// column of the traffic-share picture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseMark {
    /// The traffic step.
    pub step: String,
    /// When the phase took effect.
    pub at: DateTime<Utc>,
    /// Milliseconds since the run started.
    pub offset_ms: i64,
    /// The phase (percent of the shift).
    pub phase: u32,
    /// The split in place from then on.
    pub split: TrafficSplit,
}

/// The report of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Run id.
    pub run_id: String,
    /// Plan name.
    pub plan: String,
    /// SHA-256 of the plan text.
    pub plan_digest: String,
    /// `succeeded`, `failed`, `rolled_back`, `halted`, `interrupted`, or
    /// `running` (no end recorded: the process died; `dr resume` it).
    pub status: String,
    /// The one-way step that stopped the rollback (status `halted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halted_by: Option<String>,
    /// What the operator must decide (status `halted` or `interrupted`), or
    /// what a journal without the run's end means (status `running`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// The audit log's head when the run ended: keep it elsewhere to prove later
    /// that the log was not rewritten (`dr audit verify`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_head: Option<AuditHeadRef>,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// RTO achieved: start to the end of the last traffic step (its gate passed);
    /// the whole run when it has no traffic step (see `rto_basis`); null unless
    /// the run succeeded.
    pub rto_ms: Option<u64>,
    /// What `rto_ms` measures: `traffic` (start to the last traffic step healthy)
    /// or `run` (a plan with no traffic step recovers when its last step ends,
    /// e.g. a data-tier plan); null with `rto_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_basis: Option<String>,
    /// RPO: the largest replication lag observed when replication was stopped or
    /// a store promoted; null when no replication was involved.
    pub rpo_ms: Option<u64>,
    /// The plan's RTO target.
    pub rto_target_ms: Option<u64>,
    /// The plan's RPO target.
    pub rpo_target_ms: Option<u64>,
    /// Whether RTO met its target (null without both figures).
    pub rto_met: Option<bool>,
    /// Whether RPO met its target (null without both figures).
    pub rpo_met: Option<bool>,
    /// Steps that failed with `on_failure = "continue"`: a `succeeded` run with
    /// any did not do everything the plan asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_steps: Vec<String>,
    /// How many times the run was resumed.
    pub resumed: u32,
    /// Who started it.
    pub operator: String,
    /// How the run failed over in the end: `graceful` or `ungraceful`.
    #[serde(default)]
    pub mode: crate::RunMode,
    /// Each switch of the mode, in order (empty: the run kept the mode it
    /// started with).
    #[serde(default)]
    pub mode_changes: Vec<ModeChange>,
    /// `[plan.notify]` messages that could not be delivered (the run went
    /// on without them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify_failed: Vec<NotifyFailure>,
    /// Every step of the plan, in plan order.
    pub steps: Vec<StepReport>,
    /// What happened, in order.
    pub timeline: Vec<TimelineEntry>,
    /// Traffic phases as they took effect, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<PhaseMark>,
    /// The `[plan.after]` window, when the plan has one and the run succeeded:
    /// an `unhealthy` window leaves `status` `succeeded` (nothing is undone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<AfterReport>,
}

impl Report {
    /// Reads the journal of `run_id` and builds its report.
    /// A `run_id` that is not a run id's shape (`../x`) is `InvalidInput`,
    /// never read.
    pub fn load(state_dir: &Path, run_id: &str) -> std::io::Result<Report> {
        crate::state::check_run_id(run_id)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let entries = journal::read(crate::state::RunDir::new(state_dir, run_id).path())?;
        Report::from_journal(&entries).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the journal has no run_started entry",
            )
        })
    }

    /// Builds a report from journal entries; `None` without a `run_started`.
    ///
    /// A step's duration runs from when the executor started it (before it
    /// read any state) to its end, and the timeline's "started" line is at that
    /// same moment, so the two agree; read-only steps get one too.
    pub(crate) fn from_journal(entries: &[Entry]) -> Option<Report> {
        let mut builder = ReportBuilder::default();
        for e in entries {
            builder.record(e);
        }
        builder.finish()
    }

    /// How the mode came to be, for the Markdown and HTML reports: empty, or
    /// `` (switched from graceful by alice at ...)`` per change.
    pub(crate) fn mode_text(&self) -> String {
        self.mode_changes
            .iter()
            .map(|c| {
                format!(
                    " (switched from {} to {} by {} at {})",
                    c.from,
                    c.to,
                    c.by,
                    c.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                )
            })
            .collect()
    }

    /// The report as Markdown, with a timeline. Every id, name and message
    /// is escaped for where it stands ([`crate::text::markdown`]): none can
    /// add a table column, end a row, open a code block or reach a page as
    /// HTML.
    pub fn to_markdown(&self) -> String {
        use crate::text::markdown::{cell, cell_code, code, text};
        let d = |v: Option<u64>| {
            v.map(|ms| crate::format_duration(std::time::Duration::from_millis(ms)))
                .unwrap_or_else(|| "—".into())
        };
        let verdict = |met: Option<bool>| match met {
            Some(true) => " ✅ met",
            Some(false) => " ❌ missed",
            None => "",
        };
        let mut out = format!(
            "# Run {} of plan {}: {}\n\n",
            code(&self.run_id),
            code(&self.plan),
            text(&self.status)
        );
        out.push_str(&format!(
            "Started {} by {}; {}.\n\n",
            self.started_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            text(&self.operator),
            match self.finished_at {
                Some(f) => format!(
                    "finished {}",
                    f.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                ),
                None => "not finished".into(),
            }
        ));
        out.push_str(&format!(
            "Mode: {}{}.\n\n",
            self.mode,
            text(&self.mode_text())
        ));
        for f in &self.notify_failed {
            out.push_str(&format!(
                "**Not notified:** {} of {} ({}).\n\n",
                text(&f.target),
                code(&f.event),
                text(&f.error)
            ));
        }
        if let Some(h) = &self.halted_by {
            out.push_str(&format!(
                "**Halted at one-way step {}.** {}\n\n",
                code(h),
                text(self.decision.as_deref().unwrap_or_default())
            ));
        } else if let Some(d) = &self.decision {
            out.push_str(&format!("**{}.** {}\n\n", text(&self.status), text(d)));
        }
        if !self.failed_steps.is_empty() {
            out.push_str(&format!(
                "**Succeeded with {} failed step(s)** under `on_failure = \"continue\"`: {}.\n\n",
                self.failed_steps.len(),
                self.failed_steps
                    .iter()
                    .map(|s| code(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        out.push_str("| objective | achieved | target |\n|---|---|---|\n");
        out.push_str(&format!(
            "| RTO | {}{}{} | {} |\n",
            d(self.rto_ms),
            verdict(self.rto_met),
            if self.rto_basis.as_deref() == Some("run") {
                " (whole run: no traffic step)"
            } else {
                ""
            },
            d(self.rto_target_ms)
        ));
        out.push_str(&format!(
            "| RPO | {}{} | {} |\n\n",
            d(self.rpo_ms),
            verdict(self.rpo_met),
            d(self.rpo_target_ms)
        ));
        if let Some(a) = &self.after {
            out.push_str(&self.after_markdown(a));
        }
        out.push_str("## Steps\n\n| step | action | status | duration | attempts | detail |\n|---|---|---|---|---|---|\n");
        for s in &self.steps {
            let detail = s
                .error
                .clone()
                .or_else(|| s.detail.clone())
                .unwrap_or_default();
            // A provider error's message already ends `[kind, request id ..]`.
            let detail = match &s.compensation {
                Some(c) => format!("{detail} (rollback: {c})"),
                None => detail,
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                cell_code(&s.id),
                cell(&s.action),
                cell(&s.status_label()),
                d(s.duration_ms),
                s.attempts,
                cell(&detail)
            ));
        }
        if let Some(a) = &self.audit_head {
            out.push_str(&format!(
                "\nAudit log head at the end of the run: entry {} {} (keep it elsewhere; `dr audit verify` checks the log still holds it).\n",
                a.seq,
                code(&a.hash)
            ));
        }
        out.push_str("\n## Timeline\n\n");
        for t in &self.timeline {
            out.push_str(&format!(
                "- `+{}` {}\n",
                d(Some(t.offset_ms.max(0) as u64)),
                text(&t.what)
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report whose every outside string is hostile.
    fn hostile() -> Report {
        let evil = "a|b\n```\n<script>alert(1)</script><img src=x onerror=alert(1)>\x1b[2J`x`";
        serde_json::from_value(serde_json::json!({
            "run_id": "run|1",
            "plan": evil,
            "plan_digest": "d",
            "status": "failed",
            "decision": evil,
            "started_at": "2026-01-01T00:00:00Z",
            "finished_at": null,
            "rto_ms": null, "rpo_ms": null, "rto_target_ms": null, "rpo_target_ms": null,
            "rto_met": null, "rpo_met": null,
            "failed_steps": [evil],
            "resumed": 0,
            "operator": evil,
            "steps": [{
                "id": evil, "action": evil, "status": "failed",
                "started_at": null, "finished_at": null, "duration_ms": null,
                "attempts": 1, "error": evil, "compensation": evil
            }],
            "timeline": [{"at": "2026-01-01T00:00:00Z", "offset_ms": 0, "what": evil}]
        }))
        .expect("a report")
    }

    fn unescaped_pipes(line: &str) -> usize {
        let mut n = 0;
        let mut backslashes = 0;
        for c in line.chars() {
            if c == '|' && backslashes % 2 == 0 {
                n += 1;
            }
            backslashes = if c == '\\' { backslashes + 1 } else { 0 };
        }
        n
    }

    /// `line` without its code spans (where CommonMark reads no HTML), and
    /// whether every span was closed. A backslash-escaped backtick opens none.
    fn outside_code(line: &str) -> (String, bool) {
        let b: Vec<char> = line.chars().collect();
        let (mut out, mut i) = (String::new(), 0);
        while i < b.len() {
            if b[i] == '\\' && i + 1 < b.len() {
                out.push(b[i]);
                out.push(b[i + 1]);
                i += 2;
            } else if b[i] == '`' {
                let n = b[i..].iter().take_while(|c| **c == '`').count();
                let mut j = i + n;
                loop {
                    if j >= b.len() {
                        return (out, false);
                    }
                    let m = b[j..].iter().take_while(|c| **c == '`').count();
                    if m == n {
                        break;
                    }
                    j += m.max(1);
                }
                i = j + n;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        (out, true)
    }

    #[test]
    fn markdown_keeps_outside_text_in_its_cell_and_inert() {
        let md = hostile().to_markdown();
        assert!(
            !md.chars().any(|c| c != '\n' && crate::text::is_unsafe(c)),
            "{md}"
        );
        for line in md.lines() {
            let (text, closed) = outside_code(line);
            assert!(closed, "an open code span: {line}");
            assert!(!text.contains('<'), "HTML outside code: {line}");
        }
        assert!(
            !md.lines().any(|l| l.trim_start().starts_with("```")),
            "{md}"
        );
        // The steps table: a header, a rule and one row, each of 6 cells.
        let rows: Vec<&str> = md
            .lines()
            .skip_while(|l| !l.starts_with("| step "))
            .take_while(|l| l.starts_with('|'))
            .collect();
        assert_eq!(rows.len(), 3, "{md}");
        for r in rows {
            assert_eq!(unescaped_pipes(r), 7, "{r}");
        }
        assert!(md.starts_with("# Run `run|1` of plan "), "{md}");
    }
}
