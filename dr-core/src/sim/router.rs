//! `sim.router`: a weighted, scoped router over named targets.

use std::path::PathBuf;

use async_trait::async_trait;
use serde::Deserialize;

use super::{Common, SimWorld};
use crate::{
    ConfigError, ProviderError, RouterCapabilities, Settings, TrafficRouter, TrafficSplit,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouterConfig {
    targets: Vec<String>,
    #[serde(default)]
    initial: Option<TrafficSplit>,
    #[serde(default)]
    latency: Option<String>,
    #[serde(default)]
    fail_first: Option<u64>,
    #[serde(default)]
    state_file: Option<PathBuf>,
}

/// A simulated router: `targets = [..]`, `initial = { east = 100 }`.
///
/// Weighted, and accepts any scope. `current(scope)` is the split applied to
/// that scope, else the unscoped one; `apply` checks the split (known targets,
/// sum 100: else `InvalidRequest`) and counts `apply` only when it changed the
/// split.
#[derive(Debug)]
pub struct SimRouter {
    common: Common,
    targets: Vec<String>,
    initial: TrafficSplit,
}

impl SimRouter {
    /// Builds the router from a plan resource's settings; without a `state_file`
    /// its state lives in `world`.
    pub fn from_settings(settings: &Settings, world: &SimWorld) -> Result<Self, ConfigError> {
        let cfg: RouterConfig = settings.deserialize()?;
        if cfg.targets.is_empty() {
            return Err(ConfigError::key("targets", "needs at least one target"));
        }
        for (i, t) in cfg.targets.iter().enumerate() {
            if t.is_empty() {
                return Err(ConfigError::key("targets", "a target name is empty"));
            }
            if cfg.targets[..i].contains(t) {
                return Err(ConfigError::key(
                    "targets",
                    format!("target `{t}` is listed twice"),
                ));
            }
        }
        let initial = match cfg.initial {
            Some(split) => {
                split
                    .check(&cfg.targets)
                    .map_err(|e| ConfigError::key("initial", e))?;
                split.normalized()
            }
            None => TrafficSplit::all_to(cfg.targets[0].as_str()),
        };
        Ok(SimRouter {
            common: Common::new(
                settings,
                "sim.router",
                cfg.latency.as_deref(),
                cfg.fail_first,
                cfg.state_file,
                world,
            )?,
            targets: cfg.targets,
            initial,
        })
    }
}

/// The effective split of `scope` in a resource state.
fn effective(
    state: &super::ResourceState,
    initial: &TrafficSplit,
    scope: Option<&str>,
) -> TrafficSplit {
    scope
        .and_then(|s| state.scoped.get(s))
        .or(state.split.as_ref())
        .unwrap_or(initial)
        .clone()
}

#[async_trait]
impl TrafficRouter for SimRouter {
    fn targets(&self) -> Vec<String> {
        self.targets.clone()
    }

    fn capabilities(&self) -> RouterCapabilities {
        RouterCapabilities::weighted().with_scopes(Vec::<String>::new())
    }

    async fn current(&self, scope: Option<&str>) -> Result<TrafficSplit, ProviderError> {
        self.common
            .read("current", |state, _| effective(state, &self.initial, scope))
            .await
    }

    async fn apply(&self, split: &TrafficSplit, scope: Option<&str>) -> Result<(), ProviderError> {
        self.common
            .mutate("apply", |state| {
                split.check(&self.targets)?;
                if effective(state, &self.initial, scope).same_as(split) {
                    return Ok(false);
                }
                let split = split.normalized();
                match scope {
                    Some(s) => {
                        state.scoped.insert(s.to_string(), split);
                    }
                    None => state.split = Some(split),
                }
                Ok(true)
            })
            .await
    }
}
