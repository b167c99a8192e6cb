//! Child plans (`action = "plan.run"`, `plan = "data-tier.toml"`): read
//! relative to the parent, validated as plans of their own (their errors name
//! their file), and merged into the parent: one plan, so one run, one lock,
//! one journal and one report, and resume, rollback and one-way doors work
//! across the boundary as they do within a plan.
//!
//! The merge: the child's steps become the parent's, with ids prefixed by the
//! `plan.run` step's id (`data-tier/promote`); the child's first steps (those
//! that depend on nothing) depend on what the `plan.run` step depends on; the
//! `plan.run` step itself depends on every child step, so the parent's steps
//! that depend on it run once the whole child ended. The child's resources
//! join the parent's: one of the same name must be the same resource (same
//! provider and settings). Only the child's steps and resources count: its
//! `[plan]` table (name, targets, safety, watch, after, mode) is the parent's
//! business.

use std::path::{Component, Path, PathBuf};

use super::model::{Plan, PlanIndex, StepAction};
use super::source::{Diagnostics, Node};
use super::validate::Validator;
use crate::{LoadOptions, Registry};

/// How deep child plans may nest (a guard; cycles are refused on their own).
const MAX_DEPTH: usize = 16;

/// The file name of the child `rel` of the plan file `parent`: relative to
/// the parent's directory, `.` and `..` resolved lexically.
pub(crate) fn child_name(parent: &str, rel: &str) -> String {
    let base = Path::new(parent).parent().unwrap_or(Path::new(""));
    let mut out = PathBuf::new();
    for c in base.join(rel).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out.display().to_string()
}

/// Replaces every `plan.run` step of `plan` by its child's steps and itself
/// (see the module docs); problems are errors of `v` at the step's `plan` key
/// (or the child's own diagnostics). `chain`: the files of the plans that
/// include this one, outermost first.
pub(super) fn expand(
    plan: &mut Plan,
    v: &mut Validator<'_>,
    root: &Node,
    registry: &Registry,
    opts: &LoadOptions,
    chain: &[String],
) {
    if !plan
        .steps
        .iter()
        .any(|s| matches!(s.action, StepAction::PlanRun { .. }))
    {
        return;
    }
    let mut chain = chain.to_vec();
    chain.push(plan.source.name.clone());
    let steps = std::mem::take(&mut plan.steps);
    let mut out = Vec::with_capacity(steps.len());
    for (index, mut step) in steps.into_iter().enumerate() {
        let StepAction::PlanRun { plan: rel, .. } = &step.action else {
            out.push(step);
            continue;
        };
        let name = child_name(&plan.source.name, rel);
        if let Some(at) = chain.iter().position(|c| *c == name) {
            let mut cycle = chain[at..].to_vec();
            cycle.push(name);
            v.step_error(
                root,
                index,
                "plan",
                format!("child plans form a cycle: {}", cycle.join(" -> ")),
            );
            continue;
        }
        if chain.len() > MAX_DEPTH {
            v.step_error(
                root,
                index,
                "plan",
                format!("child plans nest deeper than {MAX_DEPTH} levels"),
            );
            continue;
        }
        let text = match opts.read_child(&name) {
            Ok(t) => t,
            Err(e) => {
                v.step_error(
                    root,
                    index,
                    "plan",
                    format!("cannot read child plan `{name}`: {e}"),
                );
                continue;
            }
        };
        let child = match Plan::parse_within(&name, &text, registry, opts, &chain) {
            Ok(c) => c,
            Err(Diagnostics(ds)) => {
                v.step_error(
                    root,
                    index,
                    "plan",
                    format!(
                        "child plan `{name}` is not valid ({} problem(s), each named with its file)",
                        ds.len()
                    ),
                );
                v.errors.extend(ds);
                continue;
            }
        };
        let prefix = format!("{}/", step.id);
        if let Err(msg) = merge_resources(plan, &child) {
            v.step_error(root, index, "plan", msg);
            continue;
        }
        let mut ids = Vec::with_capacity(child.steps.len());
        for mut cs in child.steps {
            cs.id = format!("{prefix}{}", cs.id);
            if cs.depends_on.is_empty() {
                cs.depends_on = step.depends_on.clone();
            } else {
                for d in &mut cs.depends_on {
                    *d = format!("{prefix}{d}");
                }
            }
            if let StepAction::PlanRun { steps, .. } = &mut cs.action {
                for s in steps {
                    *s = format!("{prefix}{s}");
                }
            }
            ids.push(cs.id.clone());
            out.push(cs);
        }
        step.depends_on.extend(ids.iter().cloned());
        if let StepAction::PlanRun { steps, .. } = &mut step.action {
            *steps = ids;
        }
        out.push(step);
        plan.redactor = plan.redactor.merged(&child.redactor);
        for (k, val) in child.env_values {
            if !plan.env_values.iter().any(|(n, _)| *n == k) {
                plan.env_values.push((k, val));
            }
        }
        plan.unset_env.extend(child.unset_env);
        plan.warnings.extend(child.warnings);
        plan.children.push(child.source);
        plan.children.extend(child.children);
    }
    let mut seen = std::collections::HashSet::new();
    for s in &out {
        if !seen.insert(s.id.clone()) {
            let index = plan_index_of(root, &s.id).unwrap_or(0);
            v.step_error(
                root,
                index,
                "id",
                format!(
                    "step id `{}` is used twice once child plans are merged (a child step's \
                     id is prefixed with its `plan.run` step's id and `/`)",
                    s.id
                ),
            );
        }
    }
    plan.steps = out;
    plan.index = PlanIndex::new(&plan.steps, &plan.resources);
}

