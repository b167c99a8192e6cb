//! `${env:VAR}` references in plan strings.

use std::ops::Range;

use super::Diagnostic;
use super::source::{Node, NodeValue, Seg, SourceFile};
use crate::redact::{
    credential_after_scheme, is_harmless_header, is_secret_env_name, is_secret_key, is_webhook_key,
    percent_decode, scan_urls, webhook_secrets,
};

/// One `${env:NAME}` substituted into a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvUse {
    /// The variable.
    pub name: String,
    /// Its value, or the placeholder that stands in for an unset variable.
    pub value: String,
    /// Where the value stands in the substituted string.
    pub range: Range<usize>,
    /// The variable is unset and `value` is a placeholder.
    pub placeholder: bool,
}

/// What stands in for an unset variable that is a whole URL.
pub(crate) const PLACEHOLDER_URL: &str = "http://placeholder.invalid/";

/// What stands in for an unset variable that is a whole `host:port` address.
pub(crate) const PLACEHOLDER_ADDRESS: &str = "placeholder.invalid:1";

/// What stands in for the unset variable `name` when unset variables are
/// allowed (`dr validate --allow-unset-env`), so that typical setting checks pass:
/// - when the reference is the whole value of a key named like a URL (`url`,
///   `uri`, `endpoint`, `api_base`, `webhook`, or ending in `_url`, `_uri`,
///   `_endpoint`; plurals too): `http://placeholder.invalid/`;
/// - when it is the whole value of a key named like an address (`address`,
///   `addr`, or ending in `_address`): `placeholder.invalid:1`;
/// - otherwise `placeholder-NAME` (lower case, `_` as `-`: also a valid host
///   name, path segment, id or password).
pub(crate) fn placeholder(name: &str, whole: bool, path: &[Seg]) -> String {
    let key = path
        .iter()
        .rev()
        .find_map(|s| match s {
            Seg::Key(k) => Some(k.to_ascii_lowercase()),
            Seg::Index(_) => None,
        })
        .unwrap_or_default();
    // The key and its singular forms (`urls`, `cluster_endpoints`, `addresses`).
    let forms = [
        Some(key.as_str()),
        key.strip_suffix("es"),
        key.strip_suffix('s'),
    ];
    let named = |exact: &[&str], ends: &[&str]| {
        forms
            .iter()
            .flatten()
            .any(|k| exact.contains(k) || ends.iter().any(|end| k.ends_with(end)))
    };
    let url = named(
        &["url", "uri", "endpoint", "api_base", "webhook"],
        &["_url", "_uri", "_endpoint"],
    );
    let address = named(&["address", "addr"], &["_address"]);
    if whole && url {
        PLACEHOLDER_URL.to_string()
    } else if whole && address {
        PLACEHOLDER_ADDRESS.to_string()
    } else {
        format!(
            "placeholder-{}",
            name.to_ascii_lowercase().replace('_', "-")
        )
    }
}

/// What interpolation learnt about the plan's values.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// Every substitution of a set variable, `(name, value)`, in file order
    /// (repeats included).
    pub env: Vec<(String, String)>,
    /// The values to redact (see [`crate::Redactor`] for the rules).
    pub secrets: Vec<String>,
    /// One warning per reference to an unset variable that a placeholder stood
    /// in for, at the reference.
    pub warnings: Vec<Diagnostic>,
    /// The strings placeholders went into.
    pub placeholders: Vec<StoodIn>,
}

/// A string placeholders went into.
#[derive(Debug)]
pub(crate) struct StoodIn {
    /// The string's span in the file.
    pub span: Range<usize>,
    /// `(variable, placeholder)`, in order.
    pub vars: Vec<(String, String)>,
}

/// Chooses the value of an unset variable: `(name, whole)`, where `whole` says
/// the reference is the entire string.
pub(crate) type StandIn<'a> = &'a dyn Fn(&str, bool) -> String;

impl Found {
    /// `env` once per name, in the order of first use.
    pub fn env_values(&self) -> Vec<(String, String)> {
        let mut seen = std::collections::HashSet::new();
        self.env
            .iter()
            .filter(|(name, _)| seen.insert(name.clone()))
            .cloned()
            .collect()
    }
}

