//! Time: the least time each step takes, the critical path, the RTO; with
//! the plan's earlier runs, a forecast from what they measured.

use std::collections::HashMap;
use std::time::Duration;

use super::Out;
use super::history::{History, PERCENTILE};
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
pub(super) fn check_time(plan: &Plan, history: &History, out: &mut Out<'_>) {
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
    let (total, path) = critical_path(plan, |s| step_min(s).0);
    if !history.runs.is_empty() {
        return forecast(plan, history, total, out);
    }
    let mut parts: Vec<String> = path
        .iter()
        .filter_map(|s| {
            let (d, how) = step_min(s);
            (!d.is_zero()).then(|| format!("`{}` {how}", s.id))
        })
        .collect();
    summarise(&mut parts, "term");
    let arithmetic = if parts.is_empty() {
        "no waits or gates".to_string()
    } else if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("{} = {}", parts.join(" + "), format_duration(total))
    };
    let route = route_of(&path);
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

/// `a → b → c`, summarised when long.
fn route_of(path: &[&Step]) -> String {
    let mut ids: Vec<String> = path.iter().map(|s| s.id.clone()).collect();
    summarise(&mut ids, "step");
    ids.join(" → ")
}

/// The `rto` finding from the plan's earlier runs: each step takes the
/// [`PERCENTILE`]th percentile of its measured times (at least its static
/// least time; the static least time alone when it never succeeded), and
/// the plan is not ready when the critical path of those exceeds `rto`.
fn forecast(plan: &Plan, history: &History, bound: Duration, out: &mut Out<'_>) {
    let weight = |s: &Step| {
        let least = step_min(s).0;
        history.step(&s.id).map_or(least, |t| t.max(least))
    };
    let (total, path) = critical_path(plan, weight);
    let mut parts: Vec<String> = path
        .iter()
        .filter_map(|s| {
            let d = weight(s);
            (!d.is_zero()).then(|| format!("`{}` {}", s.id, format_duration(d)))
        })
        .collect();
    summarise(&mut parts, "term");
    let route = route_of(&path);
    let runs = &history.runs;
    let source = format!(
        "forecast: p{PERCENTILE} of each step's time in the {} earlier run{} of this plan, {}{}",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
        runs[0],
        if runs.len() > 1 {
            format!(" … {}", runs[runs.len() - 1])
        } else {
            String::new()
        },
    );
    let sum = if parts.len() > 1 {
        format!(": {} = {}", parts.join(" + "), format_duration(total))
    } else {
        String::new()
    };
    let bound = format!("the static lower bound is {}", format_duration(bound));
    match plan.rto {
        None => out.add("rto", None, None, true, format!(
            "no rto set; the critical path ({route}) takes about {} ({source}){sum}; {bound}",
            format_duration(total)
        )),
        Some(rto) if total > rto => out.add("rto", None, None, false, format!(
            "the plan is forecast not to finish within rto {}: its critical path ({route}) takes about {}, {} over ({source}){sum}; {bound}",
            format_duration(rto), format_duration(total), format_duration(total - rto)
        )),
        Some(rto) => out.add("rto", None, None, true, format!(
            "the critical path ({route}) takes about {} of rto {} ({source}){sum}; {bound}",
            format_duration(total), format_duration(rto)
        )),
    }
}

/// The most items a path or a sum in a finding lists before it is summarised.
const MAX_LISTED: usize = 8;

/// Keeps the first and last few of a long list, with how many were left out
/// between them (`a → b → c → … 1,994 more steps … → y → z`).
fn summarise(items: &mut Vec<String>, what: &str) {
    if items.len() <= MAX_LISTED {
        return;
    }
    let head = MAX_LISTED / 2;
    let tail = MAX_LISTED - head - 1;
    let left_out = items.len() - head - tail;
    let last: Vec<String> = items.split_off(items.len() - tail);
    items.truncate(head);
    items.push(format!("… {left_out} more {what}s …"));
    items.extend(last);
}

