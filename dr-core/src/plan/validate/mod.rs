//! Validation: every problem in a decoded plan tree, before anything runs.
//!
//! [`Validator::plan`] checks the tree in stages, each in its own file:
//! - `decode.rs`: serde decoding, with errors located at the offending key;
//! - `resources.rs`: `[resources.*]`: providers, uses of resources by role,
//!   building the provider objects, `health` links;
//! - `steps.rs`: `[[steps]]`: decoding, ids, dependencies, cycles, the typed steps;
//! - `capabilities.rs`: what each built-in step asks of its resources'
//!   providers (targets, weights, scopes, store and replicator operations);
//! - `watch.rs`: `[plan.watch]` (probes, durations, quorum, threshold).
//! - `after.rs`: `[plan.after]` (probes, `for`, `every`).

mod after;
mod capabilities;
mod decode;
mod resources;
mod steps;
mod watch;

use super::model::*;
use super::source::{Diagnostic, LineIndex, Node, NodeValue, Seg, SourceFile};
use crate::redact::Redactor;
use crate::{ConfigError, Kind, Registry};

/// Most steps that may run at once.
const MAX_PARALLEL: u32 = 1024;
/// Most targets `[plan.safety] min_healthy_targets` may ask for.
const MAX_MIN_HEALTHY: u32 = 1024;

/// How many "did you mean" searches one validation makes.
const MAX_SUGGESTIONS: usize = 32;

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

fn with(path: &[Seg], more: &[Seg]) -> Vec<Seg> {
    path.iter().chain(more).cloned().collect()
}

/// A reference from a step (or link) to a resource in a role.
struct Use {
    resource: String,
    kind: Kind,
    at: Vec<Seg>,
}

/// Collects the diagnostics of one plan while it is checked.
pub(super) struct Validator<'a> {
    src: &'a SourceFile,
    lines: LineIndex,
    suggestions: usize,
    pub(super) errors: Vec<Diagnostic>,
}

impl<'a> Validator<'a> {
    pub(super) fn new(src: &'a SourceFile) -> Self {
        Validator {
            src,
            lines: LineIndex::new(&src.text),
            suggestions: 0,
            errors: Vec::new(),
        }
    }
}

