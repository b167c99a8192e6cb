//! Prometheus metrics of a watch, and a tiny HTTP endpoint that serves them.
//!
//! | metric | type | labels | value |
//! |---|---|---|---|
//! | `dr_probe_up` | gauge | `plan`, `probe` | 1 when the probe's last answer was healthy or degraded, 0 when unhealthy, failed or timed out |
//! | `dr_probe_latency_seconds` | gauge | `plan`, `probe` | how long the probe's last answer took |
//! | `dr_watch_state` | gauge | `plan`, `state` | 1 for the current state (`healthy`, `suspect`, `failing`), 0 for the others |
//! | `dr_watch_triggers_total` | counter | `plan` | triggers decided, dry-run and refused ones included (held-down ones are not triggers) |
//! | `dr_plan_ready` | gauge | `plan` | 1 when the last readiness check (`dr check`) passed, 0 when not |
//! | `dr_watch_triggers_refused_total` | counter | `plan`, `reason` | triggers that ran nothing (`locked`, `stale_lock`, `error`): no hold-down started |
//! | `dr_watch_rounds_skipped_total` | counter | `plan` | rounds that decided nothing: a probe could not be attempted on this machine (out of file descriptors, ...) |
//!
//! Served as OpenMetrics text at `GET /metrics` by [`serve`], at most
//! [`MAX_CONNECTIONS`] connections at once, so the endpoint can never take
//! the descriptors the probes and the lock need.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::WatchState;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PlanLabels {
    plan: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeLabels {
    plan: String,
    probe: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    plan: String,
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    plan: String,
    state: String,
}

/// The metrics of one watched plan (see the module docs).
pub struct WatchMetrics {
    plan: String,
    registry: Registry,
    probe_up: Family<ProbeLabels, Gauge>,
    probe_latency: Family<ProbeLabels, Gauge<f64, AtomicU64>>,
    state: Family<StateLabels, Gauge>,
    triggers: Family<PlanLabels, Counter>,
    ready: Family<PlanLabels, Gauge>,
    refused: Family<ReasonLabels, Counter>,
    skipped: Family<PlanLabels, Counter>,
}

impl std::fmt::Debug for WatchMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchMetrics")
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

impl WatchMetrics {
    /// The metrics of plan `plan`, in state `healthy`.
    pub fn new(plan: &str) -> Self {
        let mut registry = Registry::default();
        let probe_up = Family::<ProbeLabels, Gauge>::default();
        let probe_latency = Family::<ProbeLabels, Gauge<f64, AtomicU64>>::default();
        let state = Family::<StateLabels, Gauge>::default();
        let triggers = Family::<PlanLabels, Counter>::default();
        let ready = Family::<PlanLabels, Gauge>::default();
        let refused = Family::<ReasonLabels, Counter>::default();
        let skipped = Family::<PlanLabels, Counter>::default();
        registry.register(
            "dr_probe_up",
            "1 when the probe's last answer was healthy or degraded, else 0",
            probe_up.clone(),
        );
        registry.register(
            "dr_probe_latency_seconds",
            "How long the probe's last answer took, in seconds",
            probe_latency.clone(),
        );
        registry.register(
            "dr_watch_state",
            "1 for the watch's current state (healthy, suspect, failing), else 0",
            state.clone(),
        );
        registry.register(
            "dr_watch_triggers",
            "Triggers the watch decided",
            triggers.clone(),
        );
        registry.register(
            "dr_plan_ready",
            "1 when the plan's last readiness check passed, else 0",
            ready.clone(),
        );
        registry.register(
            "dr_watch_triggers_refused",
            "Triggers that ran nothing (locked, stale_lock, error); no hold-down started",
            refused.clone(),
        );
        registry.register(
            "dr_watch_rounds_skipped",
            "Rounds that decided nothing: a probe could not be attempted on this machine",
            skipped.clone(),
        );
        let m = WatchMetrics {
            plan: plan.to_string(),
            registry,
            probe_up,
            probe_latency,
            state,
            triggers,
            ready,
            refused,
            skipped,
        };
        m.set_state(WatchState::Healthy);
        let _ = m.triggers.get_or_create(&m.plan_labels());
        let _ = m.skipped.get_or_create(&m.plan_labels());
        m
    }

    fn plan_labels(&self) -> PlanLabels {
        PlanLabels {
            plan: self.plan.clone(),
        }
    }

    /// Records a probe's answer.
    pub fn probe(&self, probe: &str, up: bool, latency: Duration) {
        let labels = ProbeLabels {
            plan: self.plan.clone(),
            probe: probe.to_string(),
        };
        self.probe_up.get_or_create(&labels).set(i64::from(up));
        self.probe_latency
            .get_or_create(&labels)
            .set(latency.as_secs_f64());
    }

    /// Records the watch's state.
    pub fn set_state(&self, now: WatchState) {
        for s in WatchState::ALL {
            self.state
                .get_or_create(&StateLabels {
                    plan: self.plan.clone(),
                    state: s.as_str().to_string(),
                })
                .set(i64::from(s == now));
        }
    }

    /// Counts a trigger.
    pub fn triggered(&self) {
        self.triggers.get_or_create(&self.plan_labels()).inc();
    }

