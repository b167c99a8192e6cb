//! Built-in probes: `http` and `tcp`.
//!
//! Both are plain [`HealthProbe`](crate::HealthProbe)s with no provider crate of
//! their own, registered by [`Registry::with_builtins`](crate::Registry::with_builtins):
//!
//! ```toml
//! [resources.web_west]
//! provider = "http"
//! url = "https://westus.proseware.example/healthz"
//! expect_status = 200          # default 200
//! body_contains = "ok"         # optional
//! timeout = "5s"               # default 5s
//! headers = { Authorization = "Bearer ${env:TOKEN}" }
//!
//! [resources.db_port]
//! provider = "tcp"
//! address = "db.westus.internal:5432"
//! timeout = "2s"               # default 5s
//! ```
//!
//! A target that answers wrongly or not at all is `Ok(Health::unhealthy(..))`
//! with a detail saying what was seen; settings that cannot work (an unparsable
//! URL or address, an unknown key) are a [`ConfigError`] when
//! the plan is resolved.

#[cfg(feature = "http")]
mod http;
#[cfg(feature = "engine")]
mod tcp;

use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "http")]
pub use http::HttpProbe;
#[cfg(feature = "engine")]
pub use tcp::TcpProbe;

use crate::{ConfigError, Registry};

/// The timeout both probes use when the settings give none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Registers `http` and `tcp`.
pub fn register(registry: &mut Registry) {
    #[cfg(feature = "http")]
    registry.probe("http", |settings| {
        Ok(Arc::new(HttpProbe::from_settings(settings)?))
    });
    #[cfg(feature = "engine")]
    registry.probe("tcp", |settings| {
        Ok(Arc::new(TcpProbe::from_settings(settings)?))
    });
}

/// Parses an optional `timeout` setting; zero is refused (nothing answers in no time).
fn parse_timeout(text: Option<&str>) -> Result<Duration, ConfigError> {
    let Some(text) = text else {
        return Ok(DEFAULT_TIMEOUT);
    };
    let d = crate::parse_duration(text).map_err(|e| ConfigError::key("timeout", e))?;
    if d.is_zero() {
        return Err(ConfigError::key("timeout", "must be more than 0"));
    }
    Ok(d)
}
