//! [`RedisProbe`]: `PING`, plus the role the server is expected to have.

use std::time::Instant;

use async_trait::async_trait;
use dr_core::{ErrorKind, Health, HealthProbe, ProviderError, Settings};

use crate::client::RedisNode;
use crate::config::{ExpectRole, RedisConfig};

/// A Redis server as a [`HealthProbe`].
///
/// Healthy when it answers `PING` within `timeout` and, with `expect_role`, has that
/// role. Unhealthy when it cannot be reached, does not answer in time, has the other
/// role, or is an expected primary that refuses writes (fenced). Degraded when it is
/// an expected replica whose link to its primary is down. Wrong credentials are an
/// error of kind `auth` (the probe cannot decide, and waiting will not help).
#[derive(Debug)]
pub struct RedisProbe {
    config: RedisConfig,
    node: RedisNode,
}

impl RedisProbe {
    /// A probe for the server in `config` (no I/O).
    pub fn new(config: RedisConfig) -> Result<Self, dr_core::ConfigError> {
        let node = config.node()?;
        Ok(RedisProbe { config, node })
    }

    /// Builds the probe from a plan resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, dr_core::ConfigError> {
        Self::new(RedisConfig::from_settings(settings)?)
    }

    async fn check(&self, started: Instant) -> Result<Health, ProviderError> {
        let mut conn = self.node.connect().await?;
        let pong: String = self.node.query(&mut conn, &redis::cmd("PING")).await?;
        if pong != "PONG" {
            return Ok(Health::unhealthy(format!(
                "{} answered PING with `{pong}`",
                self.node.addr()
            )));
        }
        let latency = started.elapsed();
        let Some(expected) = self.config.expect_role else {
            return Ok(Health::healthy(latency).with_detail("PONG"));
        };
        let info = self.node.info(&mut conn).await?;
        let health = match (expected, info.replica()) {
            (ExpectRole::Primary, Some(side)) => Health::unhealthy(format!(
                "{} is a replica of {}:{}, expected a primary",
                self.node.addr(),
                side.master_host,
                side.master_port
            )),
            (ExpectRole::Primary, None) => {
                if self.node.writable(&mut conn, &info).await? {
                    Health::healthy(latency).with_detail("PONG, primary")
                } else {
                    Health::unhealthy(format!(
                        "{} is a primary that refuses writes (fenced by min-replicas-to-write)",
                        self.node.addr()
                    ))
                }
            }
            (ExpectRole::Replica, None) => Health::unhealthy(format!(
                "{} is a primary, expected a replica",
                self.node.addr()
            )),
            (ExpectRole::Replica, Some(side)) if !side.link_up => Health::degraded(format!(
                "{} is a replica but its link to {}:{} is down",
                self.node.addr(),
                side.master_host,
                side.master_port
            )),
            (ExpectRole::Replica, Some(side)) => Health::healthy(latency).with_detail(format!(
                "PONG, replica of {}:{}",
                side.master_host, side.master_port
            )),
        };
        Ok(health)
    }
}

#[async_trait]
impl HealthProbe for RedisProbe {
    async fn probe(&self) -> Result<Health, ProviderError> {
        let started = Instant::now();
        let limit = self.config.timeout;
        match tokio::time::timeout(limit, self.check(started)).await {
            Err(_) => Ok(Health::unhealthy(format!(
                "{}: no answer within {limit:?}",
                self.node.addr()
            ))),
            Ok(Ok(health)) => Ok(health),
            // The probe cannot decide with wrong credentials; say so as an error.
            Ok(Err(e)) if matches!(e.kind(), ErrorKind::Auth) => Err(e),
            Ok(Err(e)) => Ok(Health::unhealthy(e.message().to_string())),
        }
    }
}
