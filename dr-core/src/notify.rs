//! The `notify` webhook POST, shared by the executor's `notify` step and
//! `dr watch`'s approval requests.
//!
//! # Delivery: at least once, with a stable id
//!
//! A webhook has no state dr could read back, so when a POST got no answer (a
//! timeout, a 503, dr killed mid-call) dr cannot tell whether it arrived: it
//! sends it again (the retry, or `dr resume`). Every notification therefore
//! carries a delivery id, the same on every one of its sends and different for
//! every other notification, in the `Idempotency-Key` header
//! ([`DELIVERY_ID_HEADER`]) and, for the `webhook` format, in the body's
//! `delivery_id`: a receiver that must not act twice (a pager, an automation)
//! drops a second delivery with an id it has seen. The id is derived, never
//! random ([`notify_delivery_id`]), so it survives the process.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ProviderError;

/// The header that carries a notification's delivery id
/// ([`notify_delivery_id`]): `Idempotency-Key`, as the IETF HTTP API draft and
/// the APIs that deduplicate requests name it. A plan's own `headers` entry of
/// that name is sent instead.
pub const DELIVERY_ID_HEADER: &str = "Idempotency-Key";

/// The delivery id of a notification: the same every time it is sent (a retry
/// after an error, a `dr resume` after dr died during the POST), different for
/// every other notification. Webhooks are delivered at least once (dr cannot
/// ask a webhook whether a POST that got no answer arrived, so it sends it
/// again); the id, in the [`DELIVERY_ID_HEADER`] header and the body's
/// `delivery_id`, lets a receiver that must not act twice drop a repeat. `scope` is what it belongs to, the run's id for a
/// run (`dr resume` continues the run under its id), and `what` names the
/// notification within it: a `notify` step's id (a run-level notification
/// would name its target, so that, say, a PagerDuty `dedup_key` is shared by
/// the trigger and the resolve of one incident). `dr watch` uses the plan and
/// the time of the event as the scope, and the event and step as `what`.
///
/// 32 lowercase hex digits: the first 16 bytes of SHA-256 over both, each
/// length-prefixed, so no two `(run_id, what)` pairs share an id by
/// concatenation.
///
/// ```
/// let a = dr_core::notify_delivery_id("20240101-000000-abc123", "tell");
/// assert_eq!(a, dr_core::notify_delivery_id("20240101-000000-abc123", "tell"));
/// assert_ne!(a, dr_core::notify_delivery_id("20240101-000000-abc123", "tell-again"));
/// assert_eq!(a.len(), 32);
/// ```
pub fn notify_delivery_id(scope: &str, what: &str) -> String {
    let mut h = Sha256::new();
    for part in ["dr.notify.v1", scope, what] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// POSTs `body` to the webhook through the shared HTTP layer with the delivery
/// id in [`DELIVERY_ID_HEADER`]. Only a 2xx is delivered: a redirect is never
/// followed (the POST would become a GET, or take the headers elsewhere) and
/// fails naming its status, like any other answer; statuses map by the layer's
/// table (a 429 or 503 with `Retry-After` is `throttled`, so the retry waits as
/// asked) and messages never show the URL, whose path often is the secret.
pub(crate) async fn notify(
    url: &str,
    headers: &BTreeMap<String, String>,
    body: &Value,
    delivery_id: &str,
) -> Result<(), ProviderError> {
    let client = crate::http::HttpClient::builder("notify")
        .timeout(Some(Duration::from_secs(30)))
        .build()
        .map_err(|e| ProviderError::fatal(e.to_string()).with_provider("notify"))?;
    let mut req = client.request(reqwest::Method::POST, url).json(body);
    if !headers
        .keys()
        .any(|k| k.eq_ignore_ascii_case(DELIVERY_ID_HEADER))
    {
        req = req.header(DELIVERY_ID_HEADER, delivery_id);
    }
    for (k, v) in headers {
        req = req.header(k, v);
    }
    client.send("webhook", req).await?;
    Ok(())
}

/// How a webhook URL is shown (journal, events): its origin only, the rest
/// hidden (the path and query of a Slack or Teams webhook are the credential).
pub(crate) fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) if u.has_host() => {
            format!("{}/{}", u.origin().ascii_serialization(), crate::REDACTED)
        }
        _ => crate::REDACTED.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The id is a function of the run and the notification alone: equal for
    /// equal inputs (across processes: a fixed value), apart otherwise.
    #[test]
    fn the_delivery_id_is_derived_from_the_run_and_the_step_not_random() {
        let id = notify_delivery_id("20250301-101500-a1b2c3", "page-oncall");
        assert_eq!(
            id,
            notify_delivery_id("20250301-101500-a1b2c3", "page-oncall")
        );
        // Pinned (SHA-256 of the length-prefixed parts, computed apart): a
        // resume in another process or by another build of dr must find the
        // same id for the same run and step.
        assert_eq!(id, "af38bd2029d576c5a6f0b735c2de518e");
        assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()));
        for (run, what) in [
            ("20250301-101500-a1b2c4", "page-oncall"),
            ("20250301-101500-a1b2c3", "page-oncall2"),
            ("20250301-101500-a1b2c3p", "age-oncall"),
            ("", "20250301-101500-a1b2c3page-oncall"),
        ] {
            assert_ne!(id, notify_delivery_id(run, what), "{run} {what}");
        }
    }

    #[test]
    fn a_webhook_url_is_shown_by_its_origin() {
        assert_eq!(
            shown_url("https://hooks.slack.com/services/T0/B0/XXXX?x=1"),
            "https://hooks.slack.com/******"
        );
        assert_eq!(
            shown_url("http://u:pw@127.0.0.1:8080/hook"),
            "http://127.0.0.1:8080/******"
        );
        assert_eq!(shown_url("not a url"), "******");
    }
}

