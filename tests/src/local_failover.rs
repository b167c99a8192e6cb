//! A local failover with real components, shared by the end-to-end test
//! (`tests/it/local_failover.rs`) and its benchmark (`benches/local_failover.rs`).
//!
//! East is the active region, west the standby: a PostgreSQL primary and its
//! streaming standby ([`dr_postgres::testing`]), a Redis primary and its replica
//! ([`dr_redis::testing`]), a sim router for the edge, and west's application
//! health endpoint: a real HTTP server on loopback that answers 200 only when
//! west's database takes the application's writes and west's cache is a primary.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dr_core::{
    DataStore, Health, HealthProbe, Kind, ProviderError, Registry, ReplicationStatus, Replicator,
    ReplicatorCapabilities, Role, StoreCapabilities, TrafficRouter, TrafficSplit,
};
use dr_postgres::testing::{PgServer, SUPERUSER_PASSWORD};
use dr_redis::testing::RedisServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The application's login role on both databases (and its password).
pub const APP_ROLE: (&str, &str) = ("app", "app-pw");

/// Both regions' servers and west's health endpoint.
#[derive(Debug)]
pub struct World {
    /// PostgreSQL primary (east).
    pub pg_east: PgServer,
    /// PostgreSQL streaming standby (west).
    pub pg_west: PgServer,
    /// Redis primary (east).
    pub cache_east: RedisServer,
    /// Redis replica (west).
    pub cache_west: RedisServer,
    /// `http://127.0.0.1:PORT/healthz` of west's application.
    pub health_url: String,
    /// The temp dir of the sim router's state file.
    pub dir: tempfile::TempDir,
    health: tokio::task::JoinHandle<()>,
}

impl Drop for World {
    fn drop(&mut self) {
        self.health.abort();
    }
}

/// Starts east and west, creates the application's role and table, and serves
/// west's health endpoint.
pub async fn world() -> World {
    let (pg_east, pg_west) = dr_postgres::testing::pair().await;
    pg_east
        .exec(&format!(
            "CREATE ROLE {0} LOGIN PASSWORD '{1}'; \
             CREATE TABLE orders (id bigint PRIMARY KEY, note text); \
             GRANT SELECT, INSERT ON orders TO {0};",
            APP_ROLE.0, APP_ROLE.1
        ))
        .await;
    pg_west.wait_streaming(&pg_east).await;
    let (cache_east, cache_west) = dr_redis::testing::pair().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let health_url = format!("http://{}/healthz", listener.local_addr().expect("addr"));
    let health = tokio::spawn(serve_health(listener, pg_west.port(), cache_west.port()));
    World {
        pg_east,
        pg_west,
        cache_east,
        cache_west,
        health_url,
        dir: tempfile::tempdir().expect("a temp dir"),
        health,
    }
}

/// West's health endpoint: 200 when west's database takes the application's
/// writes (a primary, not read-only, the role may log in) and west's Redis is a
/// primary; 503 otherwise.
async fn serve_health(listener: TcpListener, pg_port: u16, redis_port: u16) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut read = 0;
            while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") && read < buf.len() {
                match conn.read(&mut buf[read..]).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => read += n,
                }
            }
            let healthy = west_takes_writes(pg_port).await && redis_is_primary(redis_port).await;
            let (status, body) = if healthy {
                ("200 OK", "ok")
            } else {
                ("503 Service Unavailable", "not ready")
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(response.as_bytes()).await;
        });
    }
}

async fn west_takes_writes(port: u16) -> bool {
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user(APP_ROLE.0)
        .password(APP_ROLE.1)
        .dbname("postgres")
        .connect_timeout(Duration::from_secs(1));
    let Ok((client, conn)) = config.connect(tokio_postgres::NoTls).await else {
        return false;
    };
    tokio::spawn(conn);
    client
        .query_one(
            "SELECT NOT pg_is_in_recovery() \
                AND current_setting('default_transaction_read_only') = 'off'",
            &[],
        )
        .await
        .map(|row| row.get::<_, bool>(0))
        .unwrap_or(false)
}

async fn redis_is_primary(port: u16) -> bool {
    let Ok(mut tcp) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if tcp.write_all(b"*1\r\n$4\r\nROLE\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    match tcp.read(&mut buf).await {
        Ok(n) => String::from_utf8_lossy(&buf[..n]).contains("master"),
        Err(_) => false,
    }
}

/// How the plan's gates and promotions are tuned.
#[derive(Debug, Clone, Copy)]
pub struct Gate {
    /// Consecutive healthy answers the shift needs per phase.
    pub times: u32,
    /// Time between two probes.
    pub every: &'static str,
    /// How west's cache is promoted (dr-redis `promote`): `auto` is a planned
    /// `FAILOVER` while east is alive (no acknowledged write lost; Redis's
    /// replication cron makes it take about a second), `force` is `REPLICAOF NO
    /// ONE` (immediate; writes east took after the last sync are lost).
    pub cache_promote: &'static str,
}

