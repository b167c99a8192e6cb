//! A recording stand-in for a REST API, on wiremock (feature `testing-http`).
//!
//! Where no emulator exists (Cloudflare, Azure Resource Manager, several AWS
//! services), a provider is tested against a stand-in that speaks the
//! service's documented shapes, keeps state, rejects what the service rejects
//! and records what it received. What every such stand-in needs is here, once:
//! a server on a free `127.0.0.1` port, every request recorded (method, path,
//! query, JSON body), a request id per answer, canned answers queued for the
//! next (matching) request (a 429 with `Retry-After`, the service's error
//! envelope), a list of protocol violations that fails the test when the
//! stand-in is dropped. What is the service's own (its resources, its
//! authentication, its error bodies, its schema checks) is a [`Service`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use dr_core::testing::http::{Answer, Call, Service, StandIn};
//! use serde_json::json;
//!
//! /// One counter: `GET /count`, `POST /count` adds one.
//! #[derive(Default)]
//! struct Counter(u64);
//!
//! impl Service for Counter {
//!     fn handle(&mut self, call: &Call, _violations: &mut Vec<String>) -> Answer {
//!         match (call.method.as_str(), call.path.as_str()) {
//!             ("POST", "/count") => self.0 += 1,
//!             ("GET", "/count") => {}
//!             _ => return Answer::json(404, json!({"error": "no such route"})),
//!         }
//!         Answer::json(200, json!({ "count": self.0 }))
//!     }
//! }
//!
//! let api = StandIn::start(Counter::default()).await;
//! api.queue(dr_core::testing::http::Canned::new(503).header("Retry-After", "1"));
//! let client = reqwest::Client::new();
//! let url = format!("{}/count", api.uri());
//! assert_eq!(client.post(&url).send().await.unwrap().status(), 503);
//! assert_eq!(client.post(&url).send().await.unwrap().status(), 200);
//! assert_eq!(api.with_service(|c| c.0), 1);
//! let lines: Vec<String> = api.take_requests().iter().map(|r| r.line()).collect();
//! assert_eq!(lines, ["POST /count", "POST /count"]);
//! # }
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// One request the stand-in received.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Call {
    /// `GET`, `PATCH`, ...
    pub method: String,
    /// The URL path (with the service's prefix, if the service strips none).
    pub path: String,
    /// The query parameters (the last of a repeated name wins).
    pub query: BTreeMap<String, String>,
    /// The request headers, names lower-case.
    pub headers: BTreeMap<String, String>,
    /// The JSON body, if any (a body that is not JSON is a violation).
    pub body: Option<Value>,
}

impl Call {
    /// `METHOD path`.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The query parameter `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// The header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// An answer: status, JSON body (or none) and headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body; `None` for an empty body.
    pub body: Option<Value>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
}