/// What a `[plan.notify]` target could not be told: the target as shown
/// ([`shown_url`]) and the error (redacted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Undelivered {
    pub target: String,
    pub error: String,
}

/// Sends `event` to every `[plan.notify]` target of `plan` that listens for
/// it: `{"plan","run_id","event","text","delivery_id"}` plus the fields of
/// `extra`. The delivery id is derived from `scope` (the run id, or the watch's
/// trigger), the event, the target's place and `occurrence` (an event that may
/// happen again in one run: `halted` in two processes), so a retry or a
/// resend of the same notification shares it. One attempt per target (30 s at
/// most): a failure is returned, never raised; notifying never fails a run.
pub(crate) async fn send_plan_event(
    plan: &crate::Plan,
    run_id: Option<&str>,
    scope: &str,
    occurrence: u64,
    event: crate::plan::NotifyEvent,
    text: &str,
    extra: Value,
) -> Vec<Undelivered> {
    let Some(n) = &plan.notify else {
        return Vec::new();
    };
    if !n.on.contains(&event) {
        return Vec::new();
    }
    let mut failed = Vec::new();
    for (i, t) in n.targets.iter().enumerate() {
        let delivery = notify_delivery_id(
            scope,
            &format!("{} target {i} occurrence {occurrence}", event.as_str()),
        );
        let msg = Message {
            plan: &plan.name,
            run_id,
            event,
            text: plan.redactor().redact(text),
            delivery: &delivery,
            extra: &extra,
            // One incident per run (or per watch trigger) and target: the
            // trigger and the resolve share it.
            dedup_key: notify_delivery_id(scope, &format!("pagerduty target {i}")),
        };
        let Some(body) = body_of(t, &msg) else {
            continue;
        };
        if let Err(e) = notify(&t.url, &t.headers, &body, &delivery).await {
            failed.push(Undelivered {
                target: shown_url(&t.url),
                error: plan.redactor().redact(&e.to_string()),
            });
        }
    }
    failed
}

/// One run-level notification, before it takes a target's format.
pub(crate) struct Message<'a> {
    pub plan: &'a str,
    pub run_id: Option<&'a str>,
    pub event: crate::plan::NotifyEvent,
    /// Redacted.
    pub text: String,
    pub delivery: &'a str,
    /// Event fields (`status`, `error`, `halted_by`, `resumed`, `mode`, ..).
    pub extra: &'a Value,
    /// PagerDuty's incident key.
    pub dedup_key: String,
}