impl Gate {
    /// What the end-to-end test uses: two answers 100 ms apart per phase, and a
    /// cache promotion that loses nothing.
    pub const CAREFUL: Gate = Gate {
        times: 2,
        every: "100ms",
        cache_promote: "auto",
    };
    /// The minimum the plan format allows: one answer per phase.
    pub const MINIMAL: Gate = Gate {
        times: 1,
        every: "10ms",
        cache_promote: "auto",
    };
}

/// The failover plan: maintenance page, RPO gate, fence east's database, stop its
/// replication, promote west's database and cache, fence east's cache, then move
/// traffic to west in two phases, each gated on west's health endpoint.
pub fn plan(world: &World, gate: Gate) -> String {
    let state = world.dir.path().join("sim-state.json");
    format!(
        r#"
[plan]
name = "local-east-to-west"
rto = "1m"
rpo = "5s"

[plan.safety]
never_route_to_unhealthy = true
min_healthy_targets = 1

[resources.front]
provider = "sim.router"
targets = ["east", "west", "maintenance"]
initial = {{ east = 100 }}
health = {{ west = "web_west" }}
state_file = "{state}"

[resources.web_west]
provider = "http"
url = "{health}"
timeout = "2s"

[resources.db_east]
provider = "postgres"
url = "{pg_east}"
password = "{pw}"
fence_roles = ["{app}"]

[resources.db_west]
provider = "postgres"
url = "{pg_west}"
password = "{pw}"
peer = "{pg_east}"
fence_roles = ["{app}"]

[resources.cache_east]
provider = "redis"
url = "{redis_east}"
peer = "{redis_west}"

[resources.cache_west]
provider = "redis"
url = "{redis_west}"
peer = "{redis_east}"
promote = "{cache_promote}"

[[steps]]
id = "maintenance"
action = "traffic.set"
router = "front"
split = {{ maintenance = 100 }}

[[steps]]
id = "rpo-gate"
action = "replication.check"
replicator = "db_west"
max_lag = "5s"

[[steps]]
id = "fence-db-east"
action = "datastore.fence"
store = "db_east"
depends_on = ["maintenance", "rpo-gate"]

[[steps]]
id = "stop-db-link"
action = "replication.stop"
replicator = "db_west"
depends_on = ["fence-db-east"]

[[steps]]
id = "promote-db-west"
action = "datastore.promote"
store = "db_west"
max_lag = "5s"
depends_on = ["stop-db-link"]

[[steps]]
id = "promote-cache-west"
action = "datastore.promote"
store = "cache_west"
depends_on = ["maintenance"]

[[steps]]
id = "fence-cache-east"
action = "datastore.fence"
store = "cache_east"
depends_on = ["promote-cache-west"]

[[steps]]
id = "shift"
action = "traffic.shift"
router = "front"
to = "west"
phases = [50, 100]
gate = {{ probe = "web_west", times = {times}, every = "{every}", timeout = "10s" }}
depends_on = ["promote-db-west", "fence-cache-east"]
"#,
        state = state.display(),
        health = world.health_url,
        pg_east = world.pg_east.url(),
        pg_west = world.pg_west.url(),
        pw = SUPERUSER_PASSWORD,
        app = APP_ROLE.0,
        redis_east = world.cache_east.url(),
        redis_west = world.cache_west.url(),
        times = gate.times,
        every = gate.every,
        cache_promote = gate.cache_promote,
    )
}

/// The providers the plan uses, as the CLI registers them, plus `postgres`.
pub fn registry() -> Registry {
    let mut r = Registry::with_builtins();
    dr_redis::register(&mut r);
    dr_cloudflare::register(&mut r);
    dr_postgres::register(&mut r);
    r
}

/// One provider call and how long it took.
#[derive(Debug, Clone)]
pub struct Call {
    /// `resource.operation`, e.g. `db_west.promote`.
    pub what: String,
    /// Whether it changes something (promote, fence, stop, apply) rather than
    /// reading (role, status, current, probe).
    pub mutating: bool,
    /// When it started.
    pub started: Instant,
    /// Its duration.
    pub took: Duration,
}

