//! The report as one self-contained HTML page: inline CSS, inline SVG, no
//! script and no external URL, so it can be mailed, attached to a ticket or
//! printed as it is.
//!
//! The picture is laid out by a small pure function, [`lanes`]: one lane per
//! plan step, in plan order, on a time axis from the run's start to its end.
//! Colour never carries meaning alone: every lane and bar has a text label.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::outcome::StepStatus;
use crate::report::{PhaseMark, Report, StepReport};

/// Width of the SVG pictures.
const WIDTH: f64 = 960.0;
/// Left edge of the time axis (the step labels sit left of it).
const AXIS_X0: f64 = 250.0;
/// Right edge of the time axis.
const AXIS_X1: f64 = 940.0;
/// Top of the first lane.
const TOP: f64 = 30.0;
/// Height of one lane.
const LANE_H: f64 = 38.0;
/// Height of a traffic-share picture's plot.
const SHARE_H: f64 = 100.0;

/// Colours of traffic targets, in order of first appearance (the legend names them).
const TARGET_COLOURS: &[&str] = &[
    "#4e79a7", "#f28e2b", "#76b7b2", "#b07aa1", "#edc948", "#59a14f", "#9c755f", "#bab0ac",
];

/// Escapes `s` for HTML text and attribute values (`&`, `<`, `>`, `"`, `'`;
/// control characters shown escaped): see [`crate::text::html`].
pub(crate) fn esc(s: &str) -> String {
    crate::text::html::escape(s)
}

/// The time axis: the run's start to its end, mapped onto `[AXIS_X0, AXIS_X1]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Axis {
    start: DateTime<Utc>,
    span_ms: i64,
}

impl Axis {
    /// From the run's start to the latest moment the report knows of (its end,
    /// or the last step or timeline line of a run that has not ended).
    pub(crate) fn of(report: &Report) -> Axis {
        let start = report.started_at;
        let mut end = report.finished_at.unwrap_or(start);
        for s in &report.steps {
            for t in [s.started_at, s.finished_at].into_iter().flatten() {
                end = end.max(t);
            }
        }
        for t in &report.timeline {
            end = end.max(t.at);
        }
        for p in &report.phases {
            end = end.max(p.at);
        }
        Axis {
            start,
            // At least 1 ms: a run that took no time still gets a drawable axis.
            span_ms: (end - start).num_milliseconds().max(1),
        }
    }

    /// The x of `t`, clamped to the axis.
    pub(crate) fn x(&self, t: DateTime<Utc>) -> f64 {
        let ms = (t - self.start).num_milliseconds().clamp(0, self.span_ms);
        AXIS_X0 + (AXIS_X1 - AXIS_X0) * ms as f64 / self.span_ms as f64
    }

    /// The axis length in milliseconds.
    pub(crate) fn span_ms(&self) -> i64 {
        self.span_ms
    }
}

/// One lane of the timeline: a plan step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lane {
    /// The step id.
    pub(crate) id: String,
    /// Its status word (`succeeded`, `failed`, `interrupted`, `not run`).
    pub(crate) status: &'static str,
    /// Top of the lane.
    pub(crate) y: f64,
    /// The bar, `(x0, x1)` on the axis; `None` when the step did not run.
    pub(crate) bar: Option<(f64, f64)>,
    /// Traffic phases on this lane: `(x, phase)`.
    pub(crate) phases: Vec<(f64, u32)>,
    /// The one-way step that stopped the rollback.
    pub(crate) one_way: bool,
}

fn status_word(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Succeeded => "succeeded",
        StepStatus::Failed => "failed",
        StepStatus::Interrupted => "interrupted",
        StepStatus::Skipped => "skipped",
        _ => "not run",
    }
}