impl Message<'_> {
    /// The event's fields worth showing a person, as `(name, value)`.
    fn facts(&self) -> Vec<(String, String)> {
        let mut out = vec![("Plan".to_string(), self.plan.to_string())];
        if let Some(r) = self.run_id {
            out.push(("Run".into(), r.to_string()));
        }
        out.push(("Event".into(), self.event.as_str().to_string()));
        if let Value::Object(m) = self.extra {
            for (k, v) in m {
                let shown = match v {
                    Value::Null => continue,
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.push((k.replace('_', " "), shown));
            }
        }
        out
    }

    /// The command a person runs next, if any.
    fn next(&self) -> Option<String> {
        use crate::plan::NotifyEvent as E;
        let run = self.run_id?;
        match self.event {
            E::Halted | E::Failed | E::Interrupted => {
                Some(format!("dr resume {run} (see dr report {run} first)"))
            }
            E::Succeeded | E::RolledBack | E::AfterFinished => Some(format!("dr report {run}")),
            _ => None,
        }
    }

    fn title(&self) -> String {
        let t = format!("dr: plan {} {}", self.plan, self.event.as_str());
        t.chars().take(150).collect()
    }
}

/// The body `target` gets for `msg`; `None` when its format sends nothing
/// for this event (PagerDuty: only incidents and their resolution).
pub(crate) fn body_of(target: &crate::plan::NotifyTarget, msg: &Message<'_>) -> Option<Value> {
    use crate::plan::{NotifyEvent as E, NotifyFormat as F};
    let facts = msg.facts();
    match target.format {
        F::Webhook => {
            let mut body = serde_json::json!({
                "plan": msg.plan,
                "run_id": msg.run_id,
                "event": msg.event.as_str(),
                "text": msg.text,
                "delivery_id": msg.delivery,
            });
            if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), msg.extra) {
                for (k, v) in extra {
                    b.insert(k.clone(), v.clone());
                }
            }
            Some(body)
        }
        F::Slack => {
            // Block Kit: a section holds at most 10 fields of 2000 characters.
            let fields: Vec<Value> = facts
                .iter()
                .take(10)
                .map(|(k, v)| {
                    let v: String = v.chars().take(1900).collect();
                    serde_json::json!({"type": "mrkdwn", "text": format!("*{k}*\n{v}")})
                })
                .collect();
            let mut blocks = vec![
                serde_json::json!({"type": "header", "text": {"type": "plain_text", "text": msg.title()}}),
                serde_json::json!({"type": "section", "fields": fields}),
                serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": msg.text.chars().take(2900).collect::<String>()}}),
            ];
            if let Some(next) = msg.next() {
                blocks.push(serde_json::json!({
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": format!("Next: `{next}`")}],
                }));
            }
            Some(serde_json::json!({ "text": msg.text, "blocks": blocks }))
        }
        F::Teams => {
            let mut body = vec![
                serde_json::json!({"type": "TextBlock", "text": msg.title(), "weight": "Bolder", "size": "Medium", "wrap": true}),
                serde_json::json!({"type": "FactSet", "facts": facts.iter().map(|(k, v)| serde_json::json!({"title": k, "value": v})).collect::<Vec<_>>()}),
                serde_json::json!({"type": "TextBlock", "text": msg.text, "wrap": true}),
            ];
            if let Some(next) = msg.next() {
                body.push(serde_json::json!({"type": "TextBlock", "text": format!("Next: {next}"), "wrap": true, "isSubtle": true}));
            }
            Some(serde_json::json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": null,
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": body,
                    },
                }],
            }))
        }
        F::Pagerduty => {
            let action = match msg.event {
                E::Halted | E::Failed | E::RolledBack | E::WatchTriggered => "trigger",
                E::Succeeded => "resolve",
                _ => return None,
            };
            let mut body = serde_json::json!({
                "routing_key": target.routing_key.clone().unwrap_or_default(),
                "event_action": action,
                "dedup_key": msg.dedup_key,
            });
            if action == "trigger" {
                let details: serde_json::Map<String, Value> = facts
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect();
                body["payload"] = serde_json::json!({
                    "summary": msg.text.chars().take(1024).collect::<String>(),
                    "source": format!("dr plan {}", msg.plan),
                    "severity": if msg.event == E::WatchTriggered { "error" } else { "critical" },
                    "component": msg.plan,
                    "custom_details": details,
                });
            }
            Some(body)
        }
    }
}