/// How long at least one provider call of `calls` was running: the time a run
/// spent waiting on its providers (parallel calls counted once).
pub fn busy(calls: &[Call]) -> Duration {
    let mut spans: Vec<(Instant, Instant)> = calls
        .iter()
        .map(|c| (c.started, c.started + c.took))
        .collect();
    spans.sort();
    let mut total = Duration::ZERO;
    let mut current: Option<(Instant, Instant)> = None;
    for (start, end) in spans {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((s, e)) = current {
        total += e - s;
    }
    total
}

/// Every provider call of a run, in the order they finished.
pub type CallLog = Arc<Mutex<Vec<Call>>>;

/// [`registry`], with every router, store, replicator and probe wrapped so that
/// each call's duration goes into `log`: the providers' own operation times,
/// measured in the same run as its RTO.
pub fn timed_registry(log: CallLog) -> Registry {
    let inner = Arc::new(registry());
    let mut r = Registry::with_builtins();
    for provider in ["postgres", "redis", "sim.router", "http"] {
        for kind in inner.kinds(provider) {
            let (i, l) = (inner.clone(), log.clone());
            match kind {
                Kind::Store => {
                    r.store(provider, move |s| {
                        let store = i.build_store(s).expect("registered")?;
                        Ok(Arc::new(Timed::new(store, s.name(), l.clone())))
                    });
                }
                Kind::Replicator => {
                    r.replicator(provider, move |s| {
                        let rep = i.build_replicator(s).expect("registered")?;
                        Ok(Arc::new(Timed::new(rep, s.name(), l.clone())))
                    });
                }
                Kind::Probe => {
                    r.probe(provider, move |s| {
                        let probe = i.build_probe(s).expect("registered")?;
                        Ok(Arc::new(Timed::new(probe, s.name(), l.clone())))
                    });
                }
                Kind::Router => {
                    r.router(provider, move |s| {
                        let router = i.build_router(s).expect("registered")?;
                        Ok(Arc::new(Timed::new(router, s.name(), l.clone())))
                    });
                }
            }
        }
    }
    r
}

/// A provider object whose calls are timed into a [`CallLog`].
struct Timed<T: ?Sized> {
    inner: Arc<T>,
    name: String,
    log: CallLog,
}

impl<T: ?Sized> std::fmt::Debug for Timed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Timed({})", self.name)
    }
}

impl<T: ?Sized> Timed<T> {
    fn new(inner: Arc<T>, name: &str, log: CallLog) -> Self {
        Timed {
            inner,
            name: name.to_string(),
            log,
        }
    }

    async fn time<R>(&self, op: &str, mutating: bool, fut: impl Future<Output = R>) -> R {
        let started = Instant::now();
        let out = fut.await;
        let call = Call {
            what: format!("{}.{op}", self.name),
            mutating,
            started,
            took: started.elapsed(),
        };
        self.log.lock().expect("the call log").push(call);
        out
    }
}

#[async_trait]
impl DataStore for Timed<dyn DataStore> {
    fn capabilities(&self) -> StoreCapabilities {
        self.inner.capabilities()
    }
    async fn role(&self) -> Result<Role, ProviderError> {
        self.time("role", false, self.inner.role()).await
    }
    async fn writable(&self) -> Result<bool, ProviderError> {
        self.time("writable", false, self.inner.writable()).await
    }
    async fn promote(&self) -> Result<(), ProviderError> {
        self.time("promote", true, self.inner.promote()).await
    }
    async fn fence(&self) -> Result<(), ProviderError> {
        self.time("fence", true, self.inner.fence()).await
    }
    async fn flush(&self) -> Result<(), ProviderError> {
        self.time("flush", true, self.inner.flush()).await
    }
}

#[async_trait]
impl Replicator for Timed<dyn Replicator> {
    fn capabilities(&self) -> ReplicatorCapabilities {
        self.inner.capabilities()
    }
    async fn status(&self) -> Result<ReplicationStatus, ProviderError> {
        self.time("status", false, self.inner.status()).await
    }
    async fn stop(&self) -> Result<(), ProviderError> {
        self.time("stop", true, self.inner.stop()).await
    }
    async fn reverse(&self) -> Result<(), ProviderError> {
        self.time("reverse", true, self.inner.reverse()).await
    }
}

#[async_trait]
impl HealthProbe for Timed<dyn HealthProbe> {
    async fn probe(&self) -> Result<Health, ProviderError> {
        self.time("probe", false, self.inner.probe()).await
    }
    async fn peek(&self) -> Result<Health, ProviderError> {
        self.time("peek", false, self.inner.peek()).await
    }
}

#[async_trait]
impl TrafficRouter for Timed<dyn TrafficRouter> {
    fn targets(&self) -> Vec<String> {
        self.inner.targets()
    }
    fn capabilities(&self) -> dr_core::RouterCapabilities {
        self.inner.capabilities()
    }
    async fn current(&self, scope: Option<&str>) -> Result<TrafficSplit, ProviderError> {
        self.time("current", false, self.inner.current(scope)).await
    }
    async fn apply(&self, split: &TrafficSplit, scope: Option<&str>) -> Result<(), ProviderError> {
        self.time("apply", true, self.inner.apply(split, scope))
            .await
    }
}