/// The longest path through the DAG with each step taking `weight` of it
/// (validation ruled out cycles), in steps order from the first. Linear in
/// steps and edges: Kahn's topological order, and for each step only its
/// best predecessor.
fn critical_path(plan: &Plan, weight: impl Fn(&Step) -> Duration) -> (Duration, Vec<&Step>) {
    let n = plan.steps.len();
    let index: HashMap<&str, usize> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut waiting = vec![0usize; n];
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, s) in plan.steps.iter().enumerate() {
        for d in &s.depends_on {
            if let Some(&j) = index.get(d.as_str()) {
                waiting[i] += 1;
                next[j].push(i);
            }
        }
    }
    let mut finish = vec![Duration::ZERO; n];
    let mut start = vec![Duration::ZERO; n];
    let mut best: Vec<Option<usize>> = vec![None; n];
    let mut ready: Vec<usize> = (0..n).filter(|i| waiting[*i] == 0).collect();
    while let Some(i) = ready.pop() {
        finish[i] = start[i].saturating_add(weight(&plan.steps[i]));
        for &k in &next[i] {
            if best[k].is_none() || finish[i] > start[k] {
                start[k] = finish[i];
                best[k] = Some(i);
            }
            waiting[k] -= 1;
            if waiting[k] == 0 {
                ready.push(k);
            }
        }
    }
    let Some(last) = (0..n).max_by_key(|i| (finish[*i], std::cmp::Reverse(*i))) else {
        return (Duration::ZERO, Vec::new());
    };
    let mut path = vec![&plan.steps[last]];
    let mut at = last;
    while let Some(p) = best[at] {
        path.push(&plan.steps[p]);
        at = p;
    }
    path.reverse();
    (finish[last], path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LoadOptions, Registry};

    fn chain(n: usize, reversed: bool) -> Plan {
        let mut t = String::from("[plan]\nname = \"chain\"\nrto = \"1h\"\n");
        let mut ids: Vec<usize> = (0..n).collect();
        if reversed {
            ids.reverse();
        }
        for i in ids {
            t.push_str(&format!(
                "[[steps]]\nid = \"s{i}\"\naction = \"wait\"\nduration = \"1s\"\n"
            ));
            if i > 0 {
                t.push_str(&format!("depends_on = [\"s{}\"]\n", i - 1));
            }
        }
        Plan::parse(
            "chain.toml",
            &t,
            &Registry::with_builtins(),
            &LoadOptions::default(),
        )
        .unwrap()
    }

    fn rto_finding(plan: &Plan) -> String {
        let mut out = Out {
            plan,
            findings: Vec::new(),
        };
        check_time(plan, &History::default(), &mut out);
        out.findings
            .into_iter()
            .find(|f| f.check == "rto")
            .unwrap()
            .message
    }

    #[test]
    fn a_long_critical_path_is_summarised_not_printed_whole() {
        let plan = chain(5_000, true);
        let msg = rto_finding(&plan);
        assert!(msg.len() < 1_000, "{} bytes: {msg}", msg.len());
        assert!(
            msg.contains("(s0 → s1 → s2 → s3 → … 4993 more steps … → s4997 → s4998 → s4999)"),
            "{msg}"
        );
        assert!(msg.contains("… 4993 more terms …"), "{msg}");
        assert!(msg.contains("= 1h23m20s, 23m20s over"), "{msg}");
    }

    #[test]
    fn the_critical_path_follows_the_slowest_predecessor() {
        let t = "[plan]\nname = \"d\"\n\
            [[steps]]\nid = \"a\"\naction = \"wait\"\nduration = \"1s\"\n\
            [[steps]]\nid = \"slow\"\naction = \"wait\"\nduration = \"5s\"\ndepends_on = [\"a\"]\n\
            [[steps]]\nid = \"fast\"\naction = \"wait\"\nduration = \"2s\"\ndepends_on = [\"a\"]\n\
            [[steps]]\nid = \"z\"\naction = \"wait\"\nduration = \"1s\"\ndepends_on = [\"fast\", \"slow\"]\n";
        let plan = Plan::parse(
            "d.toml",
            t,
            &Registry::with_builtins(),
            &LoadOptions::default(),
        )
        .unwrap();
        let (total, path) = critical_path(&plan, |s| step_min(s).0);
        assert_eq!(total, Duration::from_secs(7));
        let ids: Vec<&str> = path.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["a", "slow", "z"]);
        assert!(rto_finding(&plan).contains("(a → slow → z)"));
    }
}
