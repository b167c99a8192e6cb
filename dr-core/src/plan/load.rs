//! Parsing, decoding and validating a plan: every problem, before anything runs.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::graph::find_cycles;
use super::interp::{Found, interpolate};
use super::model::*;
use super::source::{
    Diagnostic, Diagnostics, Node, NodeValue, Seg, SourceFile, parse_json, parse_toml,
};
use crate::redact::Redactor;
use crate::{ConfigError, Kind, Registry, Settings, TrafficSplit};

/// Where `${env:VAR}` values come from (the process environment by default; tests
/// and embedding programs may supply their own), and whether an unset one is an
/// error (the default) or a warning ([`allow_unset_env`](Self::allow_unset_env)).
#[derive(Clone)]
pub struct LoadOptions {
    env: EnvLookup,
    allow_unset_env: bool,
}

type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

impl Default for LoadOptions {
    fn default() -> Self {
        Self::with_env(|name| std::env::var(name).ok())
    }
}

impl std::fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("allow_unset_env", &self.allow_unset_env)
            .finish_non_exhaustive()
    }
}

impl LoadOptions {
    /// Reads `${env:VAR}` from `lookup` instead of the process environment.
    pub fn with_env(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        LoadOptions {
            env: Arc::new(lookup),
            allow_unset_env: false,
        }
    }

    /// An unset `${env:VAR}` is not an error: a placeholder stands in for it and
    /// [`Plan::warnings`] gets a warning at the reference. For linting a plan
    /// without its secrets (`dr validate --allow-unset-env`, in CI); a plan
    /// loaded so must never run: its placeholders are not the values.
    ///
    /// The placeholder is chosen to pass typical setting checks: when the
    /// reference is the whole value of a key named like a URL (`url`, `uri`,
    /// `endpoint`, `api_base`, `webhook`, or ending in `_url`, `_uri`,
    /// `_endpoint`; plurals too), `http://placeholder.invalid/`; of a key named
    /// like an address (`address`, `addr`, or ending in `_address`),
    /// `placeholder.invalid:1`; otherwise `placeholder-NAME` (the variable's name
    /// in lower case with `-` for `_`: a valid id, host name, path segment or
    /// password). A setting that needs another form (a duration, a `redis://`
    /// URL) fails its check, and the error names the placeholder and the
    /// variable to set.
    ///
    /// ```
    /// use dr_core::{LoadOptions, Plan, Registry};
    ///
    /// let text = "[plan]\nname = \"p\"\n[resources.web]\nprovider = \"http\"\nurl = \"${env:WEB_URL}\"\n";
    /// let unset = LoadOptions::with_env(|_| None);
    /// let registry = Registry::with_builtins();
    /// assert!(Plan::parse("p.toml", text, &registry, &unset).is_err());
    /// let plan = Plan::parse("p.toml", text, &registry, &unset.allow_unset_env()).unwrap();
    /// assert_eq!((plan.warnings[0].line, plan.warnings[0].column), (5, 8));
    /// assert!(plan.warnings[0].message.contains("`WEB_URL` is not set"));
    /// ```
    pub fn allow_unset_env(mut self) -> Self {
        self.allow_unset_env = true;
        self
    }
}

impl Plan {
    /// Reads, parses and validates the plan at `path` (TOML, or JSON for `.json`).
    pub fn load(path: impl AsRef<Path>, registry: &Registry) -> Result<Plan, Diagnostics> {
        Self::load_with(path, registry, &LoadOptions::default())
    }

