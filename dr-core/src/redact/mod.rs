//! Keeping secrets out of everything the executor writes.
//!
//! Two halves: deciding *what* is secret when a plan is loaded (the
//! classification functions below, applied by the plan loader), and hiding
//! those values, raw or encoded, in any text ([`Redactor`]).

use std::fmt;

use std::sync::{Arc, LazyLock, RwLock};

/// What replaces a secret.
pub const REDACTED: &str = "******";

/// Replaces every occurrence of the plan's secrets with `******`.
///
/// # What is secret
///
/// Decided when the plan is loaded. A value substituted for `${env:VAR}` is a
/// secret when
/// - the variable's name contains, case-insensitively, one of `TOKEN`,
///   `SECRET`, `PASSWORD`, `PASSWD`, `PASS`, `KEY`, `CREDENTIAL`, `AUTH`,
///   `CERT`, `PRIVATE`, `SIGNATURE`, `CONNECTION_STRING`, `WEBHOOK`, or has
///   `SAS`, `SIG` or `PWD` as a `_`-separated word (`PWD` and `OLDPWD` alone
///   are the shell's working directory, not secrets); or
/// - it lands in a secret position: the value of a key named like a credential
///   (a word `password`, `passwd`, `pwd`, `pass`, `secret`, `token`, `key`,
///   `auth`, `authorization`, `credential(s)`, `sas`, `sig`, `signature`, or
///   containing `password`, `secret`, `token`, `apikey`, `credential`,
///   `privatekey`, `connectionstring`, `passphrase`, ignoring case, `_`, `-`
///   and camelCase), a header value (anything under a `headers` table, except
///   the harmless `Accept*`, `Cache-Control`, `Connection`, `Content-Type`,
///   `Host`, `Pragma`, `User-Agent`), or the password or the query string of a
///   URL (`scheme://user:PASSWORD@host/path?QUERY`).
///
/// Any other substituted value (an account or zone id, a region, a pool, a
/// step id) is kept verbatim: the journal needs it to resume and roll back.
/// So is any value that is exactly a step id, a resource name or a router
/// target of the plan, wherever else it appears.
///
/// Literal values are secrets too when they are credentials however written:
/// the value of a credential-named key, a header value (and, for
/// `Bearer abc`-style values, the part after the scheme), a URL's password,
/// and the value of a URL query parameter named like a credential (`token`,
/// `sig`, `code`, `api_key`, ...).
///
/// Webhook URLs are credentials: for Slack, Teams and most incoming webhooks
/// whoever has the URL can post. Every `notify` step's `url` (see
/// `Plan::webhook_urls`), the value of a key
/// named like a webhook (`webhook`, `webhook_url`, `slack_webhook`,
/// `hook_url`, ...) and a variable whose name contains `WEBHOOK` are secret:
/// the URL as written and as sent, and its path and query, together and apart,
/// raw and percent-decoded (the host is not secret). A PagerDuty `routing_key`
/// is secret by its key's name.
///
/// # How it hides them
///
/// Each secret is found raw and in its encoded forms, in any mix:
/// percent-encoded (`%20` or `+` for a space, upper- or lower-case hex) and
/// JSON-escaped (`\"`, `\\`, `\n`, `\u0022`, ...), so `pa ss"w0rd` is hidden in
/// `token=pa%20ss%22w0rd` and in `{\"pw\":\"pa ss\\\"w0rd\"}`. Base64 and double
/// encodings are not recognised.
///
/// Values shorter than 4 characters are left alone: replacing every `1` or `us`
/// in a journal would destroy it while protecting nothing worth protecting.
///
/// # Credentials the process holds
///
/// Besides the plan's own secrets, every redactor hides the credentials
/// registered with [`hide_secret`]: what a provider takes from its environment
/// or fetches at run time (`CLOUDFLARE_API_TOKEN`, an Azure token, AWS's secret
/// key and session token), which no plan names. An API error echoing an
/// `Authorization` header is then hidden in events, the journal and reports as
/// a plan secret would be; `Redactor::default()` hides those alone (what the CLI
/// passes its log lines through).
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Arc<Vec<String>>,
}

