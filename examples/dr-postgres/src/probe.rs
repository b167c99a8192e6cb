//! [`PostgresProbe`]: a query, plus the role the server is expected to have.

use std::time::Instant;

use async_trait::async_trait;
use dr_core::{ErrorKind, Health, HealthProbe, ProviderError, Settings};

use crate::client::PgNode;
use crate::config::{ExpectRole, PostgresConfig};

/// A PostgreSQL server as a [`HealthProbe`]: healthy when it answers
/// `SELECT pg_is_in_recovery()` within `timeout` in the role of `expect_role`
/// (a primary must also take writes: a fenced primary is unhealthy). Wrong
/// credentials are an error, not a verdict: the probe cannot decide.
#[derive(Debug)]
pub struct PostgresProbe {
    config: PostgresConfig,
    node: PgNode,
}

impl PostgresProbe {
    /// A probe of the server in `config`.
    pub fn new(config: PostgresConfig) -> Result<Self, dr_core::ConfigError> {
        let node = config.node()?;
        Ok(PostgresProbe { config, node })
    }

    /// Reads the resource's settings (see [`PostgresConfig`]).
    pub fn from_settings(settings: &Settings) -> Result<Self, dr_core::ConfigError> {
        Self::new(PostgresConfig::from_settings(settings)?)
    }

    async fn check(&self, started: Instant) -> Result<Health, ProviderError> {
        let state = self
            .node
            .connect()
            .await?
            .state(&self.config.fence_roles)
            .await?;
        let latency = started.elapsed();
        let addr = self.node.addr();
        Ok(match (self.config.expect_role, state.in_recovery) {
            (None, false) => Health::healthy(latency).with_detail("primary"),
            (None, true) => Health::healthy(latency).with_detail("standby"),
            (Some(ExpectRole::Primary), true) => {
                Health::unhealthy(format!("{addr} is a standby, expected a primary"))
            }
            (Some(ExpectRole::Primary), false) if !state.writable() => {
                Health::unhealthy(format!("{addr} is a primary that refuses writes (fenced)"))
            }
            (Some(ExpectRole::Primary), false) => {
                Health::healthy(latency).with_detail("primary, takes writes")
            }
            (Some(ExpectRole::Replica), false) => {
                Health::unhealthy(format!("{addr} is a primary, expected a standby"))
            }
            (Some(ExpectRole::Replica), true) => match state.upstream {
                Some(up) => Health::healthy(latency).with_detail(format!("standby of {up}")),
                None => Health::degraded(format!("{addr} is a standby that is not streaming")),
            },
        })
    }
}

#[async_trait]
impl HealthProbe for PostgresProbe {
    async fn probe(&self) -> Result<Health, ProviderError> {
        let started = Instant::now();
        match self.check(started).await {
            Ok(health) => Ok(health),
            Err(e) if matches!(e.kind(), ErrorKind::Auth) => Err(e),
            Err(e) => Ok(Health::unhealthy(e.message().to_string())),
        }
    }
}
