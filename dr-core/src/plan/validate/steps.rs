//! `[[steps]]`: decoding, ids, dependencies, cycles, and the typed steps.

use std::collections::HashMap;

use super::capabilities::Resources;
use super::{Use, Validator, key, with};
use crate::plan::graph::find_cycles;
use crate::plan::model::*;
use crate::plan::source::{Node, NodeValue, Seg};
use crate::{Kind, Registry, Settings};

/// Most retries a step may ask for: each is a call to a provider that has already
/// failed, and the run's retry budget (100 by default) is shared by every step.
const MAX_RETRIES: u32 = 100;

/// A step as decoded: its index, its common keys, and its action when that decoded.
pub(super) type Decl = Vec<(usize, StepCommon, Option<Decoded>)>;

pub(super) enum Decoded {
    Builtin(BuiltinStep),
    Provider(String, Settings),
}

/// Only the common keys of a step table (the rest belongs to the action).
fn common_json(item: &Node) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for e in item.table().unwrap_or(&[]) {
        if COMMON_KEYS.contains(&e.key.as_str()) {
            m.insert(e.key.clone(), e.node.to_json());
        }
    }
    serde_json::Value::Object(m)
}

impl Validator<'_> {
    /// Decodes every step table and records the resources each one uses.
    pub(super) fn decode_steps(
        &mut self,
        root: &Node,
        registry: &Registry,
        uses: &mut Vec<Use>,
    ) -> Decl {
        let mut steps: Vec<(usize, StepCommon, Option<Decoded>)> = Vec::new();
        match root.get("steps").map(|n| &n.value) {
            None => {}
            Some(NodeValue::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let path = [key("steps"), Seg::Index(i)];
                    if item.table().is_none() {
                        self.err(root, &path, false, "a step must be a table");
                        continue;
                    }
                    let Some(common) = self.decode::<StepCommon>(root, &path, common_json(item))
                    else {
                        continue;
                    };
                    self.check_common(root, &path, &common);
                    let decoded = self.step_action(root, &path, item, &common, registry, uses);
                    steps.push((i, common, decoded));
                }
            }
            Some(_) => self.err(
                root,
                &[key("steps")],
                false,
                "`steps` must be an array of tables (`[[steps]]`)",
            ),
        }
        steps
    }

    /// Step ids are unique and not empty; dependencies exist and form no cycle.
    pub(super) fn check_ids_and_dependencies(&mut self, root: &Node, steps: &Decl) {
        let mut first_seen: HashMap<&str, usize> = HashMap::new();
        for (i, c, _) in steps {
            if c.id.trim().is_empty() {
                self.err(
                    root,
                    &[key("steps"), Seg::Index(*i), key("id")],
                    false,
                    "step id must not be empty",
                );
            } else if let Some(bad) = c.id.chars().find(|ch| !is_id_char(*ch)) {
                self.err(
                    root,
                    &[key("steps"), Seg::Index(*i), key("id")],
                    false,
                    format!(
                        "step id `{}` contains {}: an id is one word without spaces, line \
                         breaks or control characters (it is typed on the command line, \
                         `--approve ID`; letters, digits, `.`, `_` and `-` are best)",
                        crate::text::line(&c.id),
                        describe_char(bad)
                    ),
                );
            }
            if let Some(prev) = first_seen.get(c.id.as_str()) {
                let line = self
                    .line_col(
                        root.locate(&[key("steps"), Seg::Index(*prev), key("id")])
                            .0
                            .start,
                    )
                    .0;
                self.err(
                    root,
                    &[key("steps"), Seg::Index(*i), key("id")],
                    false,
                    format!("duplicate step id `{}` (first used on line {line})", c.id),
                );
            } else {
                first_seen.insert(&c.id, *i);
            }
        }
        for (i, c, _) in steps {
            for (j, dep) in c.depends_on.iter().enumerate() {
                let at = [
                    key("steps"),
                    Seg::Index(*i),
                    key("depends_on"),
                    Seg::Index(j),
                ];
                if dep == &c.id {
                    self.err(
                        root,
                        &at,
                        false,
                        format!("step `{}` depends on itself", c.id),
                    );
                } else if !first_seen.contains_key(dep.as_str()) {
                    let hint = self.suggest(dep, first_seen.keys().copied());
                    self.err(
                        root,
                        &at,
                        false,
                        format!("depends on unknown step `{dep}`{hint}"),
                    );
                }
            }
        }
        let graph: Vec<(String, Vec<String>)> = steps
            .iter()
            .map(|(_, c, _)| (c.id.clone(), c.depends_on.clone()))
            .collect();
        for cycle in find_cycles(&graph) {
            let from = &cycle[0];
            let to = &cycle[1];
            if let Some((i, c, _)) = steps.iter().find(|(_, c, _)| &c.id == from) {
                let j = c.depends_on.iter().position(|d| d == to).unwrap_or(0);
                self.err(
                    root,
                    &[
                        key("steps"),
                        Seg::Index(*i),
                        key("depends_on"),
                        Seg::Index(j),
                    ],
                    false,
                    format!("dependency cycle: {}", cycle.join(" -> ")),
                );
            }
        }
    }

    /// The typed steps, after the checks that need the provider objects.
    pub(super) fn typed_steps(
        &mut self,
        root: &Node,
        registry: &Registry,
        steps: Decl,
        built: &[Resource],
        meta: Option<&PlanTable>,
    ) -> Vec<Step> {
        let resources = Resources::new(built);
        let mut out_steps = Vec::new();
        for (i, c, decoded) in steps {
            let path = vec![key("steps"), Seg::Index(i)];
            let Some(decoded) = decoded else { continue };
            let action = match decoded {
                Decoded::Builtin(b) => match self.check_builtin(root, &path, b, &resources, meta) {
                    Some(a) => a,
                    None => continue,
                },
                Decoded::Provider(name, settings) => {
                    match registry.build_action(&name, &settings) {
                        Some(Ok(action)) => StepAction::Provider { name, action },
                        Some(Err(e)) => {
                            self.config_error(root, &path, &e);
                            continue;
                        }
                        None => continue,
                    }
                }
            };
            let line = self.line_col(root.locate(&path).0.start).0;
            out_steps.push(Step {
                id: c.id,
                depends_on: c.depends_on,
                timeout: c.timeout.map(|d| d.0),
                retries: c.retries,
                on_failure: c.on_failure.unwrap_or_default(),
                ungraceful: c.ungraceful,
                one_way: c.one_way.unwrap_or_else(|| action.one_way_by_default()),
                action,
                line,
            });
        }
        out_steps
    }

    fn step_action(
        &mut self,
        root: &Node,
        path: &[Seg],
        item: &Node,
        c: &StepCommon,
        registry: &Registry,
        uses: &mut Vec<Use>,
    ) -> Option<Decoded> {
        let action_path = with(path, &[key("action")]);
        if let Some(gate) = item.get("gate")
            && gate.table().is_some()
            && gate.get("probe").is_none()
        {
            self.err(
                root,
                &with(path, &[key("gate")]),
                false,
                "a gate needs `probe = \"..\"` (the probe resource that must be healthy), \
                 and optionally `times` or `healthy_for`",
            );
            return None;
        }
        if BUILTIN_ACTIONS.contains(&c.action.as_str()) {
            let mut value = item.to_json();
            if let Some(m) = value.as_object_mut() {
                for k in COMMON_KEYS.iter().filter(|k| **k != "action") {
                    m.remove(*k);
                }
            }
            let b: BuiltinStep = self.decode(root, path, value)?;
            let mut use_ = |name: &str, kind: Kind, k: &str| {
                uses.push(Use {
                    resource: name.to_string(),
                    kind,
                    at: with(path, &[key(k)]),
                })
            };
            match &b {
                BuiltinStep::TrafficSet { router, .. }
                | BuiltinStep::TrafficShift {
                    router, gate: None, ..
                } => use_(router, Kind::Router, "router"),
                BuiltinStep::TrafficShift {
                    router,
                    gate: Some(g),
                    ..
                } => {
                    use_(router, Kind::Router, "router");
                    uses.push(Use {
                        resource: g.probe.clone(),
                        kind: Kind::Probe,
                        at: with(path, &[key("gate"), key("probe")]),
                    });
                }
                BuiltinStep::ProbeWait(p) => use_(&p.probe, Kind::Probe, "probe"),
                BuiltinStep::ReplicationCheck { replicator, .. }
                | BuiltinStep::ReplicationStop { replicator }
                | BuiltinStep::ReplicationReverse { replicator } => {
                    use_(replicator, Kind::Replicator, "replicator")
                }
                BuiltinStep::DatastorePromote {
                    store, replicator, ..
                } => {
                    use_(store, Kind::Store, "store");
                    if let Some(r) = replicator {
                        use_(r, Kind::Replicator, "replicator");
                    }
                }
                BuiltinStep::DatastoreFence { store } | BuiltinStep::DatastoreFlush { store } => {
                    use_(store, Kind::Store, "store")
                }
                _ => {}
            }
            Some(Decoded::Builtin(b))
        } else if registry.has_action(&c.action) {
            let mut values = match item.to_json() {
                serde_json::Value::Object(m) => m,
                _ => serde_json::Map::new(),
            };
            for k in COMMON_KEYS {
                values.remove(*k);
            }
            Some(Decoded::Provider(
                c.action.clone(),
                Settings::new(&c.id, &c.action, values),
            ))
        } else if let Some(feature) = registry.compiled_out_feature(&c.action) {
            self.err(
                root,
                &action_path,
                false,
                super::compiled_out("action", &c.action, feature),
            );
            None
        } else {
            let mut known: Vec<String> = BUILTIN_ACTIONS.iter().map(|s| s.to_string()).collect();
            known.extend(registry.actions());
            let hint = self.suggest(&c.action, known.iter().map(String::as_str));
            self.err(
                root,
                &action_path,
                false,
                format!("unknown action `{}`{hint}", c.action),
            );
            None
        }
    }

    /// Bounds on the keys of a step: `retries`, `timeout`.
    fn check_common(&mut self, root: &Node, path: &[Seg], c: &StepCommon) {
        if c.timeout.is_some_and(|t| t.0.is_zero()) {
            self.err(
                root,
                &with(path, &[key("timeout")]),
                false,
                "timeout must be more than 0 (a step with no time to run always fails; \
                 leave `timeout` out for no deadline)",
            );
        }
        if let Some(n) = c.retries
            && n > MAX_RETRIES
        {
            self.err(
                root,
                &with(path, &[key("retries")]),
                false,
                format!("retries must be at most {MAX_RETRIES}, not {n}"),
            );
        }
    }
}

/// Characters a step id may hold: anything but white space and control
/// characters (ids are typed on command lines and shown in one-line events).
fn is_id_char(c: char) -> bool {
    !c.is_whitespace() && !crate::text::is_unsafe(c)
}

fn describe_char(c: char) -> String {
    super::describe(c)
}
