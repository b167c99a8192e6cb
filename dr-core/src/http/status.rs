//! The answer of a remote API in terms of [`ErrorKind`]: status codes, `Retry-After`,
//! transport failures, request ids and error bodies. Pure functions, unit tested
//! row by row against the table in the [module docs](super).

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::ErrorKind;
use crate::parse_retry_after;

/// The request-id headers a client reads when it is given no list of its own:
/// Cloudflare, Azure Resource Manager, AWS (JSON and REST/XML APIs) and the
/// common `x-request-id`, in that order of preference.
pub const DEFAULT_REQUEST_ID_HEADERS: &[&str] = &[
    "cf-ray",
    "x-ms-request-id",
    "x-amzn-requestid",
    "x-amz-request-id",
    "x-request-id",
];

/// Request ids longer than this are cut: they end up in every error message.
const MAX_REQUEST_ID: usize = 128;

/// How much of a body that is not a known error envelope is quoted in a message.
const EXCERPT: usize = 200;

/// The [`ErrorKind`] of an HTTP answer, or `None` when `status` is a success (2xx).
///
/// `headers` is read for `Retry-After` on 429 and 503 only. See the table in the
/// [module docs](super).
///
/// ```
/// use dr_core::ErrorKind;
/// use dr_core::http::classify;
/// use reqwest::StatusCode;
/// use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
///
/// let mut headers = HeaderMap::new();
/// headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
/// assert_eq!(
///     classify(StatusCode::TOO_MANY_REQUESTS, &headers),
///     Some(ErrorKind::Throttled { retry_after: Some(std::time::Duration::from_secs(7)) })
/// );
/// assert_eq!(classify(StatusCode::NO_CONTENT, &headers), None);
/// ```
pub fn classify(status: StatusCode, headers: &HeaderMap) -> Option<ErrorKind> {
    let kind = match status.as_u16() {
        200..=299 => return None,
        429 => ErrorKind::Throttled {
            retry_after: retry_after(headers),
        },
        503 => match retry_after(headers) {
            Some(after) => ErrorKind::Throttled {
                retry_after: Some(after),
            },
            None => ErrorKind::Transient,
        },
        408 => ErrorKind::Timeout,
        401 | 403 => ErrorKind::Auth,
        404 => ErrorKind::NotFound,
        409 | 412 | 423 => ErrorKind::Conflict,
        400..=499 => ErrorKind::InvalidRequest,
        500..=599 => ErrorKind::Transient,
        // 1xx never reaches a caller; 3xx is a redirect reqwest did not follow
        // (too many, or 304 to a request that sent no validator).
        _ => ErrorKind::Fatal,
    };
    Some(kind)
}

/// The [`ErrorKind`] of a request that got no HTTP answer.
///
/// A timeout (connect or total) is [`ErrorKind::Timeout`]; a request that could
/// not be built (bad URL, bad header value) is [`ErrorKind::InvalidRequest`]; a
/// redirect loop or an undecodable body is [`ErrorKind::Fatal`]; everything else
/// (connection refused or reset, TLS handshake, a body cut short) is
/// [`ErrorKind::Transient`].
pub fn transport_kind(e: &reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_builder() {
        ErrorKind::InvalidRequest
    } else if e.is_redirect() || e.is_decode() {
        ErrorKind::Fatal
    } else {
        ErrorKind::Transient
    }
}

/// A reqwest error as text, with its causes (`error sending request: tcp connect
/// error: Connection refused`) and never the URL: the URL may carry a signature or
/// token in its query, a password, or (webhooks) a secret path.
pub fn error_text(e: &reqwest::Error) -> String {
    let mut out = String::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut first = true;
    while let Some(err) = next {
        let text = if first {
            // reqwest appends ` for url (...)` to its own message; never show it.
            strip_url(&err.to_string())
        } else {
            err.to_string()
        };
        first = false;
        if !text.is_empty() && !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        next = err.source();
    }
    out
}

/// `error sending request for url (http://..)` -> `error sending request`.
fn strip_url(text: &str) -> String {
    match text.find(" for url (") {
        Some(i) => text[..i].to_string(),
        None => text.to_string(),
    }
}

/// The `Retry-After` header as a wait: delta-seconds (`"120"`, also fractional
/// `"1.5"`) or an HTTP date (IMF-fixdate, RFC 850 or asctime form), counted from
/// now; a date in the past is zero. A number too large for a [`Duration`]
/// (`"99999999999999999999"`) is [`Duration::MAX`]: a wait longer than any cap,
/// never "no wait asked". Absent or unreadable: `None`.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, SystemTime::now())
}