impl Answer {
    /// `status` with a JSON body.
    pub fn json(status: u16, body: Value) -> Self {
        Answer {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    /// `status` with an empty body (add one with [`body`](Self::body)).
    pub fn new(status: u16) -> Self {
        Self::empty(status)
    }

    /// Sets the JSON body.
    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// `status` with an empty body.
    pub fn empty(status: u16) -> Self {
        Answer {
            status,
            body: None,
            headers: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// A canned answer for a later request: the next one, or the next one whose
/// method and path match, after `skip` such requests answered normally.
#[derive(Debug, Clone)]
pub struct Canned {
    answer: Answer,
    method: Option<String>,
    path_suffix: Option<String>,
    skip: usize,
}

impl Canned {
    /// `status` with an empty body, for the next request.
    pub fn new(status: u16) -> Self {
        Canned {
            answer: Answer::empty(status),
            method: None,
            path_suffix: None,
            skip: 0,
        }
    }

    /// `status` with a JSON body (the service's error envelope), for the next request.
    pub fn json(status: u16, body: Value) -> Self {
        Canned {
            answer: Answer::json(status, body),
            ..Canned::new(status)
        }
    }

    /// Adds a header (`Retry-After`).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.answer = self.answer.header(name, value);
        self
    }

    /// Only for a request with this method whose path ends with `path_suffix`.
    pub fn matching(mut self, method: &str, path_suffix: &str) -> Self {
        self.method = Some(method.to_string());
        self.path_suffix = Some(path_suffix.to_string());
        self
    }

    /// After `skip` (matching) requests answered normally.
    pub fn after(mut self, skip: usize) -> Self {
        self.skip = skip;
        self
    }

    fn matches(&self, call: &Call) -> bool {
        self.method.as_ref().is_none_or(|m| *m == call.method)
            && self
                .path_suffix
                .as_ref()
                .is_none_or(|s| call.path.ends_with(s.as_str()))
    }
}

/// What is the service's own in a [`StandIn`]. Violations pushed by any of
/// these methods fail the test when the stand-in is dropped.
pub trait Service: Send + 'static {
    /// The header that carries the request id of every answer.
    fn request_id_header(&self) -> &'static str {
        "x-request-id"
    }

    /// The request id of the `n`-th answer (from 1).
    fn request_id(&self, n: u64) -> String {
        format!("standin-{n:06}")
    }

    /// Runs before queued answers: `Some` answers the request right away (the
    /// service's 401 for a missing token, its 400 for a wrong api-version).
    fn admit(&mut self, call: &Call, violations: &mut Vec<String>) -> Option<Answer> {
        let _ = (call, violations);
        None
    }

    /// The service's answer to an admitted request no canned answer took.
    fn handle(&mut self, call: &Call, violations: &mut Vec<String>) -> Answer;

    /// Sees every answer before it goes out (a response-schema check).
    fn answered(&mut self, call: &Call, answer: &Answer, violations: &mut Vec<String>) {
        let _ = (call, answer, violations);
    }

    /// The name the drop check uses ("the ARM stand-in").
    fn name(&self) -> &str {
        "the stand-in"
    }
}

struct Shared<S> {
    service: S,
    calls: Vec<Call>,
    violations: Vec<String>,
    queued: VecDeque<Canned>,
    answered: u64,
}

/// A recording stand-in serving `S` on a free `127.0.0.1` port; stopped when
/// dropped, and then fails the test if any request broke the service's rules
/// ([`StandIn::violations`]).
pub struct StandIn<S: Service> {
    server: MockServer,
    shared: Arc<Mutex<Shared<S>>>,
}

impl<S: Service> std::fmt::Debug for StandIn<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandIn")
            .field("uri", &self.server.uri())
            .finish()
    }
}

struct Responder<S> {
    shared: Arc<Mutex<Shared<S>>>,
}

fn lock<S>(m: &Mutex<Shared<S>>) -> MutexGuard<'_, Shared<S>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<S: Service> Respond for Responder<S> {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut guard = lock(&self.shared);
        let sh = &mut *guard;
        sh.answered += 1;
        let request_id = sh.service.request_id(sh.answered);
        let method = req.method.as_str().to_string();
        let path = req.url.path().to_string();
        let body = if req.body.is_empty() {
            None
        } else {
            match serde_json::from_slice(&req.body) {
                Ok(v) => Some(v),
                Err(e) => {
                    sh.violations
                        .push(format!("{method} {path}: body is not JSON: {e}"));
                    None
                }
            }
        };
        let call = Call {
            method,
            path,
            query: req
                .url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            headers: req
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect(),
            body,
        };
        sh.calls.push(call.clone());
        let answer = match sh.service.admit(&call, &mut sh.violations) {
            Some(a) => a,
            None => match take_canned(&mut sh.queued, &call) {
                Some(a) => a,
                None => sh.service.handle(&call, &mut sh.violations),
            },
        };
        sh.service.answered(&call, &answer, &mut sh.violations);
        let mut t = ResponseTemplate::new(answer.status)
            .insert_header(sh.service.request_id_header(), request_id.as_str());
        if let Some(b) = answer.body {
            t = t.set_body_json(b);
        }
        for (k, v) in answer.headers {
            t = t.insert_header(k.as_str(), v.as_str());
        }
        t
    }
}