    /// [`Plan::load`] with options.
    pub fn load_with(
        path: impl AsRef<Path>,
        registry: &Registry,
        opts: &LoadOptions,
    ) -> Result<Plan, Diagnostics> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Diagnostics(vec![Diagnostic {
                file: name.clone(),
                line: 1,
                column: 1,
                key: String::new(),
                message: format!("cannot read plan: {e}"),
                span: 0..0,
            }])
        })?;
        Self::parse(&name, &text, registry, opts)
    }

    /// Parses and validates plan text; `name` is used in diagnostics, and its
    /// extension (`.json`) or the text's first character (`{`) selects JSON.
    pub fn parse(
        name: &str,
        text: &str,
        registry: &Registry,
        opts: &LoadOptions,
    ) -> Result<Plan, Diagnostics> {
        let src = SourceFile {
            name: name.to_string(),
            text: text.to_string(),
        };
        let json = name.ends_with(".json") || text.trim_start().starts_with('{');
        let mut root = if json {
            parse_json(&src)
        } else {
            parse_toml(&src)
        }
        .map_err(|d| Diagnostics(vec![d]))?;
        let mut v = Validator {
            src: &src,
            errors: Vec::new(),
        };
        // Substitutes `${env:..}` and finds the secrets (see `Redactor`): only
        // env values that are secret by name or position, plus literal
        // credentials; other env values (ids, regions) stay verbatim.
        let mut found = Found::default();
        interpolate(
            &mut root,
            &mut Vec::new(),
            &src,
            opts.env.as_ref(),
            opts.allow_unset_env,
            &mut v.errors,
            &mut found,
        );
        let env_values = found.env_values();
        let plan = v
            .plan(&root, registry, Redactor::default(), env_values)
            .map(|mut plan| {
                plan.redactor = redactor_for(std::mem::take(&mut found.secrets), &plan);
                plan
            });
        let mut errors = v.errors;
        if errors.is_empty()
            && let Some(mut plan) = plan
        {
            // Unset variables (with `allow_unset_env`) among the other warnings, in file order.
            plan.warnings.append(&mut found.warnings);
            let mut unset: Vec<String> = found
                .placeholders
                .iter()
                .flat_map(|p| p.vars.iter().map(|(name, _)| name.clone()))
                .collect();
            unset.sort();
            unset.dedup();
            plan.unset_env = unset;
            plan.warnings.sort_by_key(|d| d.span.start);
            return Ok(plan);
        }
        // An error in a value a placeholder went into may be the placeholder's doing.
        for d in &mut errors {
            if let Some(stood_in) = found
                .placeholders
                .iter()
                .find(|p| p.span.start <= d.span.start && d.span.end <= p.span.end)
            {
                let names: Vec<String> = stood_in
                    .vars
                    .iter()
                    .map(|(name, value)| format!("`{name}` is not set and `{value}` stood in"))
                    .collect();
                d.message = format!(
                    "{} ({}; set it to validate this value)",
                    d.message,
                    names.join(", ")
                );
            }
        }
        errors.sort_by_key(|d| (d.span.start, d.message.clone()));
        errors.dedup();
        Err(Diagnostics(errors))
    }
}

/// The plan's redactor for these secrets, less any that is exactly one of the
/// plan's identifiers (a step id, a resource name, a router target): those are
/// shown by `dr graph` and `dr plan` anyway, and the journal needs them to
/// resume and roll back (a header value `prod` must not turn a target `prod`
/// into `******`).
fn redactor_for(secrets: Vec<String>, plan: &Plan) -> Redactor {
    let mut ids: std::collections::HashSet<String> =
        plan.steps.iter().map(|s| s.id.clone()).collect();
    for r in &plan.resources {
        ids.insert(r.name.clone());
        if let Some(router) = r.router() {
            ids.extend(router.targets());
        }
    }
    Redactor::new(secrets.into_iter().filter(|s| !ids.contains(s)))
}

/// Most retries a step may ask for: each is a call to a provider that has already
/// failed, and the run's retry budget (100 by default) is shared by every step.
const MAX_RETRIES: u32 = 100;
/// Most steps that may run at once.
const MAX_PARALLEL: u32 = 1024;
/// Most targets `[plan.safety] min_healthy_targets` may ask for.
const MAX_MIN_HEALTHY: u32 = 1024;
/// Most consecutive healthy results a gate may ask for.
const MAX_GATE_TIMES: u32 = 10_000;
/// Shortest polling interval of a gate.
const MIN_GATE_EVERY: Duration = Duration::from_millis(1);

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

struct Validator<'a> {
    src: &'a SourceFile,
    errors: Vec<Diagnostic>,
}