/// The first of `names` present in `headers` with a printable value, trimmed and
/// cut to 128 characters. Header names are matched case-insensitively.
///
/// ```
/// use dr_core::http::request_id;
/// use reqwest::header::{HeaderMap, HeaderValue};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("x-ms-request-id", HeaderValue::from_static("7f3c"));
/// assert_eq!(request_id(&headers, &["x-ms-request-id"]).as_deref(), Some("7f3c"));
/// assert_eq!(request_id(&headers, &["cf-ray"]), None);
/// ```
pub fn request_id<S: AsRef<str>>(headers: &HeaderMap, names: &[S]) -> Option<String> {
    names.iter().find_map(|name| {
        let v = headers.get(name.as_ref())?.to_str().ok()?.trim();
        (!v.is_empty()).then(|| v.chars().take(MAX_REQUEST_ID).collect())
    })
}

/// The error text of a response body, from the common JSON error envelopes:
///
/// - `{"error":{"code":"..","message":".."}}` (Azure Resource Manager, Google):
///   `code: message`;
/// - `{"errors":[{"code":..,"message":".."}, ..]}` (Cloudflare, GitHub):
///   `code: message; ..`;
/// - `{"error":"..","error_description":".."}` (OAuth 2, Azure AD): `error: description`;
/// - `{"message":".."}` or `{"Message":".."}` with an optional `code` / `__type` (AWS JSON APIs);
///
/// else the first 200 characters of the body, or a note that the body was empty.
pub fn error_detail(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body)
        && let Some(text) = envelope_text(&v)
    {
        return text;
    }
    let excerpt: String = body
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(EXCERPT)
        .collect();
    if excerpt.is_empty() {
        "no error details in the response".to_string()
    } else {
        format!("response: {excerpt}")
    }
}

