//! The shared HTTP layer (`dr_core::http`) and the `notify` step on it, against
//! wiremock servers on free loopback ports.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dr_core::executor::{Event, Executor, RunOptions, RunStatus};
use dr_core::http::{
    Auth, BearerToken, HttpClient, Method, PoolConfig, RateLimiter, RequestBuilder, USER_AGENT,
};
use dr_core::retry::RetryPolicy;
use dr_core::{ErrorKind, LoadOptions, Plan, ProviderError, Registry, async_trait};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client(resource: &str) -> HttpClient {
    HttpClient::builder("azure.traffic_manager")
        .resource(resource)
        .auth(BearerToken::new("arm-s3cret-token"))
        .request_id_headers(&["x-ms-request-id"])
        .build()
        .unwrap()
}

/// Every text an error shows: `Display`, `Debug` and its sources.
fn all_text(e: &ProviderError) -> String {
    let mut out = format!("{e} {e:?}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(&format!(" {s} {s:?}"));
        source = s.source();
    }
    out
}

#[tokio::test]
async fn send_adds_the_bearer_token_and_user_agent_and_returns_a_success() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path("/subscriptions/s/endpoints/e"))
        .and(header("authorization", "Bearer arm-s3cret-token"))
        .and(header("user-agent", USER_AGENT))
        .and(body_json(
            json!({ "properties": { "endpointStatus": "Disabled" } }),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "name": "e" })))
        .expect(1)
        .mount(&server)
        .await;
    let c = client("tm");
    let req = c
        .request(
            Method::PATCH,
            format!("{}/subscriptions/s/endpoints/e", server.uri()),
        )
        .json(&json!({ "properties": { "endpointStatus": "Disabled" } }));
    let body: Value = c
        .send("PATCH endpoint", req)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, json!({ "name": "e" }));
    assert!(USER_AGENT.starts_with("dr/"), "{USER_AGENT}");
    assert!(!format!("{c:?}").contains("s3cret"), "{c:?}");
}

#[tokio::test]
async fn an_arm_429_is_throttled_with_retry_after_request_id_and_the_envelope_message() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "17")
                .insert_header("x-ms-request-id", "7f3c-arm")
                .set_body_json(json!({ "error": {
                    "code": "TooManyRequests",
                    "message": "The request is being throttled."
                }})),
        )
        .mount(&server)
        .await;
    let c = client("tm_east");
    let e = c
        .send("GET endpoint", c.request(Method::GET, server.uri()))
        .await
        .unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::Throttled {
            retry_after: Some(Duration::from_secs(17))
        }
    );
    assert_eq!(e.request_id(), Some("7f3c-arm"));
    assert_eq!(e.provider(), Some("azure.traffic_manager"));
    assert_eq!(e.resource(), Some("tm_east"));
    assert_eq!(
        e.message(),
        "GET endpoint: HTTP 429: TooManyRequests: The request is being throttled."
    );
}

#[tokio::test]
async fn statuses_map_by_the_one_table_end_to_end() {
    let server = MockServer::start().await;
    for (status, retry_after, want) in [
        (
            503,
            Some("3"),
            ErrorKind::Throttled {
                retry_after: Some(Duration::from_secs(3)),
            },
        ),
        (503, None, ErrorKind::Transient),
        (408, None, ErrorKind::Timeout),
        (403, None, ErrorKind::Auth),
        (404, None, ErrorKind::NotFound),
        (409, None, ErrorKind::Conflict),
        (422, None, ErrorKind::InvalidRequest),
    ] {
        server.reset().await;
        let mut t = ResponseTemplate::new(status);
        if let Some(r) = retry_after {
            t = t.insert_header("retry-after", r);
        }
        Mock::given(method("GET"))
            .respond_with(t)
            .mount(&server)
            .await;
        let c = client("r");
        let e = c
            .send("GET x", c.request(Method::GET, server.uri()))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &want, "HTTP {status} {retry_after:?}: {e}");
    }
}

