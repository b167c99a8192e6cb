//! Static time: the least time each step takes, the critical path, the RTO.

use std::collections::HashMap;
use std::time::Duration;

use super::Out;
use crate::format_duration;
use crate::plan::{Gate, Plan, Step, StepAction};

// ---------------------------------------------------------------------------

/// The least time one gate hold takes: `times` consecutive healthy looks
/// `every` apart, and healthy for `healthy_for`.
fn gate_min(g: &Gate) -> Duration {
    let looks = g.times.unwrap_or(1).max(1) - 1;
    g.every
        .saturating_mul(looks)
        .max(g.healthy_for.unwrap_or_default())
}

/// The least time a step takes, and how that adds up ("" when it takes no
/// time the plan can know).
fn step_min(step: &Step) -> (Duration, String) {
    match &step.action {
        StepAction::Wait { duration } => {
            (*duration, format!("wait {}", format_duration(*duration)))
        }
        StepAction::ProbeWait(g) if !gate_min(g).is_zero() => (
            gate_min(g),
            format!("probe.wait {}", format_duration(gate_min(g))),
        ),
        StepAction::TrafficShift {
            phases,
            gate: Some(g),
            ..
        } if !gate_min(g).is_zero() => {
            let per = gate_min(g);
            let n = u32::try_from(phases.len()).unwrap_or(u32::MAX);
            (
                per.saturating_mul(n),
                format!(
                    "{} phases × gate {} = {}",
                    n,
                    format_duration(per),
                    format_duration(per.saturating_mul(n))
                ),
            )
        }
        _ => (Duration::ZERO, String::new()),
    }
}

/// `step_timeout` and `rto` findings.
pub(super) fn check_time(plan: &Plan, out: &mut Out<'_>) {
    for step in &plan.steps {
        let (min, how) = step_min(step);
        if let Some(t) = step.timeout
            && t < min
        {
            out.add(
                "step_timeout",
                None,
                Some(&step.id),
                false,
                format!(
                    "step `{}` cannot finish within its timeout {}: it needs at least {} ({how})",
                    step.id,
                    format_duration(t),
                    format_duration(min)
                ),
            );
        }
        let gate = match &step.action {
            StepAction::TrafficShift { gate: Some(g), .. } => Some(g),
            _ => None,
        };
        if let Some(g) = gate
            && let Some(t) = g.timeout
            && t < gate_min(g)
        {
            out.add("step_timeout", Some(&g.probe), Some(&step.id), false, format!(
                "the gate of step `{}` cannot pass within its timeout {}: it needs at least {} per phase",
                step.id, format_duration(t), format_duration(gate_min(g))
            ));
        }
    }
    // The longest path of least times through the DAG (validation ruled out cycles).
    let mut finish: HashMap<&str, (Duration, Vec<&str>)> = HashMap::new();
    let mut pending: Vec<&Step> = plan.steps.iter().collect();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|s| {
            if !s.depends_on.iter().all(|d| finish.contains_key(d.as_str())) {
                return true;
            }
            let (start, mut path) = s
                .depends_on
                .iter()
                .filter_map(|d| finish.get(d.as_str()))
                .max_by_key(|(t, _)| *t)
                .cloned()
                .unwrap_or_default();
            path.push(s.id.as_str());
            finish.insert(s.id.as_str(), (start.saturating_add(step_min(s).0), path));
            false
        });
        if pending.len() == before {
            break;
        }
    }
    let (total, path) = finish
        .values()
        .max_by_key(|(t, _)| *t)
        .cloned()
        .unwrap_or_default();
    let parts: Vec<String> = path
        .iter()
        .filter_map(|id| plan.step(id))
        .filter_map(|s| {
            let (d, how) = step_min(s);
            (!d.is_zero()).then(|| format!("`{}` {how}", s.id))
        })
        .collect();
    let arithmetic = if parts.is_empty() {
        "no waits or gates".to_string()
    } else if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("{} = {}", parts.join(" + "), format_duration(total))
    };
    let route = path.join(" → ");
    match plan.rto {
        None => out.add("rto", None, None, true, format!(
            "no rto set; the critical path ({route}) takes at least {}: {arithmetic}",
            format_duration(total)
        )),
        Some(rto) if total > rto => out.add("rto", None, None, false, format!(
            "the plan cannot finish within rto {}: its critical path ({route}) takes at least {arithmetic}, {} over",
            format_duration(rto), format_duration(total - rto)
        )),
        Some(rto) => out.add("rto", None, None, true, format!(
            "the critical path ({route}) takes at least {} of rto {}: {arithmetic}",
            format_duration(total), format_duration(rto)
        )),
    }
}