/// Lays out the timeline: one lane per plan step, in plan order, each on its
/// own row (so steps that overlapped in time never share one), with a bar from
/// the step's start to its end on the shared axis; a step that did not run has
/// an empty lane.
pub(crate) fn lanes(report: &Report, axis: &Axis) -> Vec<Lane> {
    report
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let bar = match (s.status, s.started_at) {
                (StepStatus::NotRun, _) | (_, None) => None,
                (_, Some(a)) => {
                    let b = s.finished_at.unwrap_or(a).max(a);
                    Some((axis.x(a), axis.x(b)))
                }
            };
            Lane {
                id: s.id.clone(),
                status: status_word(s.status),
                y: TOP + i as f64 * LANE_H,
                bar,
                phases: report
                    .phases
                    .iter()
                    .filter(|p| p.step == s.id)
                    .map(|p| (axis.x(p.at), p.phase))
                    .collect(),
                one_way: report.halted_by.as_deref() == Some(s.id.as_str()),
            }
        })
        .chain(after_lane(report, axis))
        .collect()
}

/// The `[plan.after]` window as a last lane (`after: PROBES`), its bar from
/// the last step's end to the window's end, coloured by its verdict.
fn after_lane(report: &Report, axis: &Axis) -> Option<Lane> {
    let a = report.after.as_ref()?;
    let end = a.finished_at.unwrap_or(a.started_at).max(a.started_at);
    Some(Lane {
        id: format!("after: {}", a.probes.join(", ")),
        status: match a.status.as_str() {
            "healthy" => "healthy",
            "unhealthy" => "unhealthy",
            "interrupted" => "interrupted",
            _ => "running",
        },
        y: TOP + report.steps.len() as f64 * LANE_H,
        bar: Some((axis.x(a.started_at), axis.x(end))),
        phases: Vec::new(),
        one_way: false,
    })
}

/// The columns of a traffic step's share picture: `(x0, x1)` per phase. A
/// phase's split holds from when it took effect until the next thing the run
/// recorded (the next phase, the gate failing, the step ending), so a phase of
/// an attempt that failed does not seem to last until a resumed attempt.
/// At least 2px wide, inside the axis.
pub(crate) fn share_columns(report: &Report, marks: &[&PhaseMark], axis: &Axis) -> Vec<(f64, f64)> {
    marks
        .iter()
        .map(|p| {
            let next = report
                .timeline
                .iter()
                .map(|t| t.at)
                .chain(report.phases.iter().map(|q| q.at))
                .chain(report.finished_at)
                .filter(|at| *at > p.at)
                .min()
                .unwrap_or(p.at);
            let x0 = axis.x(p.at);
            let w = (axis.x(next) - x0).max(2.0);
            let x0 = x0.min(AXIS_X1 - w);
            (x0, x0 + w)
        })
        .collect()
}

fn dur(ms: u64) -> String {
    crate::format_duration(Duration::from_millis(ms))
}

fn opt_dur(ms: Option<u64>) -> String {
    ms.map(dur).unwrap_or_else(|| "—".into())
}