/// The first queued answer that matches, unless it still skips requests.
fn take_canned(queued: &mut VecDeque<Canned>, call: &Call) -> Option<Answer> {
    let i = queued.iter().position(|c| c.matches(call))?;
    if queued[i].skip > 0 {
        queued[i].skip -= 1;
        return None;
    }
    queued.remove(i).map(|c| c.answer)
}

impl<S: Service> StandIn<S> {
    /// Starts `service` on a free `127.0.0.1` port.
    pub async fn start(service: S) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let server = MockServer::builder().listener(listener).start().await;
        let shared = Arc::new(Mutex::new(Shared {
            service,
            calls: Vec::new(),
            violations: Vec::new(),
            queued: VecDeque::new(),
            answered: 0,
        }));
        Mock::given(any())
            .respond_with(Responder {
                shared: shared.clone(),
            })
            .mount(&server)
            .await;
        StandIn { server, shared }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Reads or changes the service's state.
    pub fn with_service<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        f(&mut lock(&self.shared).service)
    }

    /// The requests received so far, and forgets them.
    pub fn take_requests(&self) -> Vec<Call> {
        std::mem::take(&mut lock(&self.shared).calls)
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Call> {
        lock(&self.shared).calls.clone()
    }

    /// Queues a canned answer.
    pub fn queue(&self, canned: Canned) {
        lock(&self.shared).queued.push_back(canned);
    }

    /// What broke the service's rules so far.
    pub fn violations(&self) -> Vec<String> {
        lock(&self.shared).violations.clone()
    }

    /// Records a violation found outside a request (a test's own check).
    pub fn violation(&self, v: impl Into<String>) {
        lock(&self.shared).violations.push(v.into());
    }
}

impl<S: Service> Drop for StandIn<S> {
    fn drop(&mut self) {
        let sh = lock(&self.shared);
        if !sh.violations.is_empty() && !std::thread::panicking() {
            panic!(
                "{} saw requests that break the documented shapes:\n{}",
                sh.service.name(),
                sh.violations.join("\n")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    struct Strict;

    impl Service for Strict {
        fn request_id_header(&self) -> &'static str {
            "x-ms-request-id"
        }
        fn admit(&mut self, call: &Call, _: &mut Vec<String>) -> Option<Answer> {
            (call.header("authorization") != Some("Bearer t")).then(|| Answer::empty(401))
        }
        fn handle(&mut self, call: &Call, violations: &mut Vec<String>) -> Answer {
            if call.query("api-version").is_none() {
                violations.push(format!("{}: no api-version", call.line()));
                return Answer::empty(400);
            }
            Answer::json(200, json!({"ok": true}))
        }
    }

    #[tokio::test]
    async fn admits_then_canned_in_order_then_the_service() {
        let api = StandIn::start(Strict).await;
        let c = reqwest::Client::new();
        let get = |path: &str| {
            c.get(format!("{}{path}", api.uri()))
                .bearer_auth("t")
                .send()
        };
        api.queue(
            Canned::new(429)
                .header("Retry-After", "2")
                .matching("GET", "/b")
                .after(1),
        );
        api.queue(Canned::json(500, json!({"error": "boom"})));
        // Not authorized: answered by `admit`, the queue untouched.
        let r = c.get(format!("{}/a", api.uri())).send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.headers().get("x-ms-request-id").is_some());
        // /a: the 429 matches only /b, so the unmatched 500 answers.
        assert_eq!(get("/a?api-version=1").await.unwrap().status(), 500);
        // /b: the 429 skips one matching request, then answers.
        assert_eq!(get("/b?api-version=1").await.unwrap().status(), 200);
        let r = get("/b?api-version=1").await.unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "2");
        assert_eq!(api.requests().len(), 4);
        assert_eq!(api.take_requests()[1].query("api-version"), Some("1"));
        assert!(api.requests().is_empty());
        // A violation fails the test when the stand-in is dropped.
        assert_eq!(get("/c").await.unwrap().status(), 400);
        assert_eq!(api.violations(), ["GET /c: no api-version"]);
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(api)));
        assert!(dropped.is_err());
    }
}