#[tokio::test]
async fn errors_never_show_the_url_query_a_password_or_the_token() {
    // An answer with an error status.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500).set_body_string("internal"))
        .mount(&server)
        .await;
    let c = client("r");
    let url = format!("{}/blob?sig=query-s3cret&se=2030", server.uri());
    let e = c
        .send("GET blob", c.request(Method::GET, url))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Transient);
    let text = all_text(&e);
    assert!(!text.contains("query-s3cret"), "{text}");
    assert!(!text.contains("arm-s3cret-token"), "{text}");

    // No answer at all: the reqwest error (kept as the source) mentions the URL
    // unless it is removed.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let url = format!("http://user:pw-s3cret@{closed}/hook?token=query-s3cret");
    let e = c
        .send("POST webhook", c.request(Method::POST, url))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Transient, "{e}");
    assert!(e.message().starts_with("POST webhook: "), "{e}");
    assert!(std::error::Error::source(&e).is_some());
    let text = all_text(&e);
    for secret in ["query-s3cret", "pw-s3cret", "arm-s3cret-token", "/hook"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[tokio::test]
async fn a_call_slower_than_the_timeout_is_a_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let c = HttpClient::builder("p")
        .timeout(Some(Duration::from_millis(100)))
        .build()
        .unwrap();
    let e = c
        .send("GET slow", c.request(Method::GET, server.uri()))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Timeout, "{e}");
}

#[derive(Debug)]
struct NoToken;

#[async_trait]
impl Auth for NoToken {
    async fn apply(&self, _req: RequestBuilder) -> Result<RequestBuilder, ProviderError> {
        Err(ProviderError::new(
            ErrorKind::Auth,
            "token endpoint refused the client secret",
        ))
    }
}

#[tokio::test]
async fn an_auth_failure_sends_nothing_and_names_the_provider() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let c = HttpClient::builder("azure.storage")
        .resource("sto1")
        .auth(NoToken)
        .build()
        .unwrap();
    let e = c
        .send("GET account", c.request(Method::GET, server.uri()))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Auth);
    assert_eq!(
        (e.provider(), e.resource()),
        (Some("azure.storage"), Some("sto1"))
    );
}

#[test]
fn clients_share_one_pool_and_one_bucket_per_credential() {
    let limited = |resource: &str, token: &str| {
        HttpClient::builder("cloudflare.load_balancer")
            .resource(resource)
            .timeout(Some(Duration::from_secs(10)))
            .rate_limiter(RateLimiter::per_credential(
                "http-layer-test",
                token,
                100,
                3.0,
            ))
            .build()
            .unwrap()
    };
    let a = limited("edge", "tok-a");
    let b = limited("dns", "tok-a");
    let other = limited("edge", "tok-b");
    let notify = HttpClient::builder("notify").build().unwrap();
    assert!(a.shares_pool_with(&b) && a.shares_pool_with(&other) && a.shares_pool_with(&notify));
    assert!(
        a.rate_limiter()
            .unwrap()
            .shares_bucket_with(b.rate_limiter().unwrap())
    );
    assert!(
        !a.rate_limiter()
            .unwrap()
            .shares_bucket_with(other.rate_limiter().unwrap())
    );
    let probe = HttpClient::builder("http")
        .pool(PoolConfig::fresh_connections())
        .build()
        .unwrap();
    assert!(!probe.shares_pool_with(&a));
    assert!(
        HttpClient::builder("x")
            .request_id_headers(&["bad header"])
            .build()
            .is_err()
    );
}

// ---- notify -------------------------------------------------------------------

fn notify_plan(url: &str) -> Plan {
    let text = format!(
        "[plan]\nname = \"hooks\"\n\n[[steps]]\nid = \"tell\"\naction = \"notify\"\n\
         url = \"{url}\"\nmessage = \"failing over\"\nheaders = {{ X-Hook-Key = \"k1\" }}\n"
    );
    Plan::parse(
        "plan.toml",
        &text,
        &Registry::with_builtins(),
        &LoadOptions::default(),
    )
    .unwrap_or_else(|d| panic!("{d}"))
}

