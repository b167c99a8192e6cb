//! "One-way doors" at validation: a rollback that a one-way step would cut short.

use std::collections::HashMap;

use super::model::{OnFailure, Step, StepAction};

/// For every traffic step that rolls back on failure and runs after a one-way
/// step in DAG order (the one-way step is one of its ancestors): its index and a
/// warning. Such a rollback can only restore traffic up to the one-way step, and
/// the run then ends `halted`, not `rolled_back`.
pub(crate) fn rollback_warnings(steps: &[Step]) -> Vec<(usize, String)> {
    let index: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    // The nearest one-way ancestor of each step, computed in one pass over a
    // topological order (validation has already rejected cycles).
    let mut memo: Vec<Option<Option<usize>>> = vec![None; steps.len()];
    let mut out = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let is_traffic = matches!(
            s.action,
            StepAction::TrafficSet { .. } | StepAction::TrafficShift { .. }
        );
        if !is_traffic || s.on_failure != OnFailure::Rollback {
            continue;
        }
        if let Some(j) = one_way_ancestor(i, steps, &index, &mut memo) {
            let door = &steps[j];
            out.push((
                i,
                format!(
                    "step `{}` rolls back on failure, but it runs after the one-way step `{}` ({}): \
                     a rollback restores traffic only up to `{}` and the run ends `halted`, not \
                     `rolled_back` (see \"One-way doors\" in docs/plans.md)",
                    s.id,
                    door.id,
                    door.action.name(),
                    door.id
                ),
            ));
        }
    }
    out
}

fn one_way_ancestor(
    i: usize,
    steps: &[Step],
    index: &HashMap<&str, usize>,
    memo: &mut [Option<Option<usize>>],
) -> Option<usize> {
    // Iterative DFS: a deep chain must not overflow the stack.
    let mut stack = vec![(i, false)];
    while let Some((n, expanded)) = stack.pop() {
        if memo[n].is_some() {
            continue;
        }
        let deps: Vec<usize> = steps[n]
            .depends_on
            .iter()
            .filter_map(|d| index.get(d.as_str()).copied())
            .collect();
        if !expanded {
            stack.push((n, true));
            for &d in &deps {
                if memo[d].is_none() {
                    stack.push((d, false));
                }
            }
            continue;
        }
        let found = deps.iter().find_map(|&d| {
            if steps[d].one_way {
                Some(d)
            } else {
                memo[d].flatten()
            }
        });
        memo[n] = Some(found);
    }
    memo[i].flatten()
}
