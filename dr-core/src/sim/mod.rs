//! The `sim` provider: in-memory or file-backed routers, probes, stores and replicators.
//!
//! Tests, benchmarks and the offline demo run plans against these instead of a
//! cloud. They behave like well-mannered providers (validation, idempotency,
//! capabilities) and add what a test needs: injected latency and faults, and a
//! record of what was called.
//!
//! | provider | kind | settings |
//! |---|---|---|
//! | `sim.router` | router | `targets = [..]` (required), `initial = { east = 100 }` (default: first target 100) |
//! | `sim.probe` | probe | one of `healthy = true\|false` (default true), `sequence = ["healthy","unhealthy","degraded",..]`, `follows = "ROUTER:TARGET"` or `"TARGET"` |
//! | `sim.store` | store and replicator | `role = "primary"\|"replica"` (required), `lag = "3s"` (default 0s) |
//! | `sim.replicator` | replicator | `lag = "3s"` (default 0s), `state = "replicating"` (default) |
//!
//! Every one also takes:
//! - `latency = "200ms"`: every call, reads included, sleeps that long first
//!   (`tokio::time::sleep`, so paused-time tests do not wait);
//! - `fail_first = N`: the first N *mutating* calls of the resource return a
//!   retryable (`Transient`) error without effect. The count already injected is
//!   kept in the state, so a resumed process does not fail again;
//! - `state_file = "path.json"` (relative to the working directory): the state
//!   lives in that JSON file, shared by every sim resource and process naming it.
//!   Each change takes an exclusive lock on `<state_file>.lock`, reads, modifies
//!   and replaces the file. Without it, the state lives in the in-memory
//!   [`SimWorld`] of the registry the resource was built from, so each
//!   [`Registry`] is isolated.
//!
//! The state is keyed by resource name (the plan's name for it). For each
//! resource it counts `calls`, the mutating calls that *took effect* (a call that
//! finds its desired state already in place does not count: this is how a test
//! proves that a resumed run applied nothing twice), and `invocations`, every
//! mutating call made, no-ops and injected failures included (how a test proves a
//! dry run called nothing mutating). Counters are named after the trait methods:
//! `apply`, `promote`, `fence`, `flush`, `stop`, `reverse`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use dr_core::{Registry, Settings, TrafficSplit, sim::SimWorld};
//! use serde_json::json;
//!
//! let world = SimWorld::new();
//! let mut registry = Registry::new();
//! world.register(&mut registry);
//! let settings = Settings::from_json("front", "sim.router", json!({ "targets": ["east", "west"] }));
//! let router = registry.build_router(&settings).unwrap().unwrap();
//! router.apply(&TrafficSplit::all_to("west"), None).await.unwrap();
//! router.apply(&TrafficSplit::all_to("west"), None).await.unwrap();
//! assert_eq!(world.calls("front")["apply"], 1);
//! assert_eq!(world.invocations("front")["apply"], 2);
//! # }
//! ```

mod probe;
mod replicator;
mod router;
mod state;
mod store;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use probe::SimProbe;
pub use replicator::SimReplicator;
pub use router::SimRouter;
pub use store::SimStore;

use state::{Backend, ResourceState, World};

use crate::{ConfigError, ProviderError, Registry, Settings};

/// Registers `sim.router`, `sim.probe`, `sim.store` (as a store and as a
/// replicator) and `sim.replicator`, with a fresh in-memory [`SimWorld`].
pub fn register(registry: &mut Registry) {
    SimWorld::new().register(registry);
}

/// The in-memory state shared by the sim resources built from one registry (those
/// without a `state_file`). Cloning it shares the same world.
#[derive(Clone, Default)]
pub struct SimWorld {
    state: Arc<Mutex<World>>,
}

impl std::fmt::Debug for SimWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let resources: Vec<String> = self.read(|w| w.resources.keys().cloned().collect());
        f.debug_struct("SimWorld")
            .field("resources", &resources)
            .finish()
    }
}

