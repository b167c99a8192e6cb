//! Provider names → factories that build trait objects from a resource's settings.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::{Action, ConfigError, DataStore, HealthProbe, Replicator, Settings, TrafficRouter};

type Factory<T> = Arc<dyn Fn(&Settings) -> Result<Arc<T>, ConfigError> + Send + Sync>;
type CallCounter = Arc<dyn Fn(&Settings) -> Option<BTreeMap<String, u64>> + Send + Sync>;
type StatusFacts = Arc<
    dyn Fn(&Settings, Kind) -> Option<serde_json::Map<String, serde_json::Value>> + Send + Sync,
>;

/// The roles a resource can play in a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A [`TrafficRouter`], named by `router = ".."` in traffic steps.
    Router,
    /// A [`HealthProbe`], named by `probe = ".."` in gates and `probe.wait`.
    Probe,
    /// A [`DataStore`], named by `store = ".."` in datastore steps.
    Store,
    /// A [`Replicator`], named by `replicator = ".."` in replication steps.
    Replicator,
}

impl Kind {
    /// `router`, `probe`, `store` or `replicator`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Router => "router",
            Kind::Probe => "probe",
            Kind::Store => "store",
            Kind::Replicator => "replicator",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Maps provider names to factories.
///
/// Each provider crate exposes `pub fn register(registry: &mut Registry)`; the CLI
/// registers every built-in provider, an embedding program the ones it wants plus
/// its own. One provider name may serve several kinds (`redis` is a store, a
/// replicator and a probe). Factories must not do I/O: they parse settings and
/// build clients; connections happen on first use.
///
/// ```
/// use std::sync::Arc;
/// use dr_core::{Registry, Kind};
///
/// let mut registry = Registry::with_builtins();
/// assert!(registry.kinds("http").contains(&Kind::Probe));
/// assert!(registry.kinds("sim.router").contains(&Kind::Router));
/// ```
#[derive(Clone, Default)]
pub struct Registry {
    routers: BTreeMap<String, Factory<dyn TrafficRouter>>,
    probes: BTreeMap<String, Factory<dyn HealthProbe>>,
    stores: BTreeMap<String, Factory<dyn DataStore>>,
    replicators: BTreeMap<String, Factory<dyn Replicator>>,
    actions: BTreeMap<String, Factory<dyn Action>>,
    compiled_out: BTreeMap<String, String>,
    call_counters: BTreeMap<String, CallCounter>,
    status_facts: BTreeMap<String, StatusFacts>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry with the providers `dr-core` ships, as far as they are
    /// compiled in: `http` (feature `http`), `tcp` (feature `engine`) and the
    /// `sim.*` providers (feature `sim`). With none of those features it is
    /// [`Registry::new`], and the names of those left out are recorded with
    /// [`Registry::compiled_out`].
    pub fn with_builtins() -> Self {
        let mut r = Self::new();
        #[cfg(any(feature = "engine", feature = "http"))]
        crate::builtin::register(&mut r);
        #[cfg(not(feature = "http"))]
        r.compiled_out("http", "dr-core/http");
        #[cfg(not(feature = "engine"))]
        r.compiled_out("tcp", "dr-core/engine");
        #[cfg(feature = "sim")]
        crate::sim::register(&mut r);
        #[cfg(not(feature = "sim"))]
        for name in ["sim.router", "sim.probe", "sim.store", "sim.replicator"] {
            r.compiled_out(name, "dr-core/sim");
        }
        r
    }

    /// Registers how to read, for a resource of `provider`, how many times each
    /// of its mutating calls took effect (`dr status --json` shows it as
    /// `calls`). The `sim` providers register one, so tests can prove that a
    /// resumed run applied nothing twice; providers of real systems have none.
    pub fn call_counter<F>(&mut self, provider: &str, counter: F) -> &mut Self
    where
        F: Fn(&Settings) -> Option<BTreeMap<String, u64>> + Send + Sync + 'static,
    {
        self.call_counters
            .insert(provider.to_string(), Arc::new(counter));
        self
    }

    /// Registers what else `dr status --json` shows about a resource of
    /// `provider` in one of its kinds (keys beside `role`, `split`, ..): the
    /// `sim.store` says `last_promote` (`planned` or `forced`).
    pub fn status_facts<F>(&mut self, provider: &str, facts: F) -> &mut Self
    where
        F: Fn(&Settings, Kind) -> Option<serde_json::Map<String, serde_json::Value>>
            + Send
            + Sync
            + 'static,
    {
        self.status_facts
            .insert(provider.to_string(), Arc::new(facts));
        self
    }

    /// The [`status_facts`](Registry::status_facts) of the resource `settings`
    /// describe, in `kind`, when its provider registered some and can tell.
    pub fn facts(
        &self,
        settings: &Settings,
        kind: Kind,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        self.status_facts
            .get(settings.provider())
            .and_then(|f| f(settings, kind))
    }

    /// The call counts of the resource `settings` describe, when its provider
    /// registered a [`call_counter`](Registry::call_counter) and it can tell.
    pub fn call_counts(&self, settings: &Settings) -> Option<BTreeMap<String, u64>> {
        self.call_counters
            .get(settings.provider())
            .and_then(|f| f(settings))
    }