fn envelope_text(v: &serde_json::Value) -> Option<String> {
    let code_message = |o: &serde_json::Value| -> Option<String> {
        let message = o
            .get("message")
            .or_else(|| o.get("Message"))?
            .as_str()?
            .trim();
        let code = o.get("code").or_else(|| o.get("__type"));
        Some(match code {
            Some(serde_json::Value::String(c)) if !c.is_empty() => format!("{c}: {message}"),
            Some(serde_json::Value::Number(c)) => format!("{c}: {message}"),
            _ => message.to_string(),
        })
    };
    match v.get("error") {
        Some(e @ serde_json::Value::Object(_)) => return code_message(e),
        Some(serde_json::Value::String(e)) => {
            return Some(match v.get("error_description").and_then(|d| d.as_str()) {
                Some(d) => format!("{e}: {d}"),
                None => e.clone(),
            });
        }
        _ => {}
    }
    if let Some(errors) = v.get("errors").and_then(|e| e.as_array()) {
        let all: Vec<String> = errors.iter().filter_map(code_message).collect();
        if !all.is_empty() {
            return Some(all.join("; "));
        }
    }
    code_message(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn with_retry_after(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static(value));
        h
    }

    fn kind(status: u16, headers: &HeaderMap) -> Option<ErrorKind> {
        classify(StatusCode::from_u16(status).unwrap(), headers)
    }

    #[test]
    fn every_row_of_the_status_table() {
        let none = HeaderMap::new();
        let seven = with_retry_after("7");
        let s7 = Some(Duration::from_secs(7));
        let rows: &[(u16, &HeaderMap, Option<ErrorKind>)] = &[
            (200, &seven, None),
            (201, &none, None),
            (202, &seven, None),
            (204, &none, None),
            (429, &seven, Some(ErrorKind::Throttled { retry_after: s7 })),
            (429, &none, Some(ErrorKind::Throttled { retry_after: None })),
            (408, &seven, Some(ErrorKind::Timeout)),
            (500, &seven, Some(ErrorKind::Transient)),
            (502, &none, Some(ErrorKind::Transient)),
            (503, &none, Some(ErrorKind::Transient)),
            (503, &seven, Some(ErrorKind::Throttled { retry_after: s7 })),
            (504, &none, Some(ErrorKind::Transient)),
            (599, &none, Some(ErrorKind::Transient)),
            (401, &none, Some(ErrorKind::Auth)),
            (403, &none, Some(ErrorKind::Auth)),
            (404, &none, Some(ErrorKind::NotFound)),
            (409, &none, Some(ErrorKind::Conflict)),
            (412, &none, Some(ErrorKind::Conflict)),
            (423, &none, Some(ErrorKind::Conflict)),
            (400, &seven, Some(ErrorKind::InvalidRequest)),
            (405, &none, Some(ErrorKind::InvalidRequest)),
            (410, &none, Some(ErrorKind::InvalidRequest)),
            (422, &none, Some(ErrorKind::InvalidRequest)),
            (499, &none, Some(ErrorKind::InvalidRequest)),
            (304, &none, Some(ErrorKind::Fatal)),
            (310, &none, Some(ErrorKind::Fatal)),
        ];
        for (status, headers, want) in rows {
            assert_eq!(&kind(*status, headers), want, "HTTP {status}");
        }
    }

    #[test]
    fn retry_after_as_seconds_or_an_http_date() {
        // Wed, 21 Oct 2015 07:28:00 GMT
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let p = |v| parse_retry_after(v, now);
        assert_eq!(p("30"), Some(Duration::from_secs(30)));
        assert_eq!(p(" 0 "), Some(Duration::ZERO));
        assert_eq!(p("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(
            p("Wed, 21 Oct 2015 07:28:30 GMT"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            p("Wednesday, 21-Oct-15 07:29:00 GMT"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(p("Wed Oct 21 07:28:05 2015"), Some(Duration::from_secs(5)));
        assert_eq!(p("Wed, 21 Oct 2015 07:00:00 GMT"), Some(Duration::ZERO));
        // Too large to represent is longer than any cap, not "no wait asked".
        assert_eq!(p("99999999999999999999"), Some(Duration::MAX));
        assert_eq!(p("1e30"), None);
        assert_eq!(p("99999999999999999999.5"), Some(Duration::MAX));
        for bad in ["", "soon", "-5", "-1.5", "NaN", "inf", "12abc"] {
            assert_eq!(p(bad), None, "{bad:?}");
        }
        assert_eq!(retry_after(&HeaderMap::new()), None);
        assert_eq!(
            retry_after(&with_retry_after("120")),
            Some(Duration::from_secs(120))
        );
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_bytes(b"\xff1").unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn request_id_takes_the_first_listed_header_present() {
        let mut h = HeaderMap::new();
        h.insert("X-Request-Id", HeaderValue::from_static("generic"));
        h.insert("x-ms-request-id", HeaderValue::from_static(" arm-7f3c "));
        h.insert("cf-ray", HeaderValue::from_static(""));
        assert_eq!(
            request_id(&h, DEFAULT_REQUEST_ID_HEADERS).as_deref(),
            Some("arm-7f3c"),
            "cf-ray is empty, so x-ms-request-id wins and is trimmed"
        );
        assert_eq!(
            request_id(&h, &["X-REQUEST-ID", "x-ms-request-id"]).as_deref(),
            Some("generic")
        );
        assert_eq!(request_id(&h, &["x-amzn-requestid"]), None);
        assert_eq!(request_id(&h, &[] as &[&str]), None);
        let long = "a".repeat(500);
        h.insert("x-amzn-requestid", HeaderValue::from_str(&long).unwrap());
        assert_eq!(
            request_id(&h, &["x-amzn-requestid"]).map(|s| s.len()),
            Some(128)
        );
        h.insert(
            "x-amz-request-id",
            HeaderValue::from_bytes(b"\xfe").unwrap(),
        );
        assert_eq!(request_id(&h, &["x-amz-request-id"]), None);
    }

    #[test]
    fn error_detail_reads_the_common_envelopes() {
        let cases = [
            (
                r#"{"error":{"code":"ResourceNotFound","message":"The Resource 'x' was not found.","details":[]}}"#,
                "ResourceNotFound: The Resource 'x' was not found.",
            ),
            (
                r#"{"success":false,"errors":[{"code":7003,"message":"No route"},{"code":1002,"message":"Invalid pool"}]}"#,
                "7003: No route; 1002: Invalid pool",
            ),
            (
                r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret"}"#,
                "invalid_client: AADSTS7000215: Invalid client secret",
            ),
            (
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
                "ThrottlingException: Rate exceeded",
            ),
            (
                r#"{"Message":"User is not authorized"}"#,
                "User is not authorized",
            ),
            (
                "<html>\n  <body>Bad   Gateway</body></html>",
                "response: <html> <body>Bad Gateway</body></html>",
            ),
            ("", "no error details in the response"),
            ("{\"unrelated\":1}", "response: {\"unrelated\":1}"),
        ];
        for (body, want) in cases {
            assert_eq!(error_detail(body), want, "{body}");
        }
        assert_eq!(
            error_detail(&"x".repeat(1000)).len(),
            "response: ".len() + 200
        );
    }

    #[test]
    fn the_url_is_cut_from_reqwest_messages() {
        assert_eq!(
            strip_url("error sending request for url (http://h/p?sig=secret)"),
            "error sending request"
        );
        assert_eq!(strip_url("builder error"), "builder error");
    }
}