impl SimWorld {
    /// An empty world.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the sim providers, building resources without a `state_file` in
    /// this world.
    pub fn register(&self, registry: &mut Registry) {
        let w = self.clone();
        registry.router("sim.router", move |s| {
            Ok(Arc::new(SimRouter::from_settings(s, &w)?))
        });
        let w = self.clone();
        registry.probe("sim.probe", move |s| {
            Ok(Arc::new(SimProbe::from_settings(s, &w)?))
        });
        let w = self.clone();
        registry.store("sim.store", move |s| {
            Ok(Arc::new(SimStore::from_settings(s, &w)?))
        });
        let w = self.clone();
        registry.replicator("sim.store", move |s| {
            Ok(Arc::new(SimStore::from_settings(s, &w)?))
        });
        let w = self.clone();
        registry.replicator("sim.replicator", move |s| {
            Ok(Arc::new(SimReplicator::from_settings(s, &w)?))
        });
        for provider in ["sim.router", "sim.probe", "sim.store", "sim.replicator"] {
            registry.call_counter(provider, calls_of);
        }
        registry.status_facts("sim.store", |s, kind| {
            let file = state_file_of(s).filter(|_| kind == crate::Kind::Store)?;
            let world = state::read_file(&file).ok()?;
            let last = world.resources.get(s.name())?.last_promote.clone()?;
            let mut facts = serde_json::Map::new();
            facts.insert("last_promote".into(), last.into());
            Some(facts)
        });
    }

    fn read<R>(&self, f: impl FnOnce(&World) -> R) -> R {
        f(&self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// How many times each mutating call of `resource` took effect.
    pub fn calls(&self, resource: &str) -> BTreeMap<String, u64> {
        self.read(|w| counters(w, resource, |r| &r.calls))
    }

    /// How many times each mutating call of `resource` was made.
    pub fn invocations(&self, resource: &str) -> BTreeMap<String, u64> {
        self.read(|w| counters(w, resource, |r| &r.invocations))
    }

    /// Marks `target` (`TARGET` or `ROUTER:TARGET`) down or up, for `follows` probes.
    pub fn set_target_down(&self, target: &str, down: bool) {
        let mut w = self.state.lock().unwrap_or_else(|e| e.into_inner());
        mark(&mut w, target, down);
    }
}

fn counters(
    world: &World,
    resource: &str,
    pick: impl Fn(&ResourceState) -> &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    world
        .resources
        .get(resource)
        .map(|r| pick(r).clone())
        .unwrap_or_default()
}

fn mark(world: &mut World, target: &str, down: bool) {
    if down {
        world.down.insert(target.to_string());
    } else {
        world.down.remove(target);
    }
}

/// Marks `target` (`TARGET` or `ROUTER:TARGET`) down or up in `state_file`, for
/// `sim.probe`s that `follow` it (`dr sim down|up TARGET`).
pub fn set_target_down(state_file: &Path, target: &str, down: bool) -> io::Result<()> {
    state::update_file(state_file, |w| mark(w, target, down))
}

/// The targets marked down in `state_file`.
pub fn targets_down(state_file: &Path) -> io::Result<Vec<String>> {
    Ok(state::read_file(state_file)?.down.into_iter().collect())
}

/// How many times each mutating call of `resource` took effect, from `state_file`
/// (empty when the resource was never changed).
pub fn read_calls(state_file: &Path, resource: &str) -> io::Result<BTreeMap<String, u64>> {
    Ok(counters(&state::read_file(state_file)?, resource, |r| {
        &r.calls
    }))
}

/// How many times each mutating call of `resource` was made (no-ops and injected
/// failures included), from `state_file`.
pub fn read_invocations(state_file: &Path, resource: &str) -> io::Result<BTreeMap<String, u64>> {
    Ok(counters(&state::read_file(state_file)?, resource, |r| {
        &r.invocations
    }))
}

fn state_file_of(settings: &Settings) -> Option<PathBuf> {
    settings
        .opt_str("state_file")
        .ok()
        .flatten()
        .map(PathBuf::from)
}

/// The `calls` of the sim resource `settings` describe, read from its
/// `state_file`; `None` when it has no `state_file` or the file cannot be read.
pub fn calls_of(settings: &Settings) -> Option<BTreeMap<String, u64>> {
    read_calls(&state_file_of(settings)?, settings.name()).ok()
}

/// The `invocations` of the sim resource `settings` describe, read from its
/// `state_file`; `None` when it has no `state_file` or the file cannot be read.
pub fn invocations_of(settings: &Settings) -> Option<BTreeMap<String, u64>> {
    read_invocations(&state_file_of(settings)?, settings.name()).ok()
}

/// What every sim resource shares: its name, latency, fault injection and state.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    provider: &'static str,
    name: String,
    latency: Duration,
    fail_first: u64,
    backend: Backend,
}

impl Common {
    fn new(
        settings: &Settings,
        provider: &'static str,
        latency: Option<&str>,
        fail_first: Option<u64>,
        state_file: Option<PathBuf>,
        world: &SimWorld,
    ) -> Result<Self, ConfigError> {
        Ok(Common {
            provider,
            name: settings.name().to_string(),
            latency: opt_duration("latency", latency)?,
            fail_first: fail_first.unwrap_or(0),
            backend: match state_file {
                Some(path) => Backend::File(path),
                None => Backend::Memory(world.state.clone()),
            },
        })
    }

