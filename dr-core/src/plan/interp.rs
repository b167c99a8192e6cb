//! `${env:VAR}` references in plan strings.

use super::Diagnostic;
use super::source::{Node, NodeValue, Seg, SourceFile};

/// Replaces every `${env:VAR}` in the tree's strings with the variable's value.
/// `$${` stands for a literal `${`. An unset variable is an error (never an empty
/// string). Returns the substituted values, which are secrets to redact.
pub(crate) fn interpolate(
    node: &mut Node,
    path: &mut Vec<Seg>,
    src: &SourceFile,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<Diagnostic>,
    secrets: &mut Vec<String>,
) {
    match &mut node.value {
        NodeValue::Str(s) => {
            if !s.contains("${") {
                return;
            }
            match substitute(s, env) {
                Ok((out, used)) => {
                    node.from_env = !used.is_empty();
                    secrets.extend(used);
                    *s = out;
                }
                Err(msg) => errors.push(src.diagnostic(node.span.clone(), path, msg)),
            }
        }
        NodeValue::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(Seg::Index(i));
                interpolate(item, path, src, env, errors, secrets);
                path.pop();
            }
        }
        NodeValue::Table(entries) => {
            for e in entries.iter_mut() {
                path.push(Seg::Key(e.key.clone()));
                interpolate(&mut e.node, path, src, env, errors, secrets);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Substitutes the references in one string; returns the result and the values used.
pub(crate) fn substitute(
    s: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, Vec<String>), String> {
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
        out.push_str(&value);
        used.push(value);
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
            ("Bearer s3cret".into(), vec!["s3cret".into()])
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
}