impl Validator<'_> {
    /// ` (did you mean `x`?)` for a close match. Each search compares `word`
    /// with every candidate, so only the first [`MAX_SUGGESTIONS`] are searched:
    /// a plan with thousands of unknown names still validates in linear time.
    fn suggest<'c>(&mut self, word: &str, candidates: impl Iterator<Item = &'c str>) -> String {
        if self.suggestions >= MAX_SUGGESTIONS {
            return String::new();
        }
        self.suggestions += 1;
        let len = word.chars().count();
        let best = candidates
            .filter_map(|c| {
                let limit = 2.max(c.len() / 4);
                // The distance is at least the difference in length.
                if c.chars().count().abs_diff(len) > limit {
                    return None;
                }
                let d = edit_distance(word, c);
                (d <= limit).then_some((d, c))
            })
            .min_by_key(|(d, _)| *d);
        match best {
            Some((_, c)) => format!(" (did you mean `{c}`?)"),
            None => String::new(),
        }
    }

    /// 1-based (line, column) of a byte offset in the plan.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        self.lines.line_col(&self.src.text, offset)
    }

    /// A diagnostic for the text at `span`, on the key `path`.
    fn diagnostic(
        &self,
        span: std::ops::Range<usize>,
        path: &[Seg],
        msg: impl Into<String>,
    ) -> Diagnostic {
        self.src
            .diagnostic_at(self.line_col(span.start), span, path, msg)
    }

    /// Records an error at `path`: on the key itself when `on_key`, else on its value.
    /// An error at `steps[index].KEY` (a child plan that cannot be merged).
    pub(in crate::plan) fn step_error(
        &mut self,
        root: &Node,
        index: usize,
        k: &str,
        msg: impl Into<String>,
    ) {
        self.err(root, &[key("steps"), Seg::Index(index), key(k)], false, msg);
    }

    fn err(&mut self, root: &Node, path: &[Seg], on_key: bool, msg: impl Into<String>) {
        if root
            .locate_node(path)
            .is_some_and(|n| matches!(n.value, NodeValue::Invalid(_)))
        {
            return; // already reported as what it is: a number out of range
        }
        let (value_span, key_span) = root.locate(path);
        let span = if on_key {
            key_span.unwrap_or(value_span)
        } else {
            value_span
        };
        self.errors.push(self.diagnostic(span, path, msg));
    }

    fn config_error(&mut self, root: &Node, path: &[Seg], e: &ConfigError) {
        match &e.key {
            Some(k) => {
                let mut p = path.to_vec();
                for part in k.split('.') {
                    p.push(key(part));
                }
                let on_key = root.locate(&p).1.is_some() && e.message.starts_with("unknown field");
                self.err(root, &p, on_key, e.message.clone());
            }
            None => self.err(root, path, false, e.message.clone()),
        }
    }

    /// The typed plan, or `None` when it is too broken to build one; every
    /// problem found is in `self.errors`.
    pub(super) fn plan(
        &mut self,
        root: &Node,
        registry: &Registry,
        redactor: Redactor,
        env_values: Vec<(String, String)>,
    ) -> Option<Plan> {
        self.invalid_numbers(root);
        self.unsafe_text(root);
        if !self.top_level_keys(root) {
            return None;
        }
        let mut meta = self.meta(root);
        let resources = self.decode_resources(root, registry);
        let mut uses = Vec::new();
        let steps = self.decode_steps(root, registry, &mut uses);
        self.check_ids_and_dependencies(root, &steps);
        uses.extend(resources::health_uses(&resources));
        let watch = meta
            .as_mut()
            .and_then(|m| m.watch.take())
            .and_then(|w| self.check_watch(root, w, &mut uses));
        let after = meta
            .as_mut()
            .and_then(|m| m.after.take())
            .and_then(|a| self.check_after(root, a, &mut uses));
        let notify = meta
            .as_mut()
            .and_then(|m| m.notify.take())
            .and_then(|n| self.check_notify_table(root, n));
        let kinds_used = self.resolve_uses(root, registry, &resources, &uses);
        let built = self.build_resources(root, registry, resources, kinds_used);
        let out_steps = self.typed_steps(root, registry, steps, &built, meta.as_ref());
        let warnings = self.rollback_warnings(root, &out_steps);
        self.check_health_links(root, &built);
        self.check_sim_follows(root, &built);

        let meta = meta?;
        let index = PlanIndex::new(&out_steps, &built);
        Some(Plan {
            name: meta.name,
            description: meta.description,
            rto: meta.rto.map(|d| d.0),
            rpo: meta.rpo.map(|d| d.0),
            max_parallel: meta.max_parallel.unwrap_or(8).max(1) as usize,
            safety: meta.safety.unwrap_or_default(),
            resources: built,
            steps: out_steps,
            watch,
            after,
            mode: meta.mode.unwrap_or_default(),
            notify,
            warnings,
            source: self.src.clone(),
            children: Vec::new(),
            lock_dir: meta.lock_dir.map(std::path::PathBuf::from),
            redactor,
            env_values,
            unset_env: Vec::new(),
            index,
        })
    }

    /// Numbers no plan can mean (too large for 64 bits, NaN, infinite) are
    /// errors where they stand, never a silently unset key.
    fn invalid_numbers(&mut self, root: &Node) {
        for (path, node, why) in root.invalid_values() {
            self.errors
                .push(self.diagnostic(node.span.clone(), &path, why));
        }
    }

    /// No key, plan name or step id holds a control character, and no text
    /// anywhere a bidi override or isolate (U+202A–U+202E, U+2066–U+2069):
    /// they reorder or hide what an operator reads in a terminal or report.
    /// (A step id's other characters are checked with the ids.)
    fn unsafe_text(&mut self, root: &Node) {
        fn walk(v: &mut Validator<'_>, n: &Node, path: &mut Vec<Seg>) {
            match &n.value {
                NodeValue::Str(s) => {
                    let is_id = matches!(
                        path.as_slice(),
                        [Seg::Key(a), Seg::Index(_), Seg::Key(b)] if a == "steps" && b == "id"
                    );
                    // The plan's name and a router's target names.
                    let is_name = matches!(
                        path.as_slice(),
                        [Seg::Key(a), Seg::Key(b)] if a == "plan" && b == "name"
                    ) || matches!(
                        path.as_slice(),
                        [Seg::Key(a), Seg::Key(_), Seg::Key(b), Seg::Index(_)]
                            if a == "resources" && b == "targets"
                    );
                    let bad = if is_name {
                        crate::text::find_unsafe(s)
                    } else if is_id {
                        None
                    } else {
                        s.chars().enumerate().find(|(_, c)| {
                            crate::text::is_bidi_control(*c)
                                && !matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}')
                        })
                    };
                    if let Some((_, c)) = bad {
                        let what = match path.first() {
                            Some(Seg::Key(k)) if is_name && k == "plan" => "the plan name",
                            _ if is_name => "the target name",
                            _ => "this text",
                        };
                        let msg = format!(
                            "{what} contains {}: names may not hold control characters, and no \
                             text may hold a bidi override or isolate (it changes what an \
                             operator reads)",
                            describe(c)
                        );
                        v.errors.push(v.diagnostic(n.span.clone(), path, msg));
                    }
                }
                NodeValue::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        path.push(Seg::Index(i));
                        walk(v, item, path);
                        path.pop();
                    }
                }
                NodeValue::Table(entries) => {
                    for e in entries {
                        path.push(Seg::Key(e.key.clone()));
                        if let Some((_, c)) = crate::text::find_unsafe(&e.key) {
                            let msg = format!(
                                "the key or name `{}` contains {}: names may not hold control \
                                 characters or bidi overrides",
                                crate::text::line(&e.key),
                                describe(c)
                            );
                            v.errors.push(v.diagnostic(e.key_span.clone(), path, msg));
                        }
                        walk(v, &e.node, path);
                        path.pop();
                    }
                }
                _ => {}
            }
        }
        walk(self, root, &mut Vec::new());
    }

    /// The document is a table of known top-level keys; false when it is not a table.
    fn top_level_keys(&mut self, root: &Node) -> bool {
        let Some(entries) = root.table() else {
            self.err(root, &[], false, "a plan must be a table");
            return false;
        };
        for e in entries {
            if !["plan", "resources", "steps", "$schema"].contains(&e.key.as_str()) {
                self.err(
                    root,
                    &[key(&e.key)],
                    true,
                    format!(
                        "unknown top-level key `{}` (expected `plan`, `resources`, `steps`)",
                        e.key
                    ),
                );
            }
        }
        true
    }

    /// `[plan]`, decoded and bounded.
    fn meta(&mut self, root: &Node) -> Option<PlanTable> {
        let meta: Option<PlanTable> = match root.get("plan") {
            Some(n) => self.decode(root, &[key("plan")], n.to_json()),
            None => {
                self.err(
                    root,
                    &[],
                    false,
                    "missing `[plan]` table (with at least `name`)",
                );
                None
            }
        };
        if let Some(m) = &meta {
            if m.name.trim().is_empty() {
                self.err(
                    root,
                    &[key("plan"), key("name")],
                    false,
                    "plan name must not be empty",
                );
            }
            if let Some(n) = m.max_parallel
                && !(1..=MAX_PARALLEL).contains(&n)
            {
                self.err(
                    root,
                    &[key("plan"), key("max_parallel")],
                    false,
                    format!("max_parallel must be between 1 and {MAX_PARALLEL}, not {n}"),
                );
            }
            if let Some(s) = &m.safety
                && s.min_healthy_targets > MAX_MIN_HEALTHY
            {
                self.err(
                    root,
                    &[key("plan"), key("safety"), key("min_healthy_targets")],
                    false,
                    format!(
                        "min_healthy_targets must be at most {MAX_MIN_HEALTHY}, not {}",
                        s.min_healthy_targets
                    ),
                );
            }
        }
        meta
    }

    /// Warnings about rollbacks a one-way step would cut short (only for an
    /// otherwise valid plan).
    fn rollback_warnings(&mut self, root: &Node, steps: &[Step]) -> Vec<Diagnostic> {
        if !self.errors.is_empty() {
            return Vec::new();
        }
        super::oneway::rollback_warnings(steps)
            .into_iter()
            .map(|(index, msg)| {
                let at = [key("steps"), Seg::Index(index), key("on_failure")];
                let (span, _) = root.locate(&at);
                self.diagnostic(span, &at, msg)
            })
            .collect()
    }
}

/// A character as an error message names it: `U+202E (a bidi control)`.
pub(super) fn describe(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '\n' | '\r' => "a line break".into(),
        '\t' => "a tab".into(),
        c if crate::text::is_bidi_control(c) => {
            format!("U+{:04X} (a bidi control)", c as u32)
        }
        c => format!("U+{:04X} (a control character)", c as u32),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The message for a provider or action this build left out: the cargo
/// feature that brings it, as `crate/feature`.
pub(super) fn compiled_out(what: &str, name: &str, feature: &str) -> String {
    let (krate, feat) = feature.split_once('/').unwrap_or(("dr-cli", feature));
    format!(
        "{what} `{name}` is not compiled into this build: it comes with the cargo feature \
         `{feat}` of `{krate}` (the default features of `dr-cli` bring every provider)"
    )
}
