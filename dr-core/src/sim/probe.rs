//! `sim.probe`: a fixed verdict, a scripted sequence, or a target's down mark.

use std::path::PathBuf;

use async_trait::async_trait;
use serde::Deserialize;

use super::{Common, SimWorld};
use crate::{ConfigError, Health, HealthProbe, HealthStatus, ProviderError, Settings};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbeConfig {
    #[serde(default)]
    healthy: Option<bool>,
    #[serde(default)]
    sequence: Option<Vec<HealthStatus>>,
    #[serde(default)]
    follows: Option<String>,
    #[serde(default)]
    latency: Option<String>,
    #[serde(default)]
    fail_first: Option<u64>,
    #[serde(default)]
    state_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
enum Mode {
    Fixed(bool),
    Sequence(Vec<HealthStatus>),
    Follows(String),
}

/// A simulated probe, configured with exactly one of:
/// - `healthy = true|false` (the default is `healthy = true`);
/// - `sequence = ["healthy","unhealthy","degraded",..]`: one entry per `probe()`,
///   the last repeating; the position is kept in the state. `peek()` (what
///   `dr status` calls) reports the entry the next `probe()` will return
///   without consuming it;
/// - `follows = "ROUTER:TARGET"` or `"TARGET"`: unhealthy while that target (or,
///   for `ROUTER:TARGET`, the bare `TARGET`) is marked down
///   ([`set_target_down`](super::set_target_down)), healthy otherwise.
///
/// A probe never mutates anything, so `fail_first` does not apply to it.
#[derive(Debug)]
pub struct SimProbe {
    common: Common,
    mode: Mode,
}

impl SimProbe {
    /// Builds the probe from a plan resource's settings; without a `state_file`
    /// its state lives in `world`.
    pub fn from_settings(settings: &Settings, world: &SimWorld) -> Result<Self, ConfigError> {
        let cfg: ProbeConfig = settings.deserialize()?;
        let mut modes = Vec::new();
        if let Some(h) = cfg.healthy {
            modes.push(("healthy", Mode::Fixed(h)));
        }
        if let Some(seq) = cfg.sequence {
            if seq.is_empty() {
                return Err(ConfigError::key("sequence", "needs at least one entry"));
            }
            modes.push(("sequence", Mode::Sequence(seq)));
        }
        if let Some(f) = cfg.follows {
            let target = f.rsplit_once(':').map_or(f.as_str(), |(_, t)| t);
            if target.is_empty() {
                return Err(ConfigError::key(
                    "follows",
                    "expected `ROUTER:TARGET` or `TARGET`",
                ));
            }
            modes.push(("follows", Mode::Follows(f)));
        }
        if modes.len() > 1 {
            return Err(ConfigError::key(
                modes[1].0,
                format!(
                    "set only one of healthy, sequence and follows (also `{}`)",
                    modes[0].0
                ),
            ));
        }
        let mode = modes.pop().map_or(Mode::Fixed(true), |(_, m)| m);
        Ok(SimProbe {
            common: Common::new(
                settings,
                "sim.probe",
                cfg.latency.as_deref(),
                cfg.fail_first,
                cfg.state_file,
                world,
            )?,
            mode,
        })
    }

    fn health(&self, status: HealthStatus, why: String) -> Health {
        match status {
            HealthStatus::Healthy => Health::healthy(self.common.latency),
            HealthStatus::Degraded => Health::degraded(why),
            HealthStatus::Unhealthy => Health::unhealthy(why),
        }
    }
}

#[async_trait]
impl HealthProbe for SimProbe {
    async fn probe(&self) -> Result<Health, ProviderError> {
        match &self.mode {
            Mode::Fixed(healthy) => {
                self.common.pause().await;
                Ok(if *healthy {
                    Health::healthy(self.common.latency)
                } else {
                    Health::unhealthy("sim: configured unhealthy")
                })
            }
            Mode::Sequence(seq) => {
                let (index, status) = self
                    .common
                    .touch("probe", |state| {
                        let last = seq.len() - 1;
                        let index = usize::try_from(state.position).map_or(last, |p| p.min(last));
                        state.position = (index + 1) as u64;
                        (index, seq[index])
                    })
                    .await?;
                Ok(self.health(
                    status,
                    format!("sim: sequence entry {} is {status}", index + 1),
                ))
            }
            Mode::Follows(target) => {
                let bare = target.rsplit_once(':').map(|(_, t)| t);
                let down = self
                    .common
                    .read("probe", |_, world| {
                        world.down.contains(target.as_str())
                            || bare.is_some_and(|t| world.down.contains(t))
                    })
                    .await?;
                Ok(if down {
                    Health::unhealthy(format!("sim: target `{target}` is marked down"))
                } else {
                    Health::healthy(self.common.latency)
                })
            }
        }
    }

    /// Reads only: for a `sequence`, the entry the next `probe()` returns, not
    /// consumed; otherwise `probe()`, which reads only.
    async fn peek(&self) -> Result<Health, ProviderError> {
        let Mode::Sequence(seq) = &self.mode else {
            return self.probe().await;
        };
        let (index, status) = self
            .common
            .read("probe", |state, _| {
                let last = seq.len() - 1;
                let index = usize::try_from(state.position).map_or(last, |p| p.min(last));
                (index, seq[index])
            })
            .await?;
        Ok(self.health(
            status,
            format!(
                "sim: sequence entry {} is {status} (next, not consumed)",
                index + 1
            ),
        ))
    }
}
