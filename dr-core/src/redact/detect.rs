//! Which names, keys and URL parts hold secrets: what plan interpolation
//! registers with the [`Redactor`](super::Redactor).

use std::ops::Range;

use super::hex_value;

/// `%XX` sequences decoded (invalid ones kept); `+` is left as is.
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|&c| hex_value(c)),
                b.get(i + 2).and_then(|&c| hex_value(c)),
            )
        {
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Words of an identifier: split at non-alphanumerics and camelCase humps,
/// lower-cased.
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        cur.push(c.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Whether a `${env:NAME}` variable's value is a secret by its name alone.
pub(crate) fn is_secret_env_name(name: &str) -> bool {
    const CONTAINS: &[&str] = &[
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "PASS",
        "KEY",
        "CREDENTIAL",
        "AUTH",
        "CERT",
        "PRIVATE",
        "SIGNATURE",
        "CONNECTION_STRING",
        "CONNECTIONSTRING",
        "WEBHOOK",
    ];
    const WORDS: &[&str] = &["SAS", "SIG", "PWD"];
    let upper = name.to_ascii_uppercase();
    if upper == "PWD" || upper == "OLDPWD" {
        return false;
    }
    CONTAINS.iter().any(|m| upper.contains(m))
        || upper
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| WORDS.contains(&w))
}

/// Whether a plan key (a setting, a table key, a query parameter) names a
/// credential, so the value under it is a secret.
pub(crate) fn is_secret_key(key: &str) -> bool {
    const CONTAINS: &[&str] = &[
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "apikey",
        "credential",
        "privatekey",
        "connectionstring",
        "authorization",
    ];
    const WORDS: &[&str] = &[
        "key",
        "auth",
        "pass",
        "pwd",
        "sas",
        "sig",
        "signature",
        "credentials",
    ];
    let compact: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    CONTAINS.iter().any(|m| compact.contains(m))
        || words(key).iter().any(|w| WORDS.contains(&w.as_str()))
}

/// Whether a URL query parameter carries a credential.
fn is_secret_param(name: &str) -> bool {
    is_secret_key(name) || matches!(name.to_ascii_lowercase().as_str(), "code" | "access_code")
}

/// Whether a plan key names a webhook URL (`webhook`, `webhook_url`,
/// `slack_webhook`, `hook_url`, ...): for Slack, Teams and most incoming
/// webhooks whoever has the URL can post, so the value is a credential.
pub(crate) fn is_webhook_key(key: &str) -> bool {
    let w = words(key);
    let last = w.last().map(String::as_str);
    let before = w.len().checked_sub(2).map(|i| w[i].as_str());
    matches!(last, Some("webhook" | "webhooks"))
        || (matches!(last, Some("url" | "urls" | "uri" | "uris"))
            && matches!(before, Some("webhook" | "hook")))
}

/// What of a webhook URL is a credential. For Slack, Teams and most incoming
/// webhooks the URL *is* the credential (whoever has it can post), and the
/// secret is its path or query (`https://hooks.slack.com/services/T0/B0/XXXX`),
/// so: the URL as written and as it is sent (parsed, normalised), its path and
/// query together and apart (what an access log or a proxy's error page
/// echoes), raw and percent-decoded, and its password. The scheme, host and
/// port are not secret and may be shown.
pub(crate) fn webhook_secrets(url: &str) -> Vec<String> {
    let url = url.trim();
    let mut out = vec![url.to_string()];
    let Ok(u) = reqwest::Url::parse(url) else {
        return out;
    };
    out.push(u.to_string());
    let path = (u.path() != "/").then(|| u.path().to_string());
    let query = u.query().filter(|q| !q.is_empty()).map(str::to_string);
    let both = match (&path, &query) {
        (_, Some(q)) => Some(format!("{}?{q}", u.path())),
        (Some(p), None) => Some(p.clone()),
        (None, None) => None,
    };
    for part in [path, query, both]
        .into_iter()
        .flatten()
        .chain(u.password().map(str::to_string))
    {
        out.push(percent_decode(&part));
        out.push(part);
    }
    out
}

/// Header names whose values are not credentials.
pub(crate) fn is_harmless_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("accept")
        || matches!(
            n.as_str(),
            "cache-control" | "connection" | "content-type" | "host" | "pragma" | "user-agent"
        )
}

/// `Bearer abc` -> `abc`: the credential after an authorization scheme word.
pub(crate) fn credential_after_scheme(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once(char::is_whitespace)?;
    let rest = rest.trim();
    (!scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphabetic()) && !rest.is_empty())
        .then_some(rest)
}

/// The secret-bearing parts of one URL inside a string (byte ranges).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct UrlParts {
    /// `scheme://user:PASSWORD@host`.
    pub password: Option<Range<usize>>,
    /// Everything after `?` (up to `#`).
    pub query: Option<Range<usize>>,
    /// Values of query parameters named like credentials.
    pub secret_params: Vec<Range<usize>>,
}

/// Finds the URLs (`scheme://...`, ending at whitespace or a quote) in `text`.
pub(crate) fn scan_urls(text: &str) -> Vec<UrlParts> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(k) = text[from..].find("://").map(|k| k + from) {
        from = k + 3;
        let mut s = k;
        while s > 0 && (b[s - 1].is_ascii_alphanumeric() || matches!(b[s - 1], b'+' | b'-' | b'.'))
        {
            s -= 1;
        }
        while s < k && !b[s].is_ascii_alphabetic() {
            s += 1;
        }
        if s == k {
            continue; // no scheme
        }
        let start = k + 3;
        let end = b[start..]
            .iter()
            .position(|&c| {
                c.is_ascii_whitespace() || matches!(c, b'"' | b'\'' | b'<' | b'>' | b'`')
            })
            .map_or(b.len(), |p| start + p);
        let auth_end = b[start..end]
            .iter()
            .position(|&c| matches!(c, b'/' | b'?' | b'#'))
            .map_or(end, |p| start + p);
        let mut parts = UrlParts::default();
        if let Some(at) = b[start..auth_end].iter().rposition(|&c| c == b'@') {
            let at = start + at;
            if let Some(colon) = b[start..at].iter().position(|&c| c == b':') {
                let pw = start + colon + 1..at;
                if !pw.is_empty() {
                    parts.password = Some(pw);
                }
            }
        }
        if let Some(q) = b[auth_end..end].iter().position(|&c| c == b'?') {
            let q = auth_end + q + 1;
            let q_end = b[q..end]
                .iter()
                .position(|&c| c == b'#')
                .map_or(end, |p| q + p);
            parts.query = Some(q..q_end);
            let mut p = q;
            for pair in text[q..q_end].split(['&', ';']) {
                if let Some((name, value)) = pair.split_once('=')
                    && !value.is_empty()
                    && is_secret_param(&percent_decode(name))
                {
                    let v = p + name.len() + 1;
                    parts.secret_params.push(v..v + value.len());
                }
                p += pair.len() + 1;
            }
        }
        from = end.max(from);
        out.push(parts);
    }
    out
}