/// The index of the parent's step `id` in its file, when it is one of them.
fn plan_index_of(root: &Node, id: &str) -> Option<usize> {
    let steps = root.get("steps")?;
    let super::source::NodeValue::Array(items) = &steps.value else {
        return None;
    };
    items.iter().position(|item| {
        item.get("id")
            .is_some_and(|n| matches!(&n.value, super::source::NodeValue::Str(s) if s == id))
    })
}

/// Adds the child's resources to the parent's; one of the same name must be
/// the same (provider and settings), and then serves in every kind either
/// plan uses it as.
fn merge_resources(parent: &mut Plan, child: &Plan) -> Result<(), String> {
    for r in &child.resources {
        match parent.resources.iter_mut().find(|p| p.name == r.name) {
            None => parent.resources.push(r.clone()),
            Some(p) => {
                if p.provider != r.provider || p.settings.values() != r.settings.values() {
                    return Err(format!(
                        "child plan `{}` has a resource `{}` that differs from this plan's \
                         (`{}` here, `{}` there, or other settings): one name, one resource \
                         in a run; rename one of them",
                        child.source.name, r.name, p.provider, r.provider
                    ));
                }
                p.router = p.router.take().or_else(|| r.router.clone());
                p.probe = p.probe.take().or_else(|| r.probe.clone());
                p.store = p.store.take().or_else(|| r.store.clone());
                p.replicator = p.replicator.take().or_else(|| r.replicator.clone());
                for k in &r.kinds {
                    if !p.kinds.contains(k) {
                        p.kinds.push(*k);
                    }
                }
                for (t, probe) in &r.health {
                    p.health.entry(t.clone()).or_insert_with(|| probe.clone());
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::child_name;

    #[test]
    fn child_names_are_relative_to_the_parent_and_resolved_lexically() {
        assert_eq!(
            child_name("plans/p.toml", "tiers/data.toml"),
            "plans/tiers/data.toml"
        );
        assert_eq!(child_name("plans/p.toml", "./data.toml"), "plans/data.toml");
        assert_eq!(
            child_name("plans/tiers/d.toml", "../p.toml"),
            "plans/p.toml"
        );
        assert_eq!(child_name("p.toml", "../x/p.toml"), "../x/p.toml");
        assert_eq!(child_name("/etc/dr/p.toml", "c.toml"), "/etc/dr/c.toml");
    }
}
