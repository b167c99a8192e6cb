//! `${env:VAR}` references in plan strings.

use std::ops::Range;

use super::Diagnostic;
use super::source::{Node, NodeValue, Seg, SourceFile};
use crate::redact::{
    credential_after_scheme, is_harmless_header, is_secret_env_name, is_secret_key, percent_decode,
    scan_urls,
};

/// One `${env:NAME}` substituted into a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvUse {
    /// The variable.
    pub name: String,
    /// Its value.
    pub value: String,
    /// Where the value stands in the substituted string.
    pub range: Range<usize>,
}

/// What interpolation learnt about the plan's values.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// Every substitution, `(name, value)`, in file order (repeats included).
    pub env: Vec<(String, String)>,
    /// The values to redact (see [`crate::Redactor`] for the rules).
    pub secrets: Vec<String>,
}

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
/// string). Records the substitutions and the secrets of every string (from
/// `${env:..}` or written literally) in `found`.
pub(crate) fn interpolate(
    node: &mut Node,
    path: &mut Vec<Seg>,
    src: &SourceFile,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<Diagnostic>,
    found: &mut Found,
) {
    match &mut node.value {
        NodeValue::Str(s) => {
            let uses = if s.contains("${") {
                match substitute(s, env) {
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
            found
                .env
                .extend(uses.into_iter().map(|u| (u.name, u.value)));
        }
        NodeValue::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(Seg::Index(i));
                interpolate(item, path, src, env, errors, found);
                path.pop();
            }
        }
        NodeValue::Table(entries) => {
            for e in entries.iter_mut() {
                path.push(Seg::Key(e.key.clone()));
                interpolate(&mut e.node, path, src, env, errors, found);
                path.pop();
            }
        }
        _ => {}
    }
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
    let secret_field = keys.last().is_some_and(|k| is_secret_key(k))
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
/// substitutions made.
pub(crate) fn substitute(
    s: &str,
    env: &dyn Fn(&str) -> Option<String>,
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
        let value = env(name).ok_or_else(|| format!("environment variable `{name}` is not set"))?;
        let at = out.len();
        out.push_str(&value);
        used.push(EnvUse {
            name: name.to_string(),
            range: at..out.len(),
            value,
        });
        rest = &r[end + 1..];
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

    #[test]
    fn substitutes_and_reports_unset() {
        assert_eq!(
            substitute("Bearer ${env:TOKEN}", &env).unwrap(),
            (
                "Bearer s3cret".into(),
                vec![EnvUse {
                    name: "TOKEN".into(),
                    value: "s3cret".into(),
                    range: 7..13
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

    fn secrets_of(text: &str, path: &[&str]) -> Vec<String> {
        let env = |name: &str| Some(format!("val-{name}"));
        let (out, uses) = substitute(text, &env).unwrap();
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
}