/// Replaces every `${env:VAR}` in the tree's strings with the variable's value.
/// `$${` stands for a literal `${`. An unset variable is an error (never an empty
/// string), unless `allow_unset`: then a [`placeholder`] stands in and a warning
/// at the reference says so. Records the substitutions and the secrets of every
/// string (from `${env:..}` or written literally) in `found`.
pub(crate) fn interpolate(
    node: &mut Node,
    path: &mut Vec<Seg>,
    src: &SourceFile,
    env: &dyn Fn(&str) -> Option<String>,
    allow_unset: bool,
    errors: &mut Vec<Diagnostic>,
    found: &mut Found,
) {
    match &mut node.value {
        NodeValue::Str(s) => {
            let stand_in = |name: &str, whole: bool| placeholder(name, whole, path);
            let stand_in: Option<StandIn> = allow_unset.then_some(&stand_in);
            let uses = if s.contains("${") {
                match substitute(s, env, stand_in) {
                    Ok((out, uses)) => {
                        *s = out;
                        uses
                    }
                    Err(msg) => {
                        errors.push(src.diagnostic(node.span.clone(), path, msg));
                        return;
                    }
                }
            } else {
                Vec::new()
            };
            node.from_env = !uses.is_empty();
            classify(s, &uses, path, &mut found.secrets);
            if uses.iter().any(|u| u.placeholder) {
                warn_placeholders(&node.span, &uses, path, src, found);
            }
            found.env.extend(
                uses.into_iter()
                    .filter(|u| !u.placeholder)
                    .map(|u| (u.name, u.value)),
            );
        }
        NodeValue::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(Seg::Index(i));
                interpolate(item, path, src, env, allow_unset, errors, found);
                path.pop();
            }
        }
        NodeValue::Table(entries) => {
            for e in entries.iter_mut() {
                path.push(Seg::Key(e.key.clone()));
                interpolate(&mut e.node, path, src, env, allow_unset, errors, found);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Records a warning for each placeholder in the string at `span`, located at its
/// `${env:..}` reference in the file (at the string when the reference cannot be
/// found in its text, e.g. written with escapes).
fn warn_placeholders(
    span: &Range<usize>,
    uses: &[EnvUse],
    path: &[Seg],
    src: &SourceFile,
    found: &mut Found,
) {
    let refs = src
        .text
        .get(span.clone())
        .map(references)
        .unwrap_or_default();
    let mut stood_in = Vec::new();
    for (i, u) in uses.iter().enumerate() {
        if !u.placeholder {
            continue;
        }
        let at = match refs.get(i) {
            Some((name, r)) if *name == u.name => span.start + r.start..span.start + r.end,
            _ => span.clone(),
        };
        found.warnings.push(src.diagnostic(
            at,
            path,
            format!(
                "environment variable `{}` is not set; validated with the placeholder `{}` \
                 (running the plan needs it set)",
                u.name, u.value
            ),
        ));
        stood_in.push((u.name.clone(), u.value.clone()));
    }
    found.placeholders.push(StoodIn {
        span: span.clone(),
        vars: stood_in,
    });
}

/// The `${env:NAME}` references in `raw` text, in order: the name and the
/// reference's byte range. Scans as [`substitute`] does (`$${` is a literal).
fn references(raw: &str) -> Vec<(String, Range<usize>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = raw[at..].find('$') {
        let start = at + i;
        let rest = &raw[start..];
        if rest.starts_with("$${") {
            at = start + 3;
        } else if let Some(r) = rest.strip_prefix("${") {
            let Some(end) = r.find('}') else { break };
            if let Some(name) = r[..end].strip_prefix("env:") {
                out.push((name.to_string(), start..start + 2 + end + 1));
            }
            at = start + 2 + end + 1;
        } else {
            at = start + 1;
        }
    }
    out
}

/// Adds the secrets of the string `text` at `path`, into which `uses` were
/// substituted.
pub(crate) fn classify(text: &str, uses: &[EnvUse], path: &[Seg], secrets: &mut Vec<String>) {
    let keys: Vec<&str> = path
        .iter()
        .filter_map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
        .collect();
    let header = keys
        .iter()
        .rposition(|k| k.eq_ignore_ascii_case("headers"))
        .and_then(|i| keys.get(i + 1));
    let webhook = keys.last().is_some_and(|k| is_webhook_key(k));
    if webhook {
        secrets.extend(webhook_secrets(text));
    }
    let secret_field = keys.last().is_some_and(|k| is_secret_key(k))
        || webhook
        || header.is_some_and(|h| !is_harmless_header(h));
    if secret_field {
        secrets.push(text.to_string());
        if let Some(cred) = credential_after_scheme(text) {
            secrets.push(cred.to_string());
        }
    }
    let urls = scan_urls(text);
    for u in &urls {
        for r in u.password.iter().chain(&u.secret_params) {
            secrets.push(text[r.clone()].to_string());
            secrets.push(percent_decode(&text[r.clone()]));
        }
    }
    let overlaps = |a: &Range<usize>, b: &Option<Range<usize>>| {
        b.as_ref()
            .is_some_and(|b| a.start < b.end && b.start < a.end)
    };
    for u in uses {
        if secret_field
            || is_secret_env_name(&u.name)
            || urls
                .iter()
                .any(|p| overlaps(&u.range, &p.password) || overlaps(&u.range, &p.query))
        {
            secrets.push(u.value.clone());
        }
    }
}

/// Substitutes the references in one string; returns the result and the
/// substitutions made. An unset variable is an error, or, with `stand_in`, gets
/// `stand_in(name, whole)` (`whole`: the reference is the entire string).
pub(crate) fn substitute(
    s: &str,
    env: &dyn Fn(&str) -> Option<String>,
    stand_in: Option<StandIn>,
) -> Result<(String, Vec<EnvUse>), String> {
    let mut out = String::with_capacity(s.len());
    let mut used = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(r) = rest.strip_prefix("$${") {
            out.push_str("${");
            rest = r;
            continue;
        }
        let Some(r) = rest.strip_prefix("${") else {
            out.push('$');
            rest = &rest[1..];
            continue;
        };
        let end = r
            .find('}')
            .ok_or_else(|| format!("unterminated reference in `{s}` (expected `${{env:NAME}}`)"))?;
        let reference = &r[..end];
        let name = reference.strip_prefix("env:").ok_or_else(|| {
            format!("unknown reference `${{{reference}}}`: only `${{env:NAME}}` is supported (write `$${{` for a literal `${{`)")
        })?;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("invalid environment variable name `{name}`"));
        }
        let after = &r[end + 1..];
        let whole = rest.len() == s.len() && after.is_empty();
        let (value, placeholder) = match (env(name), stand_in) {
            (Some(value), _) => (value, false),
            (None, Some(stand_in)) => (stand_in(name, whole), true),
            (None, None) => return Err(format!("environment variable `{name}` is not set")),
        };
        let at = out.len();
        out.push_str(&value);
        used.push(EnvUse {
            name: name.to_string(),
            range: at..out.len(),
            value,
            placeholder,
        });
        rest = after;
    }
    out.push_str(rest);
    Ok((out, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn substitute(
        s: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(String, Vec<EnvUse>), String> {
        super::substitute(s, env, None)
    }

    #[test]
    fn substitutes_and_reports_unset() {
        assert_eq!(
            substitute("Bearer ${env:TOKEN}", &env).unwrap(),
            (
                "Bearer s3cret".into(),
                vec![EnvUse {
                    name: "TOKEN".into(),
                    value: "s3cret".into(),
                    range: 7..13,
                    placeholder: false,
                }]
            )
        );
        assert_eq!(
            substitute("a$${env:X}b $5", &env).unwrap().0,
            "a${env:X}b $5"
        );
        assert_eq!(substitute("${env:EMPTY}", &env).unwrap().0, "");
        assert!(
            substitute("${env:NOPE}", &env)
                .unwrap_err()
                .contains("`NOPE` is not set")
        );
        assert!(
            substitute("${file:x}", &env)
                .unwrap_err()
                .contains("only `${env:NAME}`")
        );
        assert!(
            substitute("${env:TOKEN", &env)
                .unwrap_err()
                .contains("unterminated")
        );
    }

    #[test]
    fn placeholders_stand_in_for_unset_variables_when_allowed() {
        let path =
            |keys: &[&str]| -> Vec<Seg> { keys.iter().map(|k| Seg::Key(k.to_string())).collect() };
        let fill = |text: &str, keys: &[&str]| {
            let p = path(keys);
            let stand_in = |name: &str, whole: bool| placeholder(name, whole, &p);
            super::substitute(text, &env, Some(&stand_in)).unwrap()
        };
        let (out, uses) = fill("${env:CF_ZONE_ID}", &["resources", "edge", "zone_id"]);
        assert_eq!(out, "placeholder-cf-zone-id");
        assert!(uses[0].placeholder);
        // A whole URL-valued reference is a URL; a part of one is a host or segment.
        for key in [
            "url",
            "api_base",
            "endpoint_url",
            "cluster_endpoints",
            "WEBHOOK",
        ] {
            assert_eq!(fill("${env:X}", &["r", key]).0, PLACEHOLDER_URL, "{key}");
        }
        assert_eq!(
            fill("https://${env:HOST_NAME}/healthz", &["r", "url"]).0,
            "https://placeholder-host-name/healthz"
        );
        assert_eq!(fill("${env:X}", &["r", "curl_args"]).0, "placeholder-x");
        for key in ["address", "db_address", "addresses"] {
            assert_eq!(
                fill("${env:X}", &["r", key]).0,
                PLACEHOLDER_ADDRESS,
                "{key}"
            );
        }
        assert_eq!(
            fill("${env:X}:5432", &["r", "address"]).0,
            "placeholder-x:5432"
        );
        // Set variables keep their values and are not placeholders.
        let (out, uses) = fill("${env:TOKEN}/${env:NOPE}", &["r", "url"]);
        assert_eq!(out, "s3cret/placeholder-nope");
        assert_eq!(
            uses.iter().map(|u| u.placeholder).collect::<Vec<_>>(),
            [false, true]
        );
    }

    #[test]
    fn references_are_found_in_raw_text_as_substitution_sees_them() {
        let raw = r#""a $${env:LIT} ${env:ONE}-${env:TWO} ${x} $5""#;
        let refs = references(raw);
        let names: Vec<&str> = refs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["ONE", "TWO"]);
        assert_eq!(&raw[refs[0].1.clone()], "${env:ONE}");
        assert_eq!(&raw[refs[1].1.clone()], "${env:TWO}");
        assert!(references("${env:UNTERMINATED").is_empty());
    }

    fn secrets_of(text: &str, path: &[&str]) -> Vec<String> {
        let env = |name: &str| Some(format!("val-{name}"));
        let (out, uses) = super::substitute(text, &env, None).unwrap();
        let path: Vec<Seg> = path.iter().map(|k| Seg::Key(k.to_string())).collect();
        let mut secrets = Vec::new();
        classify(&out, &uses, &path, &mut secrets);
        secrets.sort();
        secrets.dedup();
        secrets
    }

    #[test]
    fn env_values_are_secret_by_name_or_position_only() {
        // Not secret by name, in a plain position: kept.
        assert!(secrets_of("${env:CF_ACCOUNT_ID}", &["resources", "lb", "account_id"]).is_empty());
        assert!(secrets_of("${env:STEP}", &["steps", "id"]).is_empty());
        assert!(secrets_of("https://h/${env:PATH_PART}", &["resources", "w", "url"]).is_empty());
        // By name.
        assert_eq!(
            secrets_of("x ${env:REDIS_PASSWORD} y", &["steps", "command"]),
            ["val-REDIS_PASSWORD"]
        );
        // By key: the whole string and the value.
        assert_eq!(
            secrets_of("pre-${env:PLAIN}", &["resources", "r", "password"]),
            ["pre-val-PLAIN", "val-PLAIN"]
        );
        // Under headers: the value, and the credential after the scheme.
        assert_eq!(
            secrets_of("Bearer ${env:PLAIN}", &["steps", "headers", "X-Custom"]),
            ["Bearer val-PLAIN", "val-PLAIN"]
        );
        assert!(secrets_of("application/json", &["steps", "headers", "Content-Type"]).is_empty());
        // URL password and query.
        assert_eq!(
            secrets_of("https://u:${env:PLAIN}@h/p", &["url"]),
            ["val-PLAIN"]
        );
        assert_eq!(
            secrets_of("https://u@h/p?region=${env:REGION}", &["url"]),
            ["val-REGION"]
        );
        assert!(secrets_of("https://${env:USER_NAME}@h/p", &["url"]).is_empty());
    }

    #[test]
    fn literal_credentials_are_secret() {
        assert_eq!(
            secrets_of("https://admin:pa%40ss@db.example/x", &["url"]),
            ["pa%40ss", "pa@ss"]
        );
        assert_eq!(
            secrets_of("Bearer abc123", &["headers", "Authorization"]),
            ["Bearer abc123", "abc123"]
        );
        assert_eq!(
            secrets_of("https://h/x?sv=1&sig=s1gn%2Fature&se=2", &["url"]),
            ["s1gn%2Fature", "s1gn/ature"]
        );
        assert_eq!(
            secrets_of("literal-pw", &["resources", "r", "password"]),
            ["literal-pw"]
        );
        assert!(secrets_of("https://h/x?region=eu", &["url"]).is_empty());
    }

    /// A webhook URL is a credential wherever a key names it, and so is a
    /// variable named like one wherever it lands.
    #[test]
    fn webhook_urls_are_secret_by_key_or_variable_name() {
        let hook = "https://hooks.example/services/T0/B0/XXsecretXX";
        for key in [
            "webhook",
            "slack_webhook",
            "webhook_url",
            "hookUrl",
            "webhooks",
        ] {
            let s = secrets_of(hook, &["watch", key]);
            assert!(s.contains(&hook.to_string()), "{key}: {s:?}");
            assert!(
                s.contains(&"/services/T0/B0/XXsecretXX".to_string()),
                "{key}: {s:?}"
            );
        }
        for key in ["url", "webhook_timeout", "hooks", "web_url"] {
            assert!(secrets_of(hook, &["r", key]).is_empty(), "{key}");
        }
        assert_eq!(
            secrets_of("curl -d x ${env:SLACK_WEBHOOK_URL}", &["steps", "command"]),
            ["val-SLACK_WEBHOOK_URL"]
        );
    }
}