/// `met (1m 2s under the 5m target)` / `missed by 3s (target 1m)` / what is known.
fn against(achieved: Option<u64>, target: Option<u64>) -> (String, &'static str) {
    match (achieved, target) {
        (Some(a), Some(t)) if a <= t => (
            format!(
                "{}: met, {} under the {} target",
                dur(a),
                dur(t - a),
                dur(t)
            ),
            "met",
        ),
        (Some(a), Some(t)) => (
            format!("{}: missed by {} (target {})", dur(a), dur(a - t), dur(t)),
            "missed",
        ),
        (Some(a), None) => (format!("{} (no target)", dur(a)), "none"),
        (None, Some(t)) => (format!("not measured (target {})", dur(t)), "none"),
        (None, None) => ("not measured, no target".into(), "none"),
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

const CSS: &str = r#"
:root { --bg: #ffffff; --fg: #1d1d1f; --muted: #5f6368; --line: #d0d4da; --lane: #f3f5f7;
  --ok: #2e7d32; --bad: #c62828; --warn: #b26a00; --none: #9aa0a6; --mark: #1d1d1f; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #15171a; --fg: #e8eaed; --muted: #a8aeb5; --line: #3c4043; --lane: #202327;
    --ok: #66bb6a; --bad: #ef5350; --warn: #ffb74d; --none: #80868b; --mark: #e8eaed; }
}
body { background: var(--bg); color: var(--fg); font: 15px/1.45 system-ui, sans-serif;
  margin: 2rem auto; max-width: 1000px; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid var(--line); }
code, .mono { font-family: ui-monospace, monospace; font-size: .9em; word-break: break-all; }
.verdict { border: 2px solid var(--line); border-radius: 6px; padding: .75rem 1rem; }
.verdict.succeeded { border-color: var(--ok); }
.verdict.failed, .verdict.halted, .verdict.rolled_back, .verdict.interrupted { border-color: var(--bad); }
.met { color: var(--ok); font-weight: 600; }
.missed { color: var(--bad); font-weight: 600; }
.oneway { font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { border: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top; }
svg { width: 100%; height: auto; display: block; }
svg text { fill: var(--fg); font: 12px system-ui, sans-serif; }
svg text.small { font-size: 10px; fill: var(--muted); }
svg .lane-bg { fill: var(--lane); }
svg .axis { stroke: var(--line); }
svg .bar.succeeded { fill: var(--ok); }
svg .bar.failed { fill: var(--bad); }
svg .bar.interrupted { fill: var(--warn); }
svg .bar.skipped { fill: var(--muted); }
svg .bar.healthy { fill: var(--ok); }
svg .bar.unhealthy { fill: var(--bad); }
svg .bar.running { fill: var(--warn); }
svg .phase { stroke: var(--mark); stroke-width: 2; }
svg .oneway-mark { fill: none; stroke: var(--bad); stroke-width: 3; }
.legend span { display: inline-block; margin-right: 1rem; }
.swatch { display: inline-block; width: .8em; height: .8em; margin-right: .3em; border: 1px solid var(--line); }
@media print {
  :root { --bg: #ffffff; --fg: #000000; --muted: #333333; --line: #999999; --lane: #f2f2f2; }
  body { margin: 0; max-width: none; font-size: 11pt; }
  h2 { break-after: avoid; }
  svg, table, .verdict { break-inside: avoid; }
}
"#;

#[cfg_attr(docsrs, doc(cfg(feature = "html")))]
impl Report {
    /// The report as one self-contained HTML page: the verdict, an SVG
    /// timeline (one lane per plan step), the traffic share of each traffic
    /// step over time, the replication lag observed, the steps and the audit
    /// head. Inline CSS and SVG only: no script, no external URL.
    pub fn to_html(&self) -> String {
        let mut h = String::new();
        let title = format!("dr run {} of {}: {}", self.run_id, self.plan, self.status);
        let _ = writeln!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>",
            esc(&title)
        );
        self.html_verdict(&mut h);
        let axis = Axis::of(self);
        self.html_timeline(&mut h, &axis);
        self.html_traffic(&mut h, &axis);
        self.html_lag(&mut h);
        self.html_steps(&mut h);
        h.push_str("</body>\n</html>\n");
        h
    }

    fn html_verdict(&self, h: &mut String) {
        let _ = writeln!(
            h,
            "<h1>Run <code>{}</code> of plan <code>{}</code></h1>\n\
             <section class=\"verdict {}\">\n<p><strong>Status: {}</strong></p>",
            esc(&self.run_id),
            esc(&self.plan),
            esc(&self.status),
            esc(&self.status)
        );
        let (rto, rto_class) = against(self.rto_ms, self.rto_target_ms);
        let basis = if self.rto_basis.as_deref() == Some("run") {
            " (whole run: no traffic step)"
        } else {
            ""
        };
        let (rpo, rpo_class) = against(self.rpo_ms, self.rpo_target_ms);
        let _ = writeln!(
            h,
            "<p>RTO <span class=\"{rto_class}\">{}</span>{basis}</p>\n\
             <p>RPO <span class=\"{rpo_class}\">{}</span></p>",
            esc(&rto),
            esc(&rpo)
        );
        if let Some(step) = &self.halted_by {
            let _ = writeln!(
                h,
                "<p class=\"oneway\">Halted: one-way step <code>{}</code> stopped the rollback.</p>",
                esc(step)
            );
        }
        if let Some(d) = &self.decision {
            let _ = writeln!(h, "<p>Decision: {}</p>", esc(d));
        }
        if let Some(a) = &self.after {
            let class = if a.status == "unhealthy" {
                "missed"
            } else {
                "met"
            };
            let _ = writeln!(
                h,
                "<p class=\"after\">After the last step: <span class=\"{class}\">{}</span> \
                 ({} round(s) of {} every {} for {}; {} unhealthy probe result(s){})</p>",
                esc(&a.status),
                a.rounds,
                esc(&a.probes.join(", ")),
                esc(&dur(a.every_ms)),
                esc(&dur(a.for_ms)),
                a.failures.len(),
                if a.status == "unhealthy" {
                    "; nothing was undone"
                } else {
                    ""
                }
            );
        }
        if !self.failed_steps.is_empty() {
            let _ = writeln!(
                h,
                "<p>Succeeded with {} failed step(s) under <code>on_failure = \"continue\"</code>: {}.</p>",
                self.failed_steps.len(),
                self.failed_steps
                    .iter()
                    .map(|s| format!("<code>{}</code>", esc(s)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let _ = writeln!(
            h,
            "<p>Started {} by {}; {}.</p>\n<p>Mode: {}{}.</p>\n</section>",
            esc(&ts(self.started_at)),
            esc(&self.operator),
            match self.finished_at {
                Some(f) => format!("finished {}", esc(&ts(f))),
                None => "not finished".into(),
            },
            self.mode,
            esc(&self.mode_text())
        );
    }

    fn html_timeline(&self, h: &mut String, axis: &Axis) {
        let lanes = lanes(self, axis);
        let height = TOP + lanes.len() as f64 * LANE_H + 10.0;
        let _ = writeln!(
            h,
            "<h2>Timeline</h2>\n<svg viewBox=\"0 0 {WIDTH} {height}\" \
             role=\"img\" aria-label=\"timeline: one lane per plan step\">"
        );
        // Axis ticks, labelled with the time since the run started.
        for k in 0..=4 {
            let x = AXIS_X0 + (AXIS_X1 - AXIS_X0) * k as f64 / 4.0;
            let ms = axis.span_ms() as u64 * k / 4;
            let anchor = match k {
                0 => "start",
                4 => "end",
                _ => "middle",
            };
            let _ = writeln!(
                h,
                "<line class=\"axis\" x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{}\"/>\
                 <text class=\"small\" x=\"{x:.1}\" y=\"{}\" text-anchor=\"{anchor}\">+{}</text>",
                TOP - 4.0,
                height - 10.0,
                TOP - 10.0,
                esc(&dur(ms))
            );
        }
        for lane in &lanes {
            let y = lane.y;
            let _ = writeln!(
                h,
                "<g class=\"lane\" data-step=\"{}\" data-status=\"{}\">\n\
                 <rect class=\"lane-bg\" x=\"{AXIS_X0}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>\n\
                 <text x=\"4\" y=\"{:.1}\">{} · {}</text>",
                esc(&lane.id),
                lane.status,
                y + 2.0,
                AXIS_X1 - AXIS_X0,
                LANE_H - 4.0,
                y + 16.0,
                esc(&lane.id),
                lane.status
            );
            if lane.one_way {
                let _ = writeln!(
                    h,
                    "<text class=\"small\" x=\"4\" y=\"{:.1}\">one-way: rollback stopped here</text>",
                    y + 30.0
                );
            }
            if let Some((x0, x1)) = lane.bar {
                // At least 2px wide, so an instant step still shows.
                let w = (x1 - x0).max(2.0);
                let x0 = x0.min(AXIS_X1 - w);
                let _ = writeln!(
                    h,
                    "<rect class=\"bar {}\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\">\
                     <title>{} {}</title></rect>",
                    lane.status.replace(' ', "_"),
                    y + 8.0,
                    LANE_H - 16.0,
                    esc(&lane.id),
                    lane.status
                );
                if lane.one_way {
                    let _ = writeln!(
                        h,
                        "<rect class=\"oneway-mark\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\">\
                         <title>one-way step: the rollback stopped here</title></rect>",
                        x0 - 2.0,
                        y + 5.0,
                        w + 4.0,
                        LANE_H - 10.0
                    );
                }
            }
            for (x, phase) in &lane.phases {
                let _ = writeln!(
                    h,
                    "<line class=\"phase\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\">\
                     <title>phase {phase}%</title></line>\
                     <text class=\"small\" x=\"{:.1}\" y=\"{:.1}\">{phase}%</text>",
                    y + 4.0,
                    y + LANE_H - 6.0,
                    x + 2.0,
                    y + LANE_H - 4.0
                );
            }
            h.push_str("</g>\n");
        }
        h.push_str("</svg>\n");
    }

    fn html_traffic(&self, h: &mut String, axis: &Axis) {
        if self.phases.is_empty() {
            return;
        }
        h.push_str("<h2>Traffic share</h2>\n");
        // Traffic steps in plan order, each with its phases.
        for step in &self.steps {
            let marks: Vec<&PhaseMark> = self.phases.iter().filter(|p| p.step == step.id).collect();
            if marks.is_empty() {
                continue;
            }
            let targets: BTreeSet<&str> = marks
                .iter()
                .flat_map(|p| p.split.iter().map(|(t, _)| t))
                .collect();
            let targets: Vec<&str> = targets.into_iter().collect();
            let colour = |t: &str| {
                let i = targets.iter().position(|x| *x == t).unwrap_or(0);
                TARGET_COLOURS[i % TARGET_COLOURS.len()]
            };
            let _ = write!(
                h,
                "<h3>Step <code>{}</code> ({})</h3>\n<p class=\"legend\">",
                esc(&step.id),
                esc(&step.action)
            );
            for t in &targets {
                let _ = write!(
                    h,
                    "<span><span class=\"swatch\" style=\"background:{}\"></span>{}</span>",
                    colour(t),
                    esc(t)
                );
            }
            h.push_str("</p>\n");
            let height = SHARE_H + 30.0;
            let _ = writeln!(
                h,
                "<svg viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" \
                 aria-label=\"traffic share per target for step {}\">\n\
                 <text class=\"small\" x=\"{:.1}\" y=\"14\" text-anchor=\"end\">100%</text>\
                 <text class=\"small\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">0%</text>",
                esc(&step.id),
                AXIS_X0 - 4.0,
                AXIS_X0 - 4.0,
                10.0 + SHARE_H
            );
            for (p, (x0, x1)) in marks.iter().zip(share_columns(self, &marks, axis)) {
                let w = x1 - x0;
                let total: u32 = p.split.iter().map(|(_, w)| w).sum::<u32>().max(1);
                let mut y = 10.0;
                for (t, weight) in p.split.iter() {
                    let seg = SHARE_H * weight as f64 / total as f64;
                    let _ = writeln!(
                        h,
                        "<rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{seg:.1}\" fill=\"{}\">\
                         <title>+{}: phase {}%: {} {weight}%</title></rect>",
                        colour(t),
                        esc(&dur(p.offset_ms.max(0) as u64)),
                        p.phase,
                        esc(t)
                    );
                    y += seg;
                }
                let _ = writeln!(
                    h,
                    "<text class=\"small\" x=\"{:.1}\" y=\"{:.1}\">{}%</text>",
                    x0 + 2.0,
                    SHARE_H + 24.0,
                    p.phase
                );
            }
            h.push_str("</svg>\n<table>\n<tr><th>at</th><th>phase</th><th>split</th></tr>\n");
            for p in &marks {
                let _ = writeln!(
                    h,
                    "<tr><td>+{}</td><td>{}%</td><td>{}</td></tr>",
                    esc(&dur(p.offset_ms.max(0) as u64)),
                    p.phase,
                    esc(&p.split.to_string())
                );
            }
            h.push_str("</table>\n");
        }
    }

    fn html_lag(&self, h: &mut String) {
        let lagged: Vec<&StepReport> = self.steps.iter().filter(|s| s.lag_ms.is_some()).collect();
        if lagged.is_empty() {
            return;
        }
        h.push_str(
            "<h2>Replication lag observed</h2>\n<table>\n\
             <tr><th>step</th><th>action</th><th>lag</th><th>RPO target</th><th>verdict</th></tr>\n",
        );
        for s in lagged {
            let lag = s.lag_ms.unwrap_or_default();
            let verdict = match self.rpo_target_ms {
                Some(t) if lag <= t => "<span class=\"met\">within</span>".to_string(),
                Some(t) => format!(
                    "<span class=\"missed\">over by {}</span>",
                    esc(&dur(lag - t))
                ),
                None => "no target".to_string(),
            };
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{verdict}</td></tr>",
                esc(&s.id),
                esc(&s.action),
                esc(&dur(lag)),
                esc(&opt_dur(self.rpo_target_ms))
            );
        }
        h.push_str("</table>\n");
    }

    fn html_steps(&self, h: &mut String) {
        h.push_str(
            "<h2>Steps</h2>\n<table>\n<tr><th>step</th><th>action</th><th>status</th>\
             <th>duration</th><th>attempts</th><th>error</th><th>compensation</th></tr>\n",
        );
        for s in &self.steps {
            let mut error = s.error.as_deref().map(esc).unwrap_or_default();
            if let Some(k) = &s.error_kind {
                let _ = write!(error, " <br>kind: <code>{}</code>", esc(k));
            }
            if let Some(r) = &s.request_id {
                let _ = write!(error, " <br>request id: <code>{}</code>", esc(r));
            }
            let status = if self.halted_by.as_deref() == Some(s.id.as_str()) {
                format!("{} (one-way: rollback stopped here)", s.status_label())
            } else {
                s.status_label()
            };
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{error}</td><td>{}</td></tr>",
                esc(&s.id),
                esc(&s.action),
                esc(&status),
                esc(&opt_dur(s.duration_ms)),
                s.attempts,
                esc(s.compensation.as_deref().unwrap_or_default())
            );
        }
        h.push_str("</table>\n<h2>Provenance</h2>\n<table>\n");
        let _ = writeln!(
            h,
            "<tr><th>run id</th><td class=\"mono\">{}</td></tr>\n\
             <tr><th>operator</th><td>{}</td></tr>\n\
             <tr><th>plan digest</th><td class=\"mono\">{}</td></tr>",
            esc(&self.run_id),
            esc(&self.operator),
            esc(&self.plan_digest)
        );
        match &self.audit_head {
            Some(a) => {
                let _ = writeln!(
                    h,
                    "<tr><th>audit head</th><td class=\"mono\">entry {} {}</td></tr>",
                    a.seq,
                    esc(&a.hash)
                );
            }
            None => h.push_str("<tr><th>audit head</th><td>not recorded</td></tr>\n"),
        }
        if self.resumed > 0 {
            let _ = writeln!(
                h,
                "<tr><th>resumed</th><td>{} time(s)</td></tr>",
                self.resumed
            );
        }
        h.push_str(
            "</table>\n<p>Keep the audit head elsewhere: <code>dr audit verify</code> checks the log still holds it.</p>\n",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TrafficSplit;
    use crate::journal::{Entry, Record};
    use chrono::TimeZone;

    fn t(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_700_000_000_000 + ms).unwrap()
    }

    fn step(id: &str, status: StepStatus, span: Option<(i64, i64)>) -> StepReport {
        StepReport {
            id: id.into(),
            action: "wait".into(),
            status,
            started_at: span.map(|(a, _)| t(a)),
            finished_at: span.map(|(_, b)| t(b)),
            duration_ms: span.map(|(a, b)| (b - a) as u64),
            attempts: u32::from(span.is_some()),
            detail: None,
            error: None,
            error_kind: None,
            request_id: None,
            lag_ms: None,
            divergence_bytes: None,
            compensation: None,
            compensation_status: None,
            done_by_operator: false,
            skipped_by_operator: false,
            attested: None,
        }
    }

    fn report(steps: Vec<StepReport>, end: i64) -> Report {
        Report {
            run_id: "r1".into(),
            plan: "p".into(),
            plan_digest: "abc".into(),
            status: "succeeded".into(),
            halted_by: None,
            decision: None,
            audit_head: None,
            started_at: t(0),
            finished_at: Some(t(end)),
            rto_ms: Some(end as u64),
            rto_basis: Some("run".into()),
            rpo_ms: None,
            rto_target_ms: Some(60_000),
            rpo_target_ms: None,
            rto_met: Some(true),
            rpo_met: None,
            failed_steps: Vec::new(),
            resumed: 0,
            operator: "op".into(),
            mode: crate::RunMode::Graceful,
            mode_changes: Vec::new(),
            notify_failed: Vec::new(),
            steps,
            timeline: Vec::new(),
            phases: Vec::new(),
            after: None,
        }
    }

    fn sample() -> Report {
        report(
            vec![
                step("a", StepStatus::Succeeded, Some((0, 1_000))),
                step("b", StepStatus::Succeeded, Some((500, 3_000))),
                step("c", StepStatus::Failed, Some((600, 2_000))),
                step("d", StepStatus::NotRun, None),
            ],
            4_000,
        )
    }

    #[test]
    fn one_lane_per_step_in_plan_order() {
        let r = sample();
        let l = lanes(&r, &Axis::of(&r));
        let ids: Vec<&str> = l.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
        assert_eq!(l[2].status, "failed");
        assert!(l.windows(2).all(|w| w[0].y < w[1].y), "{l:?}");
    }

    #[test]
    fn x_is_monotonic_in_time_and_spans_the_axis() {
        let r = sample();
        let axis = Axis::of(&r);
        assert_eq!(axis.x(t(0)), AXIS_X0);
        assert_eq!(axis.x(t(4_000)), AXIS_X1);
        let xs: Vec<f64> = (0..=40).map(|k| axis.x(t(k * 100))).collect();
        assert!(xs.windows(2).all(|w| w[0] < w[1]), "{xs:?}");
        // Outside the run, clamped to the axis.
        assert_eq!(axis.x(t(-5_000)), AXIS_X0);
        assert_eq!(axis.x(t(9_000)), AXIS_X1);
    }

    #[test]
    fn bars_stay_inside_the_axis_even_for_a_run_that_did_not_end() {
        let mut r = sample();
        r.finished_at = None;
        // The axis then ends at the latest step end.
        let axis = Axis::of(&r);
        assert_eq!(axis.span_ms(), 3_000);
        for lane in lanes(&r, &axis) {
            if let Some((x0, x1)) = lane.bar {
                assert!(AXIS_X0 <= x0 && x0 <= x1 && x1 <= AXIS_X1, "{lane:?}");
            }
        }
        // A run that took no time still has a usable axis.
        let r = report(vec![step("a", StepStatus::Succeeded, Some((0, 0)))], 0);
        let axis = Axis::of(&r);
        let l = lanes(&r, &axis);
        assert_eq!(l[0].bar, Some((AXIS_X0, AXIS_X0)));
    }

    #[test]
    fn overlapping_steps_each_get_their_own_lane() {
        let r = sample();
        let l = lanes(&r, &Axis::of(&r));
        // b (500..3000) and c (600..2000) overlap in time.
        let (b, c) = (l[1].bar.unwrap(), l[2].bar.unwrap());
        assert!(b.0 < c.1 && c.0 < b.1, "{b:?} {c:?}");
        assert!((l[2].y - l[1].y).abs() >= LANE_H);
        // Bars are where the steps ran.
        assert!(b.0 < c.0 && c.1 < b.1);
    }

    #[test]
    fn a_step_that_did_not_run_has_an_empty_lane_labelled_not_run() {
        let r = sample();
        let l = lanes(&r, &Axis::of(&r));
        assert_eq!(l[3].bar, None);
        assert_eq!(l[3].status, "not run");
        let html = r.to_html();
        assert!(html.contains("d · not run"), "{html}");
        assert_eq!(html.matches("class=\"lane\"").count(), 4);
        assert_eq!(html.matches("<rect class=\"bar ").count(), 3);
    }

    #[test]
    fn escapes_every_string_written_into_the_page() {
        assert_eq!(
            esc(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        let mut r = sample();
        r.steps[0].id = "<script>alert('x')</script>".into();
        r.steps[1].error = Some("bad \"quote\" & <b>".into());
        r.operator = "o'neil <root>".into();
        r.plan = "p&q".into();
        let html = r.to_html();
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(!html.contains("<root>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(html.contains("bad &quot;quote&quot; &amp; &lt;b&gt;"));
        assert!(html.contains("o&#39;neil &lt;root&gt;"));
    }

    #[test]
    fn a_halted_run_shows_the_one_way_step_decision_and_misses() {
        let mut r = sample();
        r.status = "halted".into();
        r.halted_by = Some("b".into());
        r.decision = Some("decide: dr resume".into());
        r.rto_ms = None;
        r.rpo_ms = Some(90_000);
        r.rpo_target_ms = Some(60_000);
        r.rpo_met = Some(false);
        r.steps[1].lag_ms = Some(90_000);
        let html = r.to_html();
        let l = lanes(&r, &Axis::of(&r));
        assert!(l[1].one_way && !l[0].one_way);
        assert!(html.contains("one-way: rollback stopped here"));
        assert!(html.contains("one-way step <code>b</code>"));
        assert!(html.contains("decide: dr resume"));
        assert!(html.contains("missed by 30s"), "{html}");
        assert!(html.contains("Replication lag observed"));
        assert!(html.contains("over by 30s"));
    }

    #[test]
    fn a_phase_of_a_failed_attempt_ends_when_the_next_thing_happened() {
        let mark = |at: i64, phase: u32| PhaseMark {
            step: "shift".into(),
            at: t(at),
            offset_ms: at,
            phase,
            split: TrafficSplit::from_pairs([("west", phase), ("east", 100 - phase)]),
        };
        let mut r = report(
            vec![step("shift", StepStatus::Succeeded, Some((5_000, 8_000)))],
            10_000,
        );
        r.phases = vec![mark(1_000, 50), mark(6_000, 50), mark(7_000, 100)];
        // First attempt: the gate failed at 1.5s; resumed at 5s.
        r.timeline = [1_000, 1_500, 5_000, 6_000, 7_000, 8_000]
            .into_iter()
            .map(|ms| crate::report::TimelineEntry {
                at: t(ms),
                offset_ms: ms,
                what: String::new(),
            })
            .collect();
        let axis = Axis::of(&r);
        let marks: Vec<&PhaseMark> = r.phases.iter().collect();
        let cols = share_columns(&r, &marks, &axis);
        assert_eq!(cols[0], (axis.x(t(1_000)), axis.x(t(1_500))));
        assert_eq!(cols[1], (axis.x(t(6_000)), axis.x(t(7_000))));
        assert_eq!(cols[2], (axis.x(t(7_000)), axis.x(t(8_000))));
        for (x0, x1) in cols {
            assert!(AXIS_X0 <= x0 && x0 < x1 && x1 <= AXIS_X1);
        }
    }

    #[test]
    fn phases_come_from_the_journal_and_mark_the_shift_lane() {
        let split = TrafficSplit::from_pairs([("east", 50u32), ("west", 50)]);
        let entries = vec![
            Entry {
                seq: 1,
                ts: t(0),
                record: Record::RunStarted {
                    run_id: "r".into(),
                    plan: "p".into(),
                    digest: "d".into(),
                    file: "p.toml".into(),
                    operator: "op".into(),
                    host: "h".into(),
                    rto_target_ms: None,
                    rpo_target_ms: None,
                    steps: vec!["shift".into()],
                    env: Default::default(),
                    mode: crate::RunMode::Graceful,
                    lock_token: None,
                },
            },
            Entry {
                seq: 2,
                ts: t(1_000),
                record: Record::PhaseApplied {
                    step: "shift".into(),
                    phase: 50,
                    split: split.clone(),
                },
            },
            Entry {
                seq: 3,
                ts: t(2_000),
                record: Record::PhaseApplied {
                    step: "shift".into(),
                    phase: 100,
                    split: TrafficSplit::all_to("west"),
                },
            },
        ];
        let r = Report::from_journal(&entries).unwrap();
        assert_eq!(r.phases.len(), 2);
        assert_eq!(r.phases[0].offset_ms, 1_000);
        assert_eq!(r.phases[0].split, split);
        assert_eq!(r.phases[1].phase, 100);
        let l = lanes(&r, &Axis::of(&r));
        assert_eq!(l[0].phases.len(), 2);
        assert!(l[0].phases[0].0 < l[0].phases[1].0);
        let html = r.to_html();
        assert!(html.contains("Traffic share"), "{html}");
        assert!(html.contains("east 50, west 50"), "{html}");
    }
}
