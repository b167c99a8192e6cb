//! The built-in `http` and `tcp` probes against servers started by the test.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dr_core::builtin::{HttpProbe, TcpProbe};
use dr_core::testing::probe_conformance;
use dr_core::{HealthProbe, HealthStatus, Kind, Registry, Settings};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A one-response-fits-all HTTP server on a free loopback port; records the raw
/// request heads it received. Stops when dropped.
struct TestServer {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// Answers every request with `status` and `body`; `None` means accept and never answer.
    async fn start(answer: Option<(u16, &'static str)>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/healthz", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            let mut silent = Vec::new();
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let Some((status, body)) = answer else {
                    silent.push(socket);
                    continue;
                };
                let seen = seen.clone();
                tokio::spawn(async move {
                    let head = read_head(&mut socket).await;
                    seen.lock().unwrap().push(head);
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        TestServer {
            url,
            requests,
            task,
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

async fn read_head(socket: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// A loopback address nothing listens on.
async fn closed_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    addr
}

fn http_settings(values: serde_json::Value) -> Settings {
    Settings::from_json("web", "http", values)
}

fn build_http(values: serde_json::Value) -> Arc<dyn HealthProbe> {
    Registry::with_builtins()
        .build_probe(&http_settings(values))
        .expect("http is registered")
        .expect("valid settings")
}

#[test]
fn both_are_registered_as_probes() {
    let registry = Registry::with_builtins();
    assert_eq!(registry.kinds("http"), vec![Kind::Probe]);
    assert_eq!(registry.kinds("tcp"), vec![Kind::Probe]);
}

#[tokio::test]
async fn http_200_is_healthy_and_passes_conformance() {
    let server = TestServer::start(Some((200, "all good"))).await;
    let probe = build_http(json!({ "url": server.url }));
    let health = probe.probe().await.unwrap();
    assert_eq!(health.status, HealthStatus::Healthy, "{health:?}");
    assert!(health.latency.is_some());
    probe_conformance(probe.as_ref(), Duration::from_secs(5)).await;
}

#[tokio::test]
async fn http_wrong_status_is_unhealthy_with_the_status_in_the_detail() {
    let server = TestServer::start(Some((503, "down"))).await;
    let probe = build_http(json!({ "url": server.url }));
    let health = probe.probe().await.unwrap();
    assert_eq!(health.status, HealthStatus::Unhealthy);
    assert!(
        health.detail.contains("HTTP 503") && health.detail.contains("expected 200"),
        "{}",
        health.detail
    );
    probe_conformance(probe.as_ref(), Duration::from_secs(5)).await;

    let probe = build_http(json!({ "url": server.url, "expect_status": 503 }));
    assert!(probe.probe().await.unwrap().is_healthy());
}

#[tokio::test]
async fn http_body_contains_match_and_mismatch() {
    let server = TestServer::start(Some((200, "{\"status\":\"ok\"}"))).await;
    let matching = build_http(json!({ "url": server.url, "body_contains": "\"ok\"" }));
    assert!(matching.probe().await.unwrap().is_healthy());

    let missing = build_http(json!({ "url": server.url, "body_contains": "ready" }));
    let health = missing.probe().await.unwrap();
    assert_eq!(health.status, HealthStatus::Unhealthy);
    assert!(
        health.detail.contains("does not contain `ready`"),
        "{}",
        health.detail
    );
}

#[tokio::test]
async fn http_sends_configured_headers_and_hides_them_in_debug() {
    let server = TestServer::start(Some((200, "ok"))).await;
    let probe = build_http(json!({
        "url": server.url,
        "headers": { "Authorization": "Bearer s3cr3t-token", "X-Probe": "dr" }
    }));
    assert!(probe.probe().await.unwrap().is_healthy());
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let head = requests[0].to_lowercase();
    assert!(head.starts_with("get /healthz http/1.1"), "{head}");
    assert!(
        head.contains("authorization: bearer s3cr3t-token"),
        "{head}"
    );
    assert!(head.contains("x-probe: dr"), "{head}");

    let debug = format!("{probe:?}");
    assert!(!debug.contains("s3cr3t"), "{debug}");
    assert!(
        debug.contains("authorization") && debug.contains("******"),
        "{debug}"
    );
}

#[tokio::test]
async fn http_connection_refused_is_unhealthy() {
    let url = format!("http://{}/healthz", closed_address().await);
    let probe = build_http(json!({ "url": url, "timeout": "2s" }));
    let health = probe.probe().await.unwrap();
    assert_eq!(health.status, HealthStatus::Unhealthy);
    assert!(
        health.detail.starts_with(&format!("GET {url}")),
        "{}",
        health.detail
    );
    probe_conformance(probe.as_ref(), Duration::from_secs(2)).await;
}

#[tokio::test]
async fn http_silent_server_times_out_unhealthy() {
    let server = TestServer::start(None).await;
    let probe = build_http(json!({ "url": server.url, "timeout": "200ms" }));
    let health = probe.probe().await.unwrap();
    assert_eq!(health.status, HealthStatus::Unhealthy);
    assert!(
        health.detail.contains("no answer within 200ms"),
        "{}",
        health.detail
    );
    probe_conformance(probe.as_ref(), Duration::from_millis(200)).await;
}

#[test]
fn http_bad_settings_are_config_errors_naming_the_key() {
    let registry = Registry::with_builtins();
    let err = |values| {
        registry
            .build_probe(&http_settings(values))
            .unwrap()
            .unwrap_err()
    };
    assert_eq!(
        err(json!({ "url": "not a url" })).key.as_deref(),
        Some("url")
    );
    assert_eq!(
        err(json!({ "url": "ftp://example.com/" })).key.as_deref(),
        Some("url")
    );
    assert_eq!(
        err(json!({ "url": "http://x/", "expect_staus": 200 }))
            .key
            .as_deref(),
        Some("expect_staus")
    );
    assert_eq!(
        err(json!({ "url": "http://x/", "timeout": "soon" }))
            .key
            .as_deref(),
        Some("timeout")
    );
    assert_eq!(
        err(json!({ "url": "http://x/", "expect_status": 42 }))
            .key
            .as_deref(),
        Some("expect_status")
    );
    let bad_header = err(json!({ "url": "http://x/", "headers": { "X-A": "line\nbreak" } }));
    assert_eq!(bad_header.key.as_deref(), Some("headers.X-A"));
    assert!(!bad_header.to_string().contains("break"));
}

#[test]
fn http_debug_hides_a_password_in_the_url() {
    let probe = HttpProbe::new("https://user:hunter2@example.com/healthz").unwrap();
    let debug = format!("{probe:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("user:******@example.com"), "{debug}");
}

#[tokio::test]
async fn tcp_open_port_is_healthy_and_closed_port_unhealthy() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap().to_string();
    let registry = Registry::with_builtins();
    let probe = registry
        .build_probe(&Settings::from_json(
            "db",
            "tcp",
            json!({ "address": open, "timeout": "1s" }),
        ))
        .unwrap()
        .unwrap();
    let health = probe.probe().await.unwrap();
    assert_eq!(health.status, HealthStatus::Healthy, "{health:?}");
    probe_conformance(probe.as_ref(), Duration::from_secs(1)).await;

    let closed = closed_address().await;
    let probe = TcpProbe::new(&closed)
        .unwrap()
        .with_timeout(Duration::from_secs(1));
    let health = probe.probe().await.unwrap();
    assert_eq!(health.status, HealthStatus::Unhealthy);
    assert!(
        health.detail.starts_with(&format!("connect {closed}:")),
        "{}",
        health.detail
    );
    probe_conformance(&probe, probe.timeout()).await;
}

#[test]
fn tcp_bad_settings_are_config_errors_naming_the_key() {
    let registry = Registry::with_builtins();
    let err = |values| {
        registry
            .build_probe(&Settings::from_json("db", "tcp", values))
            .unwrap()
            .unwrap_err()
    };
    assert_eq!(
        err(json!({ "address": "nohost" })).key.as_deref(),
        Some("address")
    );
    assert_eq!(
        err(json!({ "address": "h:99999" })).key.as_deref(),
        Some("address")
    );
    assert!(
        err(json!({}))
            .to_string()
            .contains("missing field `address`")
    );
    assert_eq!(
        err(json!({ "address": "h:1", "port": 2 })).key.as_deref(),
        Some("port")
    );
    assert_eq!(
        err(json!({ "address": "h:1", "timeout": "0s" }))
            .key
            .as_deref(),
        Some("timeout")
    );
}