fn fast_retries(dir: &std::path::Path, events: Arc<Mutex<Vec<Event>>>) -> RunOptions {
    RunOptions::new(dir)
        .with_retry(RetryPolicy {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            ..Default::default()
        })
        .on_event(move |e: &Event| events.lock().unwrap().push(e.clone()))
}

#[tokio::test]
async fn notify_posts_the_message_and_waits_out_a_429_with_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/T000/B000"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .insert_header("x-request-id", "hook-req-1")
                .set_body_string("slow down"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/hooks/T000/B000"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let plan = notify_plan(&format!("{}/hooks/T000/B000", server.uri()));
    let out = Executor::new(plan, fast_retries(dir.path(), events.clone()))
        .run()
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Succeeded, "{:#?}", out.report);

    let retries: Vec<(u64, String)> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::Retrying {
                delay_ms, error, ..
            } => Some((*delay_ms, error.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(retries.len(), 1, "{retries:?}");
    let (delay_ms, error) = &retries[0];
    assert!(*delay_ms >= 1000, "Retry-After: 1 honoured: {delay_ms}ms");
    assert!(
        error.contains("throttled, retry after 1000ms, request id hook-req-1"),
        "{error}"
    );
    assert!(error.contains("HTTP 429: response: slow down"), "{error}");
    assert!(
        !error.contains("B000"),
        "the webhook URL is not shown: {error}"
    );

    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 2);
    for r in &received {
        assert_eq!(r.method.as_str(), "POST");
        assert_eq!(r.url.path(), "/hooks/T000/B000");
        assert_eq!(
            r.headers.get("x-hook-key").and_then(|v| v.to_str().ok()),
            Some("k1")
        );
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["plan"], "hooks");
        assert_eq!(body["step"], "tell");
        assert_eq!(body["text"], "failing over");
        assert_eq!(body["run_id"], json!(out.report.run_id));
    }
}

#[tokio::test]
async fn notify_refused_with_a_4xx_fails_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(410).set_body_string("no such hook"))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let plan = notify_plan(&format!("{}/hooks/gone", server.uri()));
    let out = Executor::new(plan, fast_retries(dir.path(), events.clone()))
        .run()
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Failed);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    let failed = events
        .lock()
        .unwrap()
        .iter()
        .find_map(|e| match e {
            Event::StepFinished {
                error: Some(error), ..
            } => Some(error.clone()),
            _ => None,
        })
        .expect("the step failed");
    assert!(
        failed.contains("HTTP 410") && failed.contains("invalid_request"),
        "{failed}"
    );
}

// ---- the http probe -----------------------------------------------------------

#[tokio::test]
async fn the_http_probe_names_the_request_id_and_never_a_password_from_a_transport_error() {
    use dr_core::HealthProbe;
    use dr_core::builtin::HttpProbe;

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/healthz"))
        .respond_with(ResponseTemplate::new(503).insert_header("x-request-id", "lb-42"))
        .mount(&server)
        .await;
    let probe = HttpProbe::new(&format!("{}/healthz", server.uri())).unwrap();
    let h = probe.probe().await.unwrap();
    assert!(!h.is_healthy());
    assert!(
        h.detail
            .ends_with("HTTP 503 (expected 200) [request id lb-42]"),
        "{}",
        h.detail
    );
    let received = server.received_requests().await.unwrap();
    assert_eq!(
        received[0]
            .headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok()),
        Some(USER_AGENT)
    );

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let probe = HttpProbe::new(&format!("http://user:pw-s3cret@{closed}/healthz"))
        .unwrap()
        .with_timeout(Duration::from_secs(2));
    let h = probe.probe().await.unwrap();
    assert!(!h.is_healthy());
    assert!(
        h.detail
            .starts_with(&format!("GET http://user:******@{closed}/healthz: ")),
        "{}",
        h.detail
    );
    assert!(!h.detail.contains("pw-s3cret"), "{}", h.detail);
}