impl Validator<'_> {
    /// Records an error at `path`: on the key itself when `on_key`, else on its value.
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
        self.errors.push(self.src.diagnostic(span, path, msg));
    }

    /// serde-decodes the node at `path`, reporting errors at the offending key.
    fn decode<T: DeserializeOwned>(
        &mut self,
        root: &Node,
        path: &[Seg],
        value: serde_json::Value,
    ) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let mut full = path.to_vec();
                for seg in e.path().iter() {
                    match seg {
                        serde_path_to_error::Segment::Map { key } => {
                            full.push(Seg::Key(key.clone()))
                        }
                        serde_path_to_error::Segment::Seq { index } => {
                            full.push(Seg::Index(*index))
                        }
                        _ => {}
                    }
                }
                let msg = e.into_inner().to_string();
                if msg.starts_with("invalid type: null")
                    && root.locate_node(path).is_some_and(Node::has_invalid)
                {
                    return None; // the out-of-range number is reported on its own
                }
                if full.len() == path.len() {
                    // Inside internally tagged enums serde loses the path: find the
                    // value the message quotes.
                    if let Some(found) = find_quoted(root.locate_node(path), &msg) {
                        full.extend(found);
                    }
                }
                let (msg, on_key) = if let Some(rest) = msg.strip_prefix("unknown field `") {
                    let field = rest.split('`').next().unwrap_or("").to_string();
                    if full.last() != Some(&Seg::Key(field.clone())) {
                        full.push(Seg::Key(field.clone()));
                    }
                    (
                        format!("unknown key `{field}`{}", expected_suffix(rest)),
                        true,
                    )
                } else if let Some(rest) = msg.strip_prefix("missing field `") {
                    let field = rest.split('`').next().unwrap_or("");
                    let m = format!("missing required key `{field}`");
                    if full.last() != Some(&Seg::Key(field.to_string())) {
                        full.push(Seg::Key(field.to_string()));
                    }
                    (m, true)
                } else {
                    (msg, false)
                };
                self.err(root, &full, on_key, msg);
                None
            }
        }
    }

    fn plan(
        &mut self,
        root: &Node,
        registry: &Registry,
        redactor: Redactor,
        env_values: Vec<(String, String)>,
    ) -> Option<Plan> {
        // Numbers no plan can mean (too large for 64 bits, NaN, infinite) are
        // errors where they stand, never a silently unset key.
        for (path, node, why) in root.invalid_values() {
            self.errors
                .push(self.src.diagnostic(node.span.clone(), &path, why));
        }
        let Some(entries) = root.table() else {
            self.err(root, &[], false, "a plan must be a table");
            return None;
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

        // [plan]
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

        // [resources.*]
        let mut resources: Vec<(String, ResourceTable)> = Vec::new();
        if let Some(node) = root.get("resources") {
            match node.table() {
                None => self.err(
                    root,
                    &[key("resources")],
                    false,
                    "`resources` must be a table of tables",
                ),
                Some(entries) => {
                    for e in entries {
                        let path = [key("resources"), key(&e.key)];
                        if let Some(r) = self.decode::<ResourceTable>(root, &path, e.node.to_json())
                        {
                            if registry.kinds(&r.provider).is_empty() {
                                self.err(
                                    root,
                                    &with(&path, &[key("provider")]),
                                    false,
                                    format!(
                                        "unknown provider `{}` (registered: {})",
                                        r.provider,
                                        registry.providers().join(", ")
                                    ),
                                );
                            } else {
                                resources.push((e.key.clone(), r));
                            }
                        }
                    }
                }
            }
        }
        let provider_of: HashMap<String, String> = resources
            .iter()
            .map(|(n, r)| (n.clone(), r.provider.clone()))
            .collect();
        let all_resources: Vec<String> = root
            .get("resources")
            .and_then(Node::table)
            .map(|t| t.iter().map(|e| e.key.clone()).collect())
            .unwrap_or_default();

        // [[steps]]: decode
        let mut steps: Vec<(usize, StepCommon, Option<Decoded>)> = Vec::new();
        let mut uses: Vec<Use> = Vec::new();
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
                    let decoded = self.step_action(root, &path, item, &common, registry, &mut uses);
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

        // Step ids and dependencies.
        let mut first_seen: HashMap<&str, usize> = HashMap::new();
        for (i, c, _) in &steps {
            if c.id.trim().is_empty() {
                self.err(
                    root,
                    &[key("steps"), Seg::Index(*i), key("id")],
                    false,
                    "step id must not be empty",
                );
            }
            if let Some(prev) = first_seen.get(c.id.as_str()) {
                let line = self
                    .src
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
        for (i, c, _) in &steps {
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
                    self.err(
                        root,
                        &at,
                        false,
                        format!(
                            "depends on unknown step `{dep}`{}",
                            suggest(dep, first_seen.keys().copied())
                        ),
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

        // Router health links are probe uses.
        for (name, r) in &resources {
            for (target, probe) in r.health.iter().flatten() {
                uses.push(Use {
                    resource: probe.clone(),
                    kind: Kind::Probe,
                    at: vec![key("resources"), key(name), key("health"), key(target)],
                });
            }
        }

        // Every use names an existing resource of the right kind.
        let mut kinds_used: BTreeMap<String, Vec<Kind>> = BTreeMap::new();
        for u in &uses {
            match provider_of.get(&u.resource) {
                None if all_resources.contains(&u.resource) => {} // its provider error is already reported
                None => self.err(
                    root,
                    &u.at,
                    false,
                    format!(
                        "unknown resource `{}`{}",
                        u.resource,
                        suggest(&u.resource, all_resources.iter().map(String::as_str))
                    ),
                ),
                Some(p) => {
                    let kinds = registry.kinds(p);
                    if kinds.contains(&u.kind) {
                        let k = kinds_used.entry(u.resource.clone()).or_default();
                        if !k.contains(&u.kind) {
                            k.push(u.kind);
                        }
                    } else {
                        let can: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                        self.err(
                            root,
                            &u.at,
                            false,
                            format!(
                                "resource `{}` (provider `{p}`) is not a {}; it can be used as: {}",
                                u.resource,
                                u.kind,
                                can.join(", ")
                            ),
                        );
                    }
                }
            }
        }

        // Build the provider objects for the kinds in use.
        let mut built: Vec<Resource> = Vec::new();
        for (name, r) in resources {
            let path = vec![key("resources"), key(&name)];
            let settings = Settings::new(&name, &r.provider, r.settings.clone());
            let mut kinds = kinds_used.remove(&name).unwrap_or_default();
            kinds.sort();
            let mut res = Resource {
                name: name.clone(),
                provider: r.provider.clone(),
                settings: settings.clone(),
                health: r.health.clone().unwrap_or_default(),
                kinds: kinds.clone(),
                router: None,
                probe: None,
                store: None,
                replicator: None,
            };
            let mut build_failed = false;
            if kinds.is_empty() {
                // Unused, but its settings are still checked: it must build as at
                // least one of its provider's kinds.
                let all = registry.kinds(&r.provider);
                let mut first_err = None;
                let mut any_ok = false;
                for kind in all {
                    let result = match kind {
                        Kind::Router => registry.build_router(&settings).map(|r| r.map(|_| ())),
                        Kind::Probe => registry.build_probe(&settings).map(|r| r.map(|_| ())),
                        Kind::Store => registry.build_store(&settings).map(|r| r.map(|_| ())),
                        Kind::Replicator => {
                            registry.build_replicator(&settings).map(|r| r.map(|_| ()))
                        }
                    };
                    match result {
                        Some(Ok(())) => any_ok = true,
                        Some(Err(e)) if first_err.is_none() => first_err = Some(e),
                        _ => {}
                    }
                }
                if let (false, Some(e)) = (any_ok, first_err) {
                    self.config_error(root, &path, &e);
                }
            }
            for kind in &kinds {
                let result = match kind {
                    Kind::Router => registry
                        .build_router(&settings)
                        .map(|r| r.map(|o| res.router = Some(o))),
                    Kind::Probe => registry
                        .build_probe(&settings)
                        .map(|r| r.map(|o| res.probe = Some(o))),
                    Kind::Store => registry
                        .build_store(&settings)
                        .map(|r| r.map(|o| res.store = Some(o))),
                    Kind::Replicator => registry
                        .build_replicator(&settings)
                        .map(|r| r.map(|o| res.replicator = Some(o))),
                };
                if let Some(Err(e)) = result {
                    if !build_failed {
                        self.config_error(root, &path, &e);
                    }
                    build_failed = true;
                }
            }
            // A promote reads its lag from the store itself when the provider can.
            if res.store.is_some()
                && res.replicator.is_none()
                && registry.kinds(&r.provider).contains(&Kind::Replicator)
                && let Some(Ok(rep)) = registry.build_replicator(&settings)
            {
                res.replicator = Some(rep);
            }
            built.push(res);
        }

        // Semantic checks that need the provider objects.
        let mut out_steps = Vec::new();
        for (i, c, decoded) in steps {
            let path = vec![key("steps"), Seg::Index(i)];
            let Some(decoded) = decoded else { continue };
            let action = match decoded {
                Decoded::Builtin(b) => {
                    match self.check_builtin(root, &path, b, &built, meta.as_ref()) {
                        Some(a) => a,
                        None => continue,
                    }
                }
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
            let line = self.src.line_col(root.locate(&path).0.start).0;
            out_steps.push(Step {
                id: c.id,
                depends_on: c.depends_on,
                timeout: c.timeout.map(|d| d.0),
                retries: c.retries,
                on_failure: c.on_failure.unwrap_or_default(),
                one_way: c.one_way.unwrap_or_else(|| action.one_way_by_default()),
                action,
                line,
            });
        }
        let warnings = if self.errors.is_empty() {
            super::oneway::rollback_warnings(&out_steps)
                .into_iter()
                .map(|(index, msg)| {
                    let at = [key("steps"), Seg::Index(index), key("on_failure")];
                    let (span, _) = root.locate(&at);
                    self.src.diagnostic(span, &at, msg)
                })
                .collect()
        } else {
            Vec::new()
        };
        for r in &built {
            let Some(router) = &r.router else {
                if !r.health.is_empty() {
                    self.err(root, &[key("resources"), key(&r.name), key("health")], true, "`health` links router targets to probes, but this resource is not used as a router");
                }
                continue;
            };
            let targets = router.targets();
            for target in r.health.keys() {
                if !targets.contains(target) {
                    self.err(
                        root,
                        &[key("resources"), key(&r.name), key("health"), key(target)],
                        true,
                        format!(
                            "unknown target `{target}` (router targets: {})",
                            targets.join(", ")
                        ),
                    );
                }
            }
        }

        let meta = meta?;
        Some(Plan {
            name: meta.name,
            description: meta.description,
            rto: meta.rto.map(|d| d.0),
            rpo: meta.rpo.map(|d| d.0),
            max_parallel: meta.max_parallel.unwrap_or(8).max(1) as usize,
            safety: meta.safety.unwrap_or_default(),
            resources: built,
            steps: out_steps,
            warnings,
            source: self.src.clone(),
            lock_dir: meta.lock_dir.map(std::path::PathBuf::from),
            redactor,
            env_values,
            unset_env: Vec::new(),
        })
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
        } else {
            let mut known: Vec<String> = BUILTIN_ACTIONS.iter().map(|s| s.to_string()).collect();
            known.extend(registry.actions());
            self.err(
                root,
                &action_path,
                false,
                format!(
                    "unknown action `{}`{}",
                    c.action,
                    suggest(&c.action, known.iter().map(String::as_str))
                ),
            );
            None
        }
    }

    fn check_builtin(
        &mut self,
        root: &Node,
        path: &[Seg],
        b: BuiltinStep,
        res: &[Resource],
        meta: Option<&PlanTable>,
    ) -> Option<StepAction> {
        let find = |name: &str| res.iter().find(|r| r.name == name);
        let at = |k: &str| with(path, &[key(k)]);
        let mut ok = true;
        let action = match b {
            BuiltinStep::TrafficSet {
                router,
                split,
                scope,
            } => {
                for (t, w) in &split {
                    if *w > 100 {
                        ok = false;
                        self.err(
                            root,
                            &with(path, &[key("split"), key(t)]),
                            false,
                            format!("weight {w} is more than 100 (weights are percentages)"),
                        );
                    }
                }
                let split = TrafficSplit::from_pairs(split);
                // Summed in u64: no weights wrap around to 100.
                if split.total() != 100 {
                    ok = false;
                    self.err(
                        root,
                        &at("split"),
                        false,
                        format!("weights sum to {}, not 100", split.total()),
                    );
                }
                if let Some(r) = find(&router).and_then(|r| r.router.clone()) {
                    let targets = r.targets();
                    let caps = r.capabilities();
                    for t in split.iter().map(|(t, _)| t.to_string()).collect::<Vec<_>>() {
                        if !targets.contains(&t) {
                            ok = false;
                            self.err(
                                root,
                                &with(path, &[key("split"), key(&t)]),
                                true,
                                format!(
                                    "unknown target `{t}` of router `{router}` (targets: {})",
                                    targets.join(", ")
                                ),
                            );
                        }
                    }
                    if split.iter().count() > 1 && !caps.weighted {
                        ok = false;
                        self.err(root, &at("split"), false, format!("router `{router}` (provider `{}`) cannot split traffic by weight; send 100 to one target", provider(res, &router)));
                    }
                    ok &= self.check_scope(root, path, scope.as_deref(), &router, &caps, res);
                }
                StepAction::TrafficSet {
                    router,
                    split,
                    scope,
                }
            }
            BuiltinStep::TrafficShift {
                router,
                to,
                phases,
                gate,
                scope,
            } => {
                let phases = phases.unwrap_or_else(|| vec![100]);
                if phases.is_empty() {
                    ok = false;
                    self.err(root, &at("phases"), false, "phases must not be empty");
                }
                for (i, w) in phases.windows(2).enumerate() {
                    if w[1] <= w[0] {
                        ok = false;
                        self.err(
                            root,
                            &with(path, &[key("phases"), Seg::Index(i + 1)]),
                            false,
                            format!("phases must increase: {} after {}", w[1], w[0]),
                        );
                    }
                }
                if let Some(last) = phases.last()
                    && *last != 100
                {
                    ok = false;
                    self.err(
                        root,
                        &with(path, &[key("phases"), Seg::Index(phases.len() - 1)]),
                        false,
                        format!("phases must end at 100, not {last}"),
                    );
                }
                if phases.iter().any(|p| *p == 0 || *p > 100) {
                    ok = false;
                    self.err(
                        root,
                        &at("phases"),
                        false,
                        "every phase must be between 1 and 100",
                    );
                }
                if let Some(g) = &gate {
                    ok &= self.check_gate(root, &at("gate"), g.times, g.every.map(|d| d.0));
                }
                if let Some(r) = find(&router).and_then(|r| r.router.clone()) {
                    let caps = r.capabilities();
                    if !r.targets().contains(&to) {
                        ok = false;
                        self.err(
                            root,
                            &at("to"),
                            false,
                            format!(
                                "unknown target `{to}` of router `{router}` (targets: {})",
                                r.targets().join(", ")
                            ),
                        );
                    }
                    if phases.len() > 1 && !caps.weighted {
                        ok = false;
                        self.err(root, &at("phases"), false, format!("router `{router}` (provider `{}`) cannot split traffic by weight; use `phases = [100]`", provider(res, &router)));
                    }
                    ok &= self.check_scope(root, path, scope.as_deref(), &router, &caps, res);
                }
                StepAction::TrafficShift {
                    router,
                    to,
                    phases,
                    gate: gate.map(GateTable::into_gate),
                    scope,
                }
            }
            BuiltinStep::ProbeWait(p) => {
                ok &= self.check_gate(root, path, p.times, p.every.map(|d| d.0));
                StepAction::ProbeWait(
                    GateTable {
                        probe: p.probe,
                        times: p.times,
                        healthy_for: p.healthy_for,
                        every: p.every,
                        timeout: None,
                    }
                    .into_gate(),
                )
            }
            BuiltinStep::ReplicationCheck {
                replicator,
                max_lag,
            } => {
                let max_lag = max_lag
                    .map(|d| d.0)
                    .or(meta.and_then(|m| m.rpo.map(|d| d.0)));
                if max_lag.is_none() {
                    ok = false;
                    self.err(
                        root,
                        path,
                        false,
                        "replication.check needs `max_lag` (or a plan-level `rpo`)",
                    );
                }
                StepAction::ReplicationCheck {
                    replicator,
                    max_lag,
                }
            }
            BuiltinStep::ReplicationStop { replicator } => {
                if let Some(r) = find(&replicator).and_then(|r| r.replicator.clone())
                    && !r.capabilities().stop
                {
                    ok = false;
                    self.err(
                        root,
                        &at("replicator"),
                        false,
                        format!(
                            "replicator `{replicator}` (provider `{}`) cannot stop replication",
                            provider(res, &replicator)
                        ),
                    );
                }
                StepAction::ReplicationStop { replicator }
            }
            BuiltinStep::ReplicationReverse { replicator } => {
                if let Some(r) = find(&replicator).and_then(|r| r.replicator.clone())
                    && !r.capabilities().reverse
                {
                    ok = false;
                    self.err(
                        root,
                        &at("replicator"),
                        false,
                        format!(
                            "replicator `{replicator}` (provider `{}`) cannot reverse replication",
                            provider(res, &replicator)
                        ),
                    );
                }
                StepAction::ReplicationReverse { replicator }
            }
            BuiltinStep::DatastorePromote {
                store,
                max_lag,
                replicator,
            } => {
                let max_lag = max_lag.map(|d| d.0);
                let lag_from = match &replicator {
                    Some(r) => Some(r.clone()),
                    None => find(&store)
                        .filter(|r| r.replicator.is_some())
                        .map(|r| r.name.clone()),
                };
                if max_lag.is_some() && lag_from.is_none() && find(&store).is_some() {
                    ok = false;
                    self.err(root, &at("max_lag"), true, format!("`max_lag` needs a lag source: provider `{}` reports no replication lag; name one with `replicator = \"..\"`", provider(res, &store)));
                }
                ok &= self.check_store_cap(root, path, &store, res, "promote", |c| c.promote);
                StepAction::DatastorePromote {
                    store,
                    max_lag,
                    lag_from,
                }
            }
            BuiltinStep::DatastoreFence { store } => {
                ok &= self.check_store_cap(root, path, &store, res, "fence", |c| c.fence);
                StepAction::DatastoreFence { store }
            }
            BuiltinStep::DatastoreFlush { store } => {
                ok &= self.check_store_cap(root, path, &store, res, "flush", |c| c.flush);
                StepAction::DatastoreFlush { store }
            }
            BuiltinStep::Approval { message } => StepAction::Approval { message },
            BuiltinStep::Wait { duration } => StepAction::Wait {
                duration: duration.0,
            },
            BuiltinStep::Notify {
                url,
                message,
                headers,
            } => {
                if reqwest::Url::parse(&url).is_err() {
                    ok = false;
                    self.err(root, &at("url"), false, "not a valid URL");
                }
                StepAction::Notify {
                    url,
                    message: message.unwrap_or_default(),
                    headers: headers.unwrap_or_default(),
                }
            }
            BuiltinStep::Exec {
                command,
                cwd,
                env,
                idempotent,
            } => {
                let command = command.into_argv();
                if command.first().is_none_or(|p| p.is_empty()) {
                    ok = false;
                    self.err(root, &at("command"), false, "command must not be empty");
                }
                StepAction::Exec {
                    command,
                    cwd,
                    env: env.unwrap_or_default(),
                    idempotent: idempotent.unwrap_or(false),
                }
            }
        };
        ok.then_some(action)
    }

    /// Bounds on the keys of a step: `retries`.
    fn check_common(&mut self, root: &Node, path: &[Seg], c: &StepCommon) {
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

    /// Bounds on a gate (`probe.wait`, or a `gate` table at `path`): `times` in
    /// 1..=MAX_GATE_TIMES, `every` at least 1ms (a zero interval would poll in a
    /// busy loop).
    fn check_gate(
        &mut self,
        root: &Node,
        path: &[Seg],
        times: Option<u32>,
        every: Option<Duration>,
    ) -> bool {
        let mut ok = true;
        if let Some(n) = times
            && !(1..=MAX_GATE_TIMES).contains(&n)
        {
            ok = false;
            self.err(
                root,
                &with(path, &[key("times")]),
                false,
                format!("times must be between 1 and {MAX_GATE_TIMES}, not {n}"),
            );
        }
        if let Some(d) = every
            && d < MIN_GATE_EVERY
        {
            ok = false;
            self.err(
                root,
                &with(path, &[key("every")]),
                false,
                format!(
                    "every must be at least 1ms, not {} (a zero polling interval is a busy loop)",
                    crate::format_duration(d)
                ),
            );
        }
        ok
    }

    fn check_scope(
        &mut self,
        root: &Node,
        path: &[Seg],
        scope: Option<&str>,
        router: &str,
        caps: &crate::RouterCapabilities,
        res: &[Resource],
    ) -> bool {
        let Some(scope) = scope else { return true };
        if caps.accepts_scope(scope) {
            return true;
        }
        let why = if caps.scoped {
            format!("accepted scopes: {}", caps.scopes.join(", "))
        } else {
            "it has no scopes".to_string()
        };
        self.err(
            root,
            &with(path, &[key("scope")]),
            false,
            format!(
                "router `{router}` (provider `{}`) does not accept scope `{scope}`: {why}",
                provider(res, router)
            ),
        );
        false
    }

    fn check_store_cap(
        &mut self,
        root: &Node,
        path: &[Seg],
        store: &str,
        res: &[Resource],
        op: &str,
        has: impl Fn(&crate::StoreCapabilities) -> bool,
    ) -> bool {
        let Some(s) = res
            .iter()
            .find(|r| r.name == store)
            .and_then(|r| r.store.clone())
        else {
            return true;
        };
        if has(&s.capabilities()) {
            return true;
        }
        self.err(
            root,
            &with(path, &[key("store")]),
            false,
            format!(
                "store `{store}` (provider `{}`) cannot {op}",
                provider(res, store)
            ),
        );
        false
    }
}

enum Decoded {
    Builtin(BuiltinStep),
    Provider(String, Settings),
}

fn provider<'a>(res: &'a [Resource], name: &str) -> &'a str {
    res.iter()
        .find(|r| r.name == name)
        .map(|r| r.provider.as_str())
        .unwrap_or("?")
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

/// The path (below `node`) of a value that serde's `msg` quotes, three levels
/// deep: a string (`` `v` `` or `"v"`) or a number (``integer `7` ``,
/// ``floating point `1.5` ``). Inside internally tagged enums serde loses the
/// path, so this finds where the problem stands.
fn find_quoted(node: Option<&Node>, msg: &str) -> Option<Vec<Seg>> {
    fn quotes(n: &Node, msg: &str) -> bool {
        match &n.value {
            NodeValue::Str(v) => {
                msg.contains(&format!("`{v}`")) || msg.contains(&format!("\"{v}\""))
            }
            NodeValue::Int(i) => msg.contains(&format!("integer `{i}`")),
            NodeValue::Float(f) => {
                msg.contains(&format!("floating point `{f}`"))
                    || msg.contains(&format!("floating point `{f:?}`"))
            }
            _ => false,
        }
    }
    fn walk(n: &Node, msg: &str, depth: usize, path: &mut Vec<Seg>) -> bool {
        if !path.is_empty() && quotes(n, msg) {
            return true;
        }
        if depth == 0 {
            return false;
        }
        match &n.value {
            NodeValue::Table(entries) => {
                for e in entries {
                    path.push(key(&e.key));
                    if walk(&e.node, msg, depth - 1, path) {
                        return true;
                    }
                    path.pop();
                }
            }
            NodeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(Seg::Index(i));
                    if walk(item, msg, depth - 1, path) {
                        return true;
                    }
                    path.pop();
                }
            }
            _ => {}
        }
        false
    }
    let mut path = Vec::new();
    walk(node?, msg, 3, &mut path).then_some(path)
}

fn expected_suffix(rest: &str) -> String {
    match rest.find("expected ") {
        Some(i) => format!(" ({})", &rest[i..]),
        None => String::new(),
    }
}

/// ` (did you mean `x`?)` for a close match.
fn suggest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    let best = candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, c)) => format!(" (did you mean `{c}`?)"),
        None => String::new(),
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
