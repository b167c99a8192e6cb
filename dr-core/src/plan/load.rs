//! Parsing, decoding and validating a plan: every problem, before anything runs.

use std::path::Path;
use std::sync::Arc;

use super::interp::{Found, interpolate};
use super::model::*;
use super::source::{Diagnostic, Diagnostics, SourceFile, parse_json, parse_toml};
use super::validate::Validator;
use crate::Registry;
use crate::redact::Redactor;

/// Where `${env:VAR}` values come from (the process environment by default; tests
/// and embedding programs may supply their own), and whether an unset one is an
/// error (the default) or a warning ([`allow_unset_env`](Self::allow_unset_env)).
#[derive(Clone)]
pub struct LoadOptions {
    env: EnvLookup,
    allow_unset_env: bool,
    children: Option<ChildReader>,
}

type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;
type ChildReader = Arc<dyn Fn(&str) -> std::io::Result<String> + Send + Sync>;

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
            children: None,
        }
    }

    /// Reads child plans (`plan.run`) with `reader` instead of from the file
    /// system: it gets the child's file name (the parent's directory joined
    /// with the step's `plan`, `.` and `..` resolved) and returns its text.
    /// `dr resume` reads them from the run's copies so.
    pub fn read_children_with(
        mut self,
        reader: impl Fn(&str) -> std::io::Result<String> + Send + Sync + 'static,
    ) -> Self {
        self.children = Some(Arc::new(reader));
        self
    }

    /// The text of the child plan file `name`.
    pub(crate) fn read_child(&self, name: &str) -> std::io::Result<String> {
        match &self.children {
            Some(read) => read(name),
            None => std::fs::read_to_string(name),
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
        Self::parse_within(name, text, registry, opts, &[])
    }

    /// [`Plan::parse`] of a plan that the plans of `chain` (their file names,
    /// outermost first) include as a child.
    pub(super) fn parse_within(
        name: &str,
        text: &str,
        registry: &Registry,
        opts: &LoadOptions,
        chain: &[String],
    ) -> Result<Plan, Diagnostics> {
        // A byte-order mark (editors on Windows write one) is not part of the plan.
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
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
        let mut v = Validator::new(&src);
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
        let mut plan = v
            .plan(&root, registry, Redactor::default(), env_values)
            .map(|mut plan| {
                plan.redactor = redactor_for(std::mem::take(&mut found.secrets), &plan);
                plan
            });
        if v.errors.is_empty()
            && let Some(p) = plan.as_mut()
        {
            super::children::expand(p, &mut v, &root, registry, opts, chain);
        }
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
            unset.append(&mut plan.unset_env); // the child plans'
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

/// The plan's redactor for these secrets and every webhook URL the plan posts
/// to ([`Plan::webhook_urls`]: the URL is the credential), less any that is
/// exactly one of the plan's identifiers (a step id, a resource name, a router
/// target): those are shown by `dr graph` and `dr plan` anyway, and the journal
/// needs them to resume and roll back (a header value `prod` must not turn a
/// target `prod` into `******`).
fn redactor_for(mut secrets: Vec<String>, plan: &Plan) -> Redactor {
    for url in plan.webhook_urls() {
        secrets.extend(crate::redact::webhook_secrets(url));
    }
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