// ---- delivery ids -------------------------------------------------------------

/// Every send of one notification carries one delivery id, derived from the
/// run and the step: the first POST, its retry after a 503, and the POST `dr
/// resume` sends again because dr died before recording the answer.
#[tokio::test]
async fn a_notification_keeps_its_delivery_id_across_a_retry_and_a_resume() {
    use dr_core::executor::ExecError;

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let plan = notify_plan(&format!("{}/hooks/T000/B000", server.uri()));
    let mut opts = fast_retries(dir.path(), events.clone());
    // run_started, step_started; the process "dies" before the step's end.
    opts.crash_after_journal_entries = Some(2);
    let first = Executor::new(plan, opts).run().await;
    assert!(matches!(first, Err(ExecError::Crashed)), "{first:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), 2);

    let run_id = crate::common::only_run_id(dir.path());
    let out = Executor::resume(
        &Registry::with_builtins(),
        &run_id,
        fast_retries(dir.path(), events),
    )
    .await
    .unwrap();
    assert_eq!(out.status, RunStatus::Succeeded, "{:#?}", out.report);

    let want = dr_core::notify_delivery_id(&run_id, "tell");
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 3, "503, 200 (answer lost), 200 on resume");
    for r in &received {
        assert_eq!(
            r.headers
                .get(dr_core::DELIVERY_ID_HEADER)
                .and_then(|v| v.to_str().ok()),
            Some(want.as_str())
        );
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["delivery_id"], json!(want));
        assert_eq!(body["run_id"], json!(run_id));
    }
    // Another step of the run gets another id.
    assert_ne!(want, dr_core::notify_delivery_id(&run_id, "tell-again"));
}

/// A plan's own `Idempotency-Key` header wins: one header, the plan's value.
#[tokio::test]
async fn a_plans_own_idempotency_key_is_sent_instead() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let text = format!(
        "[plan]\nname = \"hooks\"\n\n[[steps]]\nid = \"tell\"\naction = \"notify\"\n\
         url = \"{}/hook\"\nmessage = \"m\"\nheaders = {{ idempotency-key = \"mine-123\" }}\n",
        server.uri()
    );
    let plan = Plan::parse(
        "plan.toml",
        &text,
        &Registry::with_builtins(),
        &LoadOptions::default(),
    )
    .unwrap_or_else(|d| panic!("{d}"));
    let dir = tempfile::tempdir().unwrap();
    let out = Executor::new(plan, fast_retries(dir.path(), Default::default()))
        .run()
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Succeeded);
    let received = server.received_requests().await.unwrap();
    let keys: Vec<_> = received[0]
        .headers
        .get_all("idempotency-key")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(keys, ["mine-123"]);
}

// ---- redirects ----------------------------------------------------------------

/// A server that answers 200 to anything and records what reached it: where a
/// redirect points, which must never be reached.
async fn elsewhere() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