    fn error(&self, op: &str, e: ProviderError) -> ProviderError {
        e.with_provider(self.provider).in_context(&self.name, op)
    }

    fn io_error(&self, op: &str, e: io::Error) -> ProviderError {
        self.error(op, ProviderError::fatal(format!("sim state: {e}")))
    }

    async fn pause(&self) {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }

    /// A read: sleeps `latency`, then looks at the resource's state.
    async fn read<R>(
        &self,
        op: &str,
        f: impl FnOnce(&ResourceState, &World) -> R,
    ) -> Result<R, ProviderError> {
        self.pause().await;
        let empty = ResourceState::default();
        self.backend
            .read(|w| f(w.resources.get(&self.name).unwrap_or(&empty), w))
            .map_err(|e| self.io_error(op, e))
    }

    /// A non-counted state change (a probe consuming its sequence).
    async fn touch<R>(
        &self,
        op: &str,
        f: impl FnOnce(&mut ResourceState) -> R,
    ) -> Result<R, ProviderError> {
        self.pause().await;
        self.backend
            .update(|w| f(w.resources.entry(self.name.clone()).or_default()))
            .map_err(|e| self.io_error(op, e))
    }

    /// A mutating call named `op`: sleeps `latency`, counts the invocation,
    /// injects a `fail_first` failure if one is due, else runs `f`, which returns
    /// whether the state changed (counted in `calls`) or why the request is
    /// invalid (an `InvalidRequest` error). `f` must validate before it changes
    /// anything.
    async fn mutate(
        &self,
        op: &str,
        f: impl FnOnce(&mut ResourceState) -> Result<bool, Rejected>,
    ) -> Result<(), ProviderError> {
        self.pause().await;
        let fail_first = self.fail_first;
        let outcome = self
            .backend
            .update(|w| {
                let r = w.resources.entry(self.name.clone()).or_default();
                *r.invocations.entry(op.to_string()).or_default() += 1;
                if r.failures_injected < fail_first {
                    r.failures_injected += 1;
                    return Outcome::Injected(r.failures_injected);
                }
                match f(r) {
                    Ok(changed) => {
                        if changed {
                            *r.calls.entry(op.to_string()).or_default() += 1;
                        }
                        Outcome::Done
                    }
                    Err(Rejected::Invalid(why)) => Outcome::Invalid(why),
                    Err(Rejected::Refused(why)) => Outcome::Refused(why),
                }
            })
            .map_err(|e| self.io_error(op, e))?;
        match outcome {
            Outcome::Done => Ok(()),
            Outcome::Injected(n) => Err(self.error(
                op,
                ProviderError::transient(format!(
                    "injected failure {n} of {fail_first} (fail_first)"
                )),
            )),
            Outcome::Invalid(why) => Err(self.error(op, ProviderError::invalid(why))),
            Outcome::Refused(why) => {
                Err(self.error(op, ProviderError::new(crate::ErrorKind::Conflict, why)))
            }
        }
    }
}

/// Why a mutating call changed nothing: the request is wrong (`Invalid`, an
/// `InvalidRequest` error), or the resource's state forbids it (`Refused`, a
/// `Conflict`).
pub(crate) enum Rejected {
    Invalid(String),
    Refused(String),
}

impl From<String> for Rejected {
    fn from(why: String) -> Self {
        Rejected::Invalid(why)
    }
}

/// What a mutating call came to, decided under the state lock.
enum Outcome {
    Done,
    Injected(u64),
    Invalid(String),
    Refused(String),
}

fn opt_duration(key: &str, text: Option<&str>) -> Result<Duration, ConfigError> {
    text.map(|t| crate::parse_duration(t).map_err(|e| ConfigError::key(key, e)))
        .transpose()
        .map(Option::unwrap_or_default)
}
