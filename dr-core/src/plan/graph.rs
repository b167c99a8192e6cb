//! The step DAG: cycles, Mermaid.

use std::collections::{HashMap, HashSet};

use super::model::{Plan, StepAction};

/// Every dependency cycle, each as `[a, b, .., a]` where `a` depends on `b`.
/// Each cycle is reported once, starting at its first step in file order.
pub(crate) fn find_cycles(graph: &[(String, Vec<String>)]) -> Vec<Vec<String>> {
    let index: HashMap<&str, usize> = graph
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id.as_str(), i))
        .collect();
    let mut color = vec![0u8; graph.len()]; // 0 new, 1 on stack, 2 done
    // Depth-first, iteratively (a chain of 100,000 steps listed last-first must
    // not overflow the stack): each frame is a step and its next dependency.
    let mut stack: Vec<(usize, usize)> = Vec::new();
    let mut seen: HashSet<Vec<usize>> = HashSet::new();
    let mut cycles = Vec::new();

    for root in 0..graph.len() {
        if color[root] != 0 {
            continue;
        }
        color[root] = 1;
        stack.push((root, 0));
        while let Some(&mut (n, ref mut next)) = stack.last_mut() {
            let Some(dep) = graph[n].1.get(*next) else {
                stack.pop();
                color[n] = 2;
                continue;
            };
            *next += 1;
            let Some(&m) = index.get(dep.as_str()) else {
                continue;
            };
            if m == n {
                continue; // self-dependency is reported on its own
            }
            if color[m] == 1 {
                let pos = stack.iter().position(|(x, _)| *x == m).unwrap_or(0);
                let mut cyc: Vec<usize> = stack[pos..].iter().map(|(x, _)| *x).collect();
                // rotate so the cycle starts at its first step in file order
                let min_pos = cyc
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, v)| **v)
                    .map(|(i, _)| i)
                    .unwrap_or(0);
                cyc.rotate_left(min_pos);
                if seen.insert(cyc.clone()) {
                    let mut names: Vec<String> = cyc.iter().map(|i| graph[*i].0.clone()).collect();
                    names.push(names[0].clone());
                    cycles.push(names);
                }
            } else if color[m] == 0 {
                color[m] = 1;
                stack.push((m, 0));
            }
        }
    }
    cycles
}

impl Plan {
    /// The step DAG as a Mermaid flowchart (`dr graph`).
    pub fn mermaid(&self) -> String {
        // Node ids by position: unique whatever the step ids (`a-b` and `a_b`
        // are two steps); the ids themselves only appear, escaped, in labels.
        let index: std::collections::HashMap<&str, usize> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        let mut out = String::from("flowchart TD\n");
        for (i, s) in self.steps.iter().enumerate() {
            let detail = match &s.action {
                StepAction::TrafficShift { to, phases, .. } => {
                    format!(
                        "traffic.shift → {to} {}",
                        phases
                            .iter()
                            .map(|p| format!("{p}%"))
                            .collect::<Vec<_>>()
                            .join("/")
                    )
                }
                a => match a.resource() {
                    Some(r) => format!("{} {r}", a.name()),
                    None => a.name().to_string(),
                },
            };
            let door = if s.one_way { " (one-way)" } else { "" };
            out.push_str(&format!(
                "    s{i}[\"{}<br/>{}{door}\"]\n",
                mermaid_text(&s.id),
                mermaid_text(&detail)
            ));
        }
        for (i, s) in self.steps.iter().enumerate() {
            for d in &s.depends_on {
                if let Some(j) = index.get(d.as_str()) {
                    out.push_str(&format!("    s{j} --> s{i}\n"));
                }
            }
        }
        out
    }
}

/// Text for inside a quoted Mermaid label: markup and quotes as entity codes,
/// line breaks as spaces, so a step id cannot break or inject into the graph.
fn mermaid_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '#' => out.push_str("#35;"),
            '\n' | '\r' | '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(edges: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        edges
            .iter()
            .map(|(a, d)| (a.to_string(), d.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn finds_each_cycle_once() {
        let c = find_cycles(&g(&[
            ("a", &["c"]),
            ("b", &["a"]),
            ("c", &["b"]),
            ("d", &[]),
        ]));
        assert_eq!(c, vec![vec!["a", "c", "b", "a"]]);
        assert!(find_cycles(&g(&[("a", &[]), ("b", &["a"]), ("c", &["a", "b"])])).is_empty());
    }

    #[test]
    fn a_long_chain_listed_last_first_does_not_overflow_the_stack() {
        let n = 200_000;
        let graph: Vec<(String, Vec<String>)> = (0..n)
            .rev()
            .map(|i| {
                let deps = if i > 0 {
                    vec![format!("s{}", i - 1)]
                } else {
                    vec![]
                };
                (format!("s{i}"), deps)
            })
            .collect();
        assert!(find_cycles(&graph).is_empty());
        let mut cyclic = graph;
        cyclic.last_mut().unwrap().1.push(format!("s{}", n - 1));
        let c = find_cycles(&cyclic);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].len(), n + 1);
        assert_eq!(c[0][0], format!("s{}", n - 1));
    }

    #[test]
    fn labels_cannot_break_out_of_their_quotes() {
        assert_eq!(
            mermaid_text("x<br/>\"y\"&#\nz"),
            "x#lt;br/#gt;#quot;y#quot;#amp;#35; z"
        );
    }
}