/// A webhook that answers with a redirect is not delivered: the step fails
/// naming the status (not "notified" after a GET elsewhere), and where the
/// redirect points gets nothing, neither the secret header nor a Referer.
/// The same for a redirect within the webhook's own host: a 302 would turn
/// the POST into a GET.
#[tokio::test]
async fn a_notify_answered_with_a_redirect_fails_and_its_target_gets_nothing() {
    let other = elsewhere().await;
    let server = MockServer::start().await;
    for (status, location) in [
        (302, format!("{}/collect?from=hook", other.uri())),
        (307, format!("{}/collect", other.uri())),
        (302, format!("{}/hooks/moved", server.uri())),
    ] {
        server.reset().await;
        Mock::given(method("POST"))
            .and(path("/hooks/T000/B000"))
            .respond_with(
                ResponseTemplate::new(status).insert_header("location", location.as_str()),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let plan = notify_plan(&format!("{}/hooks/T000/B000?sig=q-s3cret", server.uri()));
        let out = Executor::new(plan, fast_retries(dir.path(), events.clone()))
            .run()
            .await
            .unwrap();
        assert_eq!(out.status, RunStatus::Failed, "{status} {location}");
        let failed = events
            .lock()
            .unwrap()
            .iter()
            .find_map(|e| match e {
                Event::StepFinished {
                    error: Some(error), ..
                } => Some(error.clone()),
                _ => None,
            })
            .expect("the step failed");
        assert!(
            failed.contains(&format!("HTTP {status}: a redirect, not followed")),
            "{failed}"
        );
        assert!(
            !failed.contains("q-s3cret") && !failed.contains("/collect"),
            "{failed}"
        );
        // One POST, not retried, and nothing followed it.
        let received = server.received_requests().await.unwrap();
        assert_eq!(received.len(), 1, "{status} {location}");
        assert_eq!(received[0].method.as_str(), "POST");
        assert!(other.received_requests().await.unwrap().is_empty());
    }
}

/// The http probe follows no redirect to another origin (port or host), so
/// the probe's secret header and the URL's query (as a Referer) never leave
/// for it; the redirect is the answer, unhealthy.
#[tokio::test]
async fn the_http_probe_follows_no_redirect_to_another_origin() {
    use dr_core::HealthProbe;
    use dr_core::builtin::HttpProbe;

    let other = elsewhere().await;
    let server = MockServer::start().await;
    let port = server.address().port();
    for location in [
        format!("{}/healthz", other.uri()),
        // Same port, another host name.
        format!("http://localhost:{port}/healthz"),
        // Same host and port, another scheme.
        format!("https://127.0.0.1:{port}/healthz"),
    ] {
        server.reset().await;
        Mock::given(method("GET"))
            .and(path("/healthz"))
            .respond_with(ResponseTemplate::new(302).insert_header("location", location.as_str()))
            .mount(&server)
            .await;
        let probe = HttpProbe::new(&format!("{}/healthz?sig=q-s3cret", server.uri()))
            .unwrap()
            .with_header("X-Api-Key", "k-s3cret")
            .unwrap();
        let h = probe.probe().await.unwrap();
        assert!(!h.is_healthy(), "{location}");
        assert!(
            h.detail.contains(
                "HTTP 302 (expected 200; a redirect to another origin, or beyond 5, is not followed)"
            ),
            "{}",
            h.detail
        );
        assert!(!h.detail.contains(&location), "{}", h.detail);
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            1,
            "{location}"
        );
        assert!(
            other.received_requests().await.unwrap().is_empty(),
            "{location}"
        );
    }
}

/// Within the origin the probe follows redirects, at most 5, with its
/// headers and without a Referer.
#[tokio::test]
async fn the_http_probe_follows_same_origin_redirects_without_a_referer() {
    use dr_core::HealthProbe;
    use dr_core::builtin::HttpProbe;

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/healthz"))
        .respond_with(ResponseTemplate::new(301).insert_header("location", "/healthz/"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/healthz/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let probe = |p: &str| {
        HttpProbe::new(&format!("{}{p}?region=eu&sig=q-s3cret", server.uri()))
            .unwrap()
            .with_header("X-Api-Key", "k-s3cret")
            .unwrap()
    };
    let h = probe("/healthz").probe().await.unwrap();
    assert!(h.is_healthy(), "{}", h.detail);
    let received = server.received_requests().await.unwrap();
    assert_eq!(
        received.iter().map(|r| r.url.path()).collect::<Vec<_>>(),
        ["/healthz", "/healthz/"]
    );
    for r in &received {
        assert!(r.headers.get("referer").is_none(), "{:?}", r.headers);
        assert_eq!(r.headers.get("x-api-key").unwrap(), "k-s3cret");
    }

    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/loop"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/loop"))
        .mount(&server)
        .await;
    let h = probe("/loop").probe().await.unwrap();
    assert!(!h.is_healthy());
    assert!(h.detail.contains("HTTP 302"), "{}", h.detail);
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1 + dr_core::http::MAX_REDIRECTS
    );
}
