//! `sim.store`: a store with a role, which is also the replication link into it.

use std::path::PathBuf;

use async_trait::async_trait;
use serde::Deserialize;

use super::replicator::Link;
use super::state::{ResourceState, SimRole};
use super::{Common, Rejected, SimWorld, opt_duration};
use crate::{
    ConfigError, DataStore, Promotion, ProviderError, ReplicationState, ReplicationStatus,
    Replicator, ReplicatorCapabilities, Role, RunMode, Settings, StoreCapabilities,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreConfig {
    role: SimRole,
    #[serde(default)]
    lag: Option<String>,
    #[serde(default)]
    latency: Option<String>,
    #[serde(default)]
    fail_first: Option<u64>,
    #[serde(default)]
    state_file: Option<PathBuf>,
    #[serde(default)]
    planned_promote: Option<PlannedPromote>,
    #[serde(default)]
    divergence: Option<super::replicator::SimDivergence>,
}

/// `planned_promote = "fails"`: the old primary does not answer, so only a
/// forced (ungraceful) promote works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum PlannedPromote {
    Fails,
}

/// A simulated store: `role = "primary"|"replica"`, `lag = "3s"`,
/// `planned_promote = "fails"`.
///
/// As a [`DataStore`] (capabilities: promote, fence, flush; the two modes differ):
/// - `promote()` makes it a writable primary (and unfences it, stops the link
///   into it); a no-op on a primary. In a graceful run it is `planned`, in an
///   ungraceful one `forced` (the state file keeps which, `dr status --json`
///   shows it as `last_promote`); with `planned_promote = "fails"` a planned
///   promote is refused (a `Conflict`: "old primary unreachable") and changes
///   nothing;
/// - `fence()` makes it refuse writes; a no-op when already fenced;
/// - `flush()` takes effect once until the store is promoted again;
/// - `writable()` is `primary && !fenced`.
///
/// As a [`Replicator`] (the link into this store; capabilities: stop, reverse),
/// so a promote step can read its lag: `status()` is `Replicating` with `lag`
/// while it is a replica whose link was not stopped, `Paused` once it is primary
/// or after `stop()` (the lag is still reported); `reverse()` makes it
/// `Replicating` again, now from this store outwards (a no-op only when it is
/// already reversed). The link is the same code as [`SimReplicator`]'s, so the
/// two behave alike; only the initial state differs (from `role`).
///
/// [`SimReplicator`]: super::SimReplicator
#[derive(Debug)]
pub struct SimStore {
    common: Common,
    role: SimRole,
    link: Link,
    planned_fails: bool,
}

impl SimStore {
    /// Builds the store from a plan resource's settings; without a `state_file`
    /// its state lives in `world`.
    pub fn from_settings(settings: &Settings, world: &SimWorld) -> Result<Self, ConfigError> {
        let cfg: StoreConfig = settings.deserialize()?;
        Ok(SimStore {
            common: Common::new(
                settings,
                "sim.store",
                cfg.latency.as_deref(),
                cfg.fail_first,
                cfg.state_file,
                world,
            )?,
            role: cfg.role,
            link: Link {
                // The link into a replica replicates; nothing flows into a primary.
                initial: match cfg.role {
                    SimRole::Replica => ReplicationState::Replicating,
                    SimRole::Primary => ReplicationState::Paused,
                },
                lag: opt_duration("lag", cfg.lag.as_deref())?,
                divergence: super::replicator::SimDivergence::of(cfg.divergence),
            },
            planned_fails: cfg.planned_promote == Some(PlannedPromote::Fails),
        })
    }

    fn role_in(&self, state: &ResourceState) -> SimRole {
        state.role.unwrap_or(self.role)
    }
}

#[async_trait]
impl DataStore for SimStore {
    fn capabilities(&self) -> StoreCapabilities {
        let mut caps = StoreCapabilities::full();
        caps.modes = true;
        caps
    }

    async fn role(&self) -> Result<Role, ProviderError> {
        self.common
            .read("role", |state, _| match self.role_in(state) {
                SimRole::Primary => Role::Primary,
                SimRole::Replica => Role::Replica { of: None },
            })
            .await
    }

    async fn writable(&self) -> Result<bool, ProviderError> {
        self.common
            .read("writable", |state, _| {
                self.role_in(state) == SimRole::Primary && !state.fenced
            })
            .await
    }

    async fn promote(&self) -> Result<(), ProviderError> {
        self.promote_with(Promotion::new(RunMode::Graceful)).await
    }

    async fn promote_with(&self, how: Promotion) -> Result<(), ProviderError> {
        self.common
            .mutate("promote", |state| {
                if self.role_in(state) == SimRole::Primary {
                    return Ok(false);
                }
                if self.planned_fails && !how.ungraceful() {
                    return Err(Rejected::Refused(
                        "old primary unreachable: a planned promote needs it \
                         (`planned_promote = \"fails\"`); only an ungraceful run's forced \
                         promote can go on (`dr resume RUN_ID --ungraceful`)"
                            .into(),
                    ));
                }
                state.last_promote = Some(
                    if how.ungraceful() {
                        "forced"
                    } else {
                        "planned"
                    }
                    .to_string(),
                );
                state.role = Some(SimRole::Primary);
                state.fenced = false;
                state.flushed = false;
                state.link = Some(ReplicationState::Paused);
                Ok(true)
            })
            .await
    }

    async fn fence(&self) -> Result<(), ProviderError> {
        self.common
            .mutate("fence", |state| {
                let changed = !state.fenced;
                state.fenced = true;
                Ok(changed)
            })
            .await
    }

    async fn flush(&self) -> Result<(), ProviderError> {
        self.common
            .mutate("flush", |state| {
                let changed = !state.flushed;
                state.flushed = true;
                Ok(changed)
            })
            .await
    }
}

#[async_trait]
impl Replicator for SimStore {
    fn capabilities(&self) -> ReplicatorCapabilities {
        Link::capabilities()
    }

    async fn status(&self) -> Result<ReplicationStatus, ProviderError> {
        self.link.status(&self.common).await
    }

    async fn stop(&self) -> Result<(), ProviderError> {
        self.link.stop(&self.common).await
    }

    async fn reverse(&self) -> Result<(), ProviderError> {
        self.link.reverse(&self.common).await
    }

    async fn divergence(&self) -> Result<Option<u64>, ProviderError> {
        self.link.divergence(&self.common).await
    }
}