impl Redactor {
    /// A redactor for these secret values.
    pub fn new<I: IntoIterator<Item = String>>(secrets: I) -> Self {
        let mut v: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.chars().count() >= 4)
            .collect();
        // Longest first, so a secret containing another is replaced whole.
        v.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        v.dedup();
        Redactor {
            secrets: Arc::new(v),
        }
    }

    /// A redactor hiding this one's secrets and `other`'s (a plan and its
    /// child plans).
    #[cfg(feature = "engine")]
    pub(crate) fn merged(&self, other: &Redactor) -> Redactor {
        Redactor::new(self.secrets.iter().chain(other.secrets.iter()).cloned())
    }

    /// Whether there is nothing to hide: no secret of its own and none
    /// registered process-wide ([`hide_secret`]).
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty() && process_secrets().is_empty()
    }

    /// Registers every secret of this redactor process-wide ([`hide_secret`]),
    /// so that text no redactor of this plan sees (a third-party crate's log
    /// lines) hides them too.
    pub fn hide_everywhere(&self) {
        self.secrets.iter().for_each(|s| hide_secret(s));
    }

    /// `text` with every secret, raw or encoded, replaced: this redactor's
    /// and those registered process-wide ([`hide_secret`]).
    pub fn redact(&self, text: &str) -> String {
        let global = process_secrets();
        if global.is_empty() {
            return redact_with(&self.secrets, text);
        }
        let mut all: Vec<&String> = self.secrets.iter().chain(global.iter()).collect();
        all.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        all.dedup();
        redact_with(&all, text)
    }

    /// Redacts every string (and object key) inside a JSON value, in place.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        if self.is_empty() {
            return;
        }
        match value {
            serde_json::Value::String(s) => {
                let r = self.redact(s);
                if r != *s {
                    *s = r;
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|v| self.redact_json(v)),
            serde_json::Value::Object(m) => {
                let entries: Vec<(String, serde_json::Value)> =
                    std::mem::take(m).into_iter().collect();
                for (k, mut v) in entries {
                    self.redact_json(&mut v);
                    m.insert(self.redact(&k), v);
                }
            }
            _ => {}
        }
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

/// `text` with each of `secrets` (sorted longest first), raw or encoded, replaced.
fn redact_with<S: AsRef<str>>(secrets: &[S], text: &str) -> String {
    if secrets.is_empty() {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let starts_a_secret = || {
            secrets
                .iter()
                .any(|s| s.as_ref().as_bytes().first() == Some(&bytes[i]))
        };
        let found = if may_start(bytes[i]) || starts_a_secret() {
            secrets
                .iter()
                .filter_map(|s| match_at(bytes, i, s.as_ref().as_bytes()))
                .find(|&end| end > i && text.is_char_boundary(end))
        } else {
            None
        };
        match found {
            Some(end) if text.is_char_boundary(i) => {
                out.push_str(&text[copied..i]);
                out.push_str(REDACTED);
                copied = end;
                i = end;
            }
            _ => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Credentials the process holds, longest first ([`hide_secret`]).
static PROCESS_SECRETS: LazyLock<RwLock<Arc<Vec<String>>>> = LazyLock::new(Default::default);

fn process_secrets() -> Arc<Vec<String>> {
    PROCESS_SECRETS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// Hides `secret` from every [`Redactor`] of the process from now on, whatever
/// plan it belongs to: how a provider registers a credential no plan names (a
/// token read from its environment, fetched from an identity endpoint or a
/// credentials chain). Call it when the credential is obtained, before it is
/// first sent. Values shorter than 4 characters are ignored, as in
/// [`Redactor::new`]; registering a value twice is harmless.
///
/// ```
/// dr_core::hide_secret("tok-from-the-environment");
/// assert_eq!(
///     dr_core::Redactor::default().redact("Authorization: Bearer tok-from-the-environment"),
///     "Authorization: Bearer ******"
/// );
/// ```
pub fn hide_secret(secret: &str) {
    if secret.chars().count() < 4 || process_secrets().iter().any(|s| s == secret) {
        return;
    }
    let mut guard = PROCESS_SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if guard.iter().any(|s| s == secret) {
        return;
    }
    let mut v = Vec::clone(&guard);
    v.push(secret.to_string());
    v.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    *guard = Arc::new(v);
}

/// Bytes that start an encoded form of some byte.
fn may_start(b: u8) -> bool {
    matches!(b, b'%' | b'+' | b'\\')
}

/// If `secret` occurs at `text[i..]`, raw or encoded byte by byte, where it
/// ends. A byte may match more than one way (a `\\` is a raw backslash or the
/// escape of one), so this backtracks, within a budget linear in the secret.
fn match_at(text: &[u8], start: usize, secret: &[u8]) -> Option<usize> {
    let first = candidates(text, start, *secret.first()?);
    if first.iter().all(Option::is_none) {
        return None;
    }
    let mut stack = vec![(first, 0usize)];
    let mut budget = 16 * secret.len() + 64;
    while let Some((cands, next)) = stack.last_mut() {
        budget = budget.checked_sub(1)?;
        match (*next..cands.len()).find(|&j| cands[j].is_some()) {
            None => {
                stack.pop();
            }
            Some(j) => {
                *next = j + 1;
                let end = cands[j].expect("found a candidate");
                let matched = stack.len();
                if matched == secret.len() {
                    return Some(end);
                }
                stack.push((candidates(text, end, secret[matched]), 0));
            }
        }
    }
    None
}

/// Where one byte `b` of a secret, found at `text[i..]`, ends: raw, `%XX`, `+`
/// for a space, or a JSON escape (whose backslash and letter may themselves be
/// percent-encoded).
fn candidates(text: &[u8], i: usize, b: u8) -> [Option<usize>; 4] {
    let mut out = [None; 4];
    let Some(&c) = text.get(i) else {
        return out;
    };
    if c == b || (b == b' ' && c == b'+') {
        out[0] = Some(i + 1);
    }
    out[1] = percent(text, i, b);
    // A JSON escape: `\` (or `%5C`) then the escape.
    let Some(after) = (if c == b'\\' {
        Some(i + 1)
    } else {
        percent(text, i, b'\\')
    }) else {
        return out;
    };
    let short = match b {
        b'"' => Some(b'"'),
        b'\\' => Some(b'\\'),
        b'/' => Some(b'/'),
        b'\n' => Some(b'n'),
        b'\r' => Some(b'r'),
        b'\t' => Some(b't'),
        0x08 => Some(b'b'),
        0x0c => Some(b'f'),
        _ => None,
    };
    out[2] = short.and_then(|e| raw_or_percent(text, after, e));
    if b < 0x80 {
        // `\u00XX`
        out[3] = raw_or_percent(text, after, b'u').and_then(|j| {
            format!("{b:04x}").bytes().try_fold(j, |j, h| {
                raw_or_percent(text, j, h)
                    .or_else(|| raw_or_percent(text, j, h.to_ascii_uppercase()))
            })
        });
    }
    out
}

fn raw_or_percent(text: &[u8], i: usize, b: u8) -> Option<usize> {
    if text.get(i) == Some(&b) {
        Some(i + 1)
    } else {
        percent(text, i, b)
    }
}

/// `%XX` (either case) encoding `b` at `text[i..]`.
fn percent(text: &[u8], i: usize, b: u8) -> Option<usize> {
    let t = text.get(i..i + 3)?;
    (t[0] == b'%' && hex_value(t[1])? << 4 | hex_value(t[2])? == b).then_some(i + 3)
}

pub(crate) fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(feature = "engine")]
mod detect;
#[cfg(feature = "engine")]
pub(crate) use detect::{
    credential_after_scheme, is_harmless_header, is_secret_env_name, is_secret_key, is_webhook_key,
    percent_decode, scan_urls, webhook_secrets,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_secrets_in_text_and_json() {
        let r = Redactor::new(["hunter22".to_string(), "abc".to_string()]);
        assert_eq!(r.redact("pw=hunter22;abc"), "pw=******;abc");
        let mut v = serde_json::json!({"a": ["x hunter22"], "hunter22": 1});
        r.redact_json(&mut v);
        assert_eq!(v, serde_json::json!({"a": ["x ******"], "******": 1}));
        assert!(!format!("{r:?}").contains("hunter22"));
    }

    #[test]
    fn hides_percent_encoded_and_json_escaped_forms() {
        let r = Redactor::new(["pa ss\"w0rd".to_string()]);
        for (text, want) in [
            ("token=pa%20ss%22w0rd&x=1", "token=******&x=1"),
            ("token=pa+ss%22w0rd", "token=******"),
            ("token=pa%20ss%22W0rd", "token=pa%20ss%22W0rd"), // not the secret
            ("TOKEN=%70a%20ss%22w0rd", "TOKEN=******"),
            (r#"{"pw":"pa ss\"w0rd"}"#, r#"{"pw":"******"}"#),
            (r#"{"pw":"pa ss\u0022w0rd"}"#, r#"{"pw":"******"}"#),
            ("body=pa%20ss%5C%22w0rd.", "body=******."),
            ("raw pa ss\"w0rd end", "raw ****** end"),
        ] {
            assert_eq!(r.redact(text), want, "{text}");
        }
        let r = Redactor::new(["C:\\x\\yz".to_string()]);
        assert_eq!(r.redact(r#"path "C:\\x\\yz""#), r#"path "******""#);
        assert_eq!(r.redact("p=C%3a%5Cx%5cyz"), "p=******");
        // Lower-case hex, multibyte characters.
        let r = Redactor::new(["pässwört".to_string()]);
        assert_eq!(
            r.redact("a=p%c3%a4ssw%C3%B6rt b=pässwört"),
            "a=****** b=******"
        );
    }

    #[test]
    fn short_values_are_not_redacted_and_longest_wins() {
        let r = Redactor::new([
            "us".to_string(),
            "s3cret".to_string(),
            "s3cret-long".to_string(),
        ]);
        assert_eq!(r.redact("us s3cret-long s3cret"), "us ****** ******");
        assert_eq!(Redactor::new(["abc".to_string()]).redact("abc"), "abc");
        // (`is_empty` also counts process-wide secrets, which other tests add.)
        assert_eq!(
            format!("{:?}", Redactor::new(["abc".to_string()])),
            "Redactor(0 secrets)"
        );
    }

    /// A credential a provider registers is hidden by every redactor, the
    /// plan's included, and longest-first holds across both lists.
    #[test]
    fn process_wide_secrets_are_hidden_by_every_redactor() {
        let plan = Redactor::new(["plan-secret-77f1".to_string()]);
        assert_eq!(
            plan.redact("Bearer env-token-4c2e9a"),
            "Bearer env-token-4c2e9a"
        );
        hide_secret("env-token-4c2e9a");
        hide_secret("env-token-4c2e9a");
        hide_secret("env"); // too short
        assert_eq!(
            plan.redact("Bearer env-token-4c2e9a plan-secret-77f1 env"),
            "Bearer ****** ****** env"
        );
        let mut v = serde_json::json!({"m": "x%20env-token-4c2e9a"});
        Redactor::default().redact_json(&mut v);
        assert_eq!(v, serde_json::json!({"m": "x%20******"}));
        assert!(!Redactor::default().is_empty());
        // A plan secret containing a process-wide one is still replaced whole.
        let longer = Redactor::new(["env-token-4c2e9a-and-more".to_string()]);
        assert_eq!(longer.redact("env-token-4c2e9a-and-more!"), "******!");
        // A plan's secrets can be made process-wide (the CLI's log lines).
        Redactor::new(["plan-only-9d3b".to_string()]).hide_everywhere();
        assert_eq!(Redactor::default().redact("plan-only-9d3b"), "******");
    }

    #[test]
    fn classifies_names_keys_and_headers() {
        for n in [
            "REDIS_PASSWORD",
            "CLOUDFLARE_API_TOKEN",
            "DR_TEST_SECRET",
            "AWS_SECRET_ACCESS_KEY",
            "PGPASS",
            "AZURE_STORAGE_SAS",
            "DB_PWD",
            "AUTH_HEADER",
            "TLS_CERT",
            "SSH_PRIVATE",
            "AZ_CONNECTION_STRING",
            "ApiKey",
        ] {
            assert!(is_secret_env_name(n), "{n}");
        }
        for n in [
            "CF_ACCOUNT_ID",
            "CF_ZONE_ID",
            "CF_POOL_EAST",
            "REGION",
            "STEP_ID",
            "PWD",
            "OLDPWD",
            "DR_TARGET",
        ] {
            assert!(!is_secret_env_name(n), "{n}");
        }
        for k in [
            "password",
            "token",
            "api_token",
            "apiKey",
            "api-key",
            "accessKey",
            "client_secret",
            "Authorization",
            "sas",
            "sig",
            "connection_string",
            "credentials",
            "auth",
            "PGPASSWORD",
            "routing_key",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "url",
            "id",
            "zone_id",
            "account_id",
            "region",
            "keyspace",
            "pools",
            "target",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
        assert!(is_harmless_header("Content-Type") && is_harmless_header("accept-encoding"));
        assert!(!is_harmless_header("X-Api-Key") && !is_harmless_header("Authorization"));
        assert_eq!(credential_after_scheme("Bearer abc.def"), Some("abc.def"));
        assert_eq!(credential_after_scheme("abcdef"), None);
    }

    /// What of a webhook URL is hidden: all of it, and its path and query
    /// however a log or an error page shows them; never its host alone.
    #[test]
    fn a_webhook_url_is_hidden_whole_and_by_its_secret_parts() {
        let url = "https://hooks.example:8443/services/T0/B0/XX%2Fsecret?sig=abc123";
        let r = Redactor::new(webhook_secrets(url));
        for (text, want) in [
            (url, "******"),
            (
                "POST /services/T0/B0/XX%2Fsecret?sig=abc123 502",
                "POST ****** 502",
            ),
            (
                "no route for /services/T0/B0/XX/secret",
                "no route for ******",
            ),
            ("query sig=abc123 rejected", "query ****** rejected"),
            (
                "connect hooks.example:8443 refused",
                "connect hooks.example:8443 refused",
            ),
        ] {
            assert_eq!(r.redact(text), want, "{text}");
        }
        // As sent: the default port and the host's case normalised.
        let r = Redactor::new(webhook_secrets("HTTPS://Hooks.Example:443/T0/B0/key-x"));
        assert_eq!(r.redact("https://hooks.example/T0/B0/key-x"), "******");
        // A URL that does not parse is hidden as written.
        assert_eq!(webhook_secrets("not a url"), ["not a url"]);
    }

    #[test]
    fn finds_url_passwords_and_queries() {
        let text = "curl https://user:p%40ss@host:8443/x?region=eu&sig=AbC%2Fd&token=t0k#frag rest";
        let urls = scan_urls(text);
        assert_eq!(urls.len(), 1);
        let u = &urls[0];
        assert_eq!(&text[u.password.clone().unwrap()], "p%40ss");
        assert_eq!(
            &text[u.query.clone().unwrap()],
            "region=eu&sig=AbC%2Fd&token=t0k"
        );
        let params: Vec<&str> = u.secret_params.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(params, ["AbC%2Fd", "t0k"]);
        assert_eq!(percent_decode("p%40ss+x%zz"), "p@ss+x%zz");

        let urls = scan_urls("redis://:pw@h:6379 and http://h/p and ://x");
        assert_eq!(urls.len(), 2);
        assert_eq!(urls[0].password, Some(9..11));
        assert_eq!(urls[1], detect::UrlParts::default());
        // `@` in the path is not userinfo.
        assert_eq!(scan_urls("https://h/a:b@c")[0].password, None);
    }
}