    /// Registers a router factory under `provider`.
    pub fn router<F>(&mut self, provider: &str, factory: F) -> &mut Self
    where
        F: Fn(&Settings) -> Result<Arc<dyn TrafficRouter>, ConfigError> + Send + Sync + 'static,
    {
        self.routers.insert(provider.to_string(), Arc::new(factory));
        self
    }

    /// Registers a probe factory under `provider`.
    pub fn probe<F>(&mut self, provider: &str, factory: F) -> &mut Self
    where
        F: Fn(&Settings) -> Result<Arc<dyn HealthProbe>, ConfigError> + Send + Sync + 'static,
    {
        self.probes.insert(provider.to_string(), Arc::new(factory));
        self
    }

    /// Registers a store factory under `provider`.
    pub fn store<F>(&mut self, provider: &str, factory: F) -> &mut Self
    where
        F: Fn(&Settings) -> Result<Arc<dyn DataStore>, ConfigError> + Send + Sync + 'static,
    {
        self.stores.insert(provider.to_string(), Arc::new(factory));
        self
    }

    /// Registers a replicator factory under `provider`.
    pub fn replicator<F>(&mut self, provider: &str, factory: F) -> &mut Self
    where
        F: Fn(&Settings) -> Result<Arc<dyn Replicator>, ConfigError> + Send + Sync + 'static,
    {
        self.replicators
            .insert(provider.to_string(), Arc::new(factory));
        self
    }

    /// Registers a provider action under its step action name
    /// (`aws.ec2.start_instances`); the factory gets the step's other keys.
    pub fn action<F>(&mut self, name: &str, factory: F) -> &mut Self
    where
        F: Fn(&Settings) -> Result<Arc<dyn Action>, ConfigError> + Send + Sync + 'static,
    {
        self.actions.insert(name.to_string(), Arc::new(factory));
        self
    }

    /// Records that the provider (or provider action) `name` exists but was
    /// compiled out of this build, and which cargo feature brings it
    /// (`"dr-aws/rds"`, `"dr-cli/azure"`). A plan naming it then fails
    /// validation at its line with that feature in the message, instead of
    /// "unknown provider". A name registered for real is never compiled out.
    ///
    /// ```
    /// let mut registry = dr_core::Registry::new();
    /// registry.compiled_out("aws.rds", "dr-aws/rds");
    /// assert_eq!(registry.compiled_out_feature("aws.rds"), Some("dr-aws/rds"));
    /// assert!(registry.kinds("aws.rds").is_empty());
    /// ```
    pub fn compiled_out(&mut self, name: &str, feature: &str) -> &mut Self {
        self.compiled_out
            .insert(name.to_string(), feature.to_string());
        self
    }

    /// The cargo feature that brings `name`, when it was compiled out of this
    /// build and nothing registered it since.
    pub fn compiled_out_feature(&self, name: &str) -> Option<&str> {
        if !self.kinds(name).is_empty() || self.has_action(name) {
            return None;
        }
        self.compiled_out.get(name).map(String::as_str)
    }

    /// The kinds `provider` can build; empty when the provider is unknown.
    pub fn kinds(&self, provider: &str) -> Vec<Kind> {
        let mut out = Vec::new();
        if self.routers.contains_key(provider) {
            out.push(Kind::Router);
        }
        if self.probes.contains_key(provider) {
            out.push(Kind::Probe);
        }
        if self.stores.contains_key(provider) {
            out.push(Kind::Store);
        }
        if self.replicators.contains_key(provider) {
            out.push(Kind::Replicator);
        }
        out
    }

    /// Every registered provider name, sorted.
    pub fn providers(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .routers
            .keys()
            .chain(self.probes.keys())
            .chain(self.stores.keys())
            .chain(self.replicators.keys())
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Whether a provider action named `name` is registered.
    pub fn has_action(&self, name: &str) -> bool {
        self.actions.contains_key(name)
    }

    /// Every registered provider action name, sorted.
    pub fn actions(&self) -> Vec<String> {
        self.actions.keys().cloned().collect()
    }

    /// Builds the router for `settings.provider()`; `None` when none is registered.
    pub fn build_router(
        &self,
        settings: &Settings,
    ) -> Option<Result<Arc<dyn TrafficRouter>, ConfigError>> {
        self.routers.get(settings.provider()).map(|f| f(settings))
    }

    /// Builds the probe for `settings.provider()`.
    pub fn build_probe(
        &self,
        settings: &Settings,
    ) -> Option<Result<Arc<dyn HealthProbe>, ConfigError>> {
        self.probes.get(settings.provider()).map(|f| f(settings))
    }

    /// Builds the store for `settings.provider()`.
    pub fn build_store(
        &self,
        settings: &Settings,
    ) -> Option<Result<Arc<dyn DataStore>, ConfigError>> {
        self.stores.get(settings.provider()).map(|f| f(settings))
    }

    /// Builds the replicator for `settings.provider()`.
    pub fn build_replicator(
        &self,
        settings: &Settings,
    ) -> Option<Result<Arc<dyn Replicator>, ConfigError>> {
        self.replicators
            .get(settings.provider())
            .map(|f| f(settings))
    }

    /// Builds the provider action `name` from the step's settings.
    pub fn build_action(
        &self,
        name: &str,
        settings: &Settings,
    ) -> Option<Result<Arc<dyn Action>, ConfigError>> {
        self.actions.get(name).map(|f| f(settings))
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("providers", &self.providers())
            .field("actions", &self.actions())
            .finish()
    }
}
