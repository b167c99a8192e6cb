//! `provider = "tcp"`: the port accepts a connection before the deadline.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;
use tokio::net::TcpStream;

use super::parse_timeout;
use crate::{ConfigError, Health, HealthProbe, ProviderError, Settings};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TcpConfig {
    address: String,
    #[serde(default)]
    timeout: Option<String>,
}

/// Healthy when `address` (`host:port`) accepts a TCP connection within the
/// timeout (default 5 s). The host is resolved on every probe, so a DNS change
/// is followed.
///
/// ```
/// use std::time::Duration;
/// use dr_core::builtin::TcpProbe;
///
/// let probe = TcpProbe::new("db.westus.internal:5432")?.with_timeout(Duration::from_secs(2));
/// assert_eq!(probe.address(), "db.westus.internal:5432");
/// assert!(TcpProbe::new("no-port").is_err());
/// # Ok::<(), dr_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TcpProbe {
    address: String,
    timeout: Duration,
}

impl TcpProbe {
    /// A probe of `address` (`host:port`, `[::1]:port`) with a 5 s timeout.
    pub fn new(address: &str) -> Result<Self, ConfigError> {
        let bad = |why: &str| ConfigError::key("address", format!("`{address}` {why}"));
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| bad("is not host:port"))?;
        if host.is_empty() || host == "[]" {
            return Err(bad("has no host"));
        }
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err(bad("has no valid port (1-65535)")),
        }
        Ok(TcpProbe {
            address: address.to_string(),
            timeout: super::DEFAULT_TIMEOUT,
        })
    }

    /// Builds the probe from a plan resource's settings (`address`, `timeout`).
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let cfg: TcpConfig = settings.deserialize()?;
        Ok(TcpProbe::new(&cfg.address)?.with_timeout(parse_timeout(cfg.timeout.as_deref())?))
    }

    /// Gives up (unhealthy) after `timeout` instead of 5 s.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The probed `host:port`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The probe's timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

#[async_trait]
impl HealthProbe for TcpProbe {
    async fn probe(&self) -> Result<Health, ProviderError> {
        let started = Instant::now();
        Ok(
            match tokio::time::timeout(self.timeout, TcpStream::connect(&self.address)).await {
                Ok(Ok(_)) => Health::healthy(started.elapsed()),
                Ok(Err(e)) if crate::probe::is_local_resource_error(&e) => {
                    return Err(ProviderError::new(
                        crate::ErrorKind::Transient,
                        format!(
                            "connect {}: not attempted on this machine: {e}",
                            self.address
                        ),
                    )
                    .with_source(e));
                }
                Ok(Err(e)) => Health::unhealthy(format!("connect {}: {e}", self.address)),
                Err(_) => Health::unhealthy(format!(
                    "connect {}: no answer within {}",
                    self.address,
                    crate::format_duration(self.timeout)
                )),
            },
        )
    }
}