    /// Counts a refused trigger.
    pub fn refused(&self, reason: &str) {
        self.refused
            .get_or_create(&ReasonLabels {
                plan: self.plan.clone(),
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Counts a round that decided nothing.
    pub fn skipped(&self) {
        self.skipped.get_or_create(&self.plan_labels()).inc();
    }

    /// Records the last readiness check.
    pub fn set_ready(&self, ready: bool) {
        self.ready
            .get_or_create(&self.plan_labels())
            .set(i64::from(ready));
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }
}

/// Most bytes of a request head the endpoint reads.
const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// Most connections [`serve`] keeps open at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 64;

/// How [`serve`] bounds its clients.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ServeLimits {
    /// Most connections open at once ([`MAX_CONNECTIONS`]); one more is
    /// accepted and closed at once, so it holds no descriptor.
    pub max_connections: usize,
    /// How long a connection may take, from accept to the answer sent (5 s).
    pub idle_timeout: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            max_connections: MAX_CONNECTIONS,
            idle_timeout: Duration::from_secs(5),
        }
    }
}

/// Serves `metrics` on `listener` until `cancel`: `GET /metrics` (or `/`)
/// answers 200 with the OpenMetrics text, any other path 404, any other method
/// 405. One request per connection (`Connection: close`); a head over 8 KiB
/// is dropped; see [`ServeLimits::default`] for the rest.
pub async fn serve(listener: TcpListener, metrics: Arc<WatchMetrics>, cancel: CancellationToken) {
    serve_with(listener, metrics, cancel, ServeLimits::default()).await;
}

/// [`serve`] with these limits. A connection beyond `max_connections` is
/// closed as soon as it is accepted; one that has not been answered within
/// `idle_timeout` (it sent nothing, or reads too slowly) is dropped.
pub async fn serve_with(
    listener: TcpListener,
    metrics: Arc<WatchMetrics>,
    cancel: CancellationToken,
    limits: ServeLimits,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = cancel.cancelled() => return,
        };
        let Ok((mut stream, _)) = conn else {
            // Out of file descriptors, or the like: wait, do not spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Full: close it now rather than hold a descriptor for it.
            drop(stream);
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _ = tokio::time::timeout(limits.idle_timeout, answer(&mut stream, &metrics)).await;
        });
    }
}

/// Reads one request head and answers it.
async fn answer(stream: &mut tokio::net::TcpStream, metrics: &WatchMetrics) {
    let Some(head) = read_head(stream).await else {
        return;
    };
    let mut parts = head.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics" | "/") => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        ),
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain",
            "not found; try /metrics\n".into(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET /metrics\n".into(),
        ),
    };
    let mut resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        resp.push_str(&body);
    }
    let _ = stream.write_all(resp.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The request head up to the blank line, or `None` when the client closed
/// first or sent too much.
async fn read_head(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            return Some(String::from_utf8_lossy(&buf).into_owned());
        }
        if buf.len() > MAX_REQUEST_HEAD {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_every_metric() {
        let m = WatchMetrics::new("p");
        m.probe("web_east", true, Duration::from_millis(250));
        m.set_state(WatchState::Suspect);
        m.triggered();
        m.set_ready(true);
        let text = m.encode();
        for line in [
            "dr_probe_up{plan=\"p\",probe=\"web_east\"} 1",
            "dr_probe_latency_seconds{plan=\"p\",probe=\"web_east\"} 0.25",
            "dr_watch_state{plan=\"p\",state=\"suspect\"} 1",
            "dr_watch_state{plan=\"p\",state=\"healthy\"} 0",
            "dr_watch_triggers_total{plan=\"p\"} 1",
            "dr_plan_ready{plan=\"p\"} 1",
            "dr_watch_rounds_skipped_total{plan=\"p\"} 0",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
    }

    /// Connects to `addr` and reads until the server closes the connection.
    /// Bounded so that a broken endpoint fails the test instead of hanging
    /// it; the assertion is on what was read, not on time.
    fn closed_by_server(addr: std::net::SocketAddr) -> bool {
        use std::io::Read;
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(n) => n == 0,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_beyond_the_cap_are_closed_at_once_and_idle_ones_do_not_starve_it() {
        use std::io::{Read, Write};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        let limits = ServeLimits {
            max_connections: 8,
            // Idle clients are never timed out in this test: only the cap
            // keeps the endpoint usable.
            idle_timeout: Duration::from_secs(3600),
        };
        tokio::spawn(serve_with(
            listener,
            Arc::new(WatchMetrics::new("p")),
            cancel.clone(),
            limits,
        ));
        let result = tokio::task::spawn_blocking(move || {
            // Fill every slot with a client that sends nothing.
            let idle: Vec<_> = (0..8)
                .map(|_| std::net::TcpStream::connect(addr).unwrap())
                .collect();
            // 200 more: each is accepted after the idle ones (in order) and
            // closed at once: the endpoint holds no descriptor for them.
            let closed = (0..200).take_while(|_| closed_by_server(addr)).count();
            // The idle ones are still open: writing a request gets an answer.
            let mut first = idle.into_iter().next().unwrap();
            first
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut answer = String::new();
            first.read_to_string(&mut answer).unwrap();
            (closed, answer)
        })
        .await
        .unwrap();
        cancel.cancel();
        assert_eq!(result.0, 200, "connections beyond the cap were kept open");
        assert!(result.1.starts_with("HTTP/1.1 200 OK"), "{}", result.1);
    }
}
