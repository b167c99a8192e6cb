//! Provider actions: enable or disable one origin of a pool.

use dr_core::{Action, ConfigError, ErrorKind, ProviderError, Settings, async_trait};
use serde_json::{Value, json};

use crate::client::CfClient;
use crate::config::PoolOriginConfig;
use crate::error::{conflict, error};

/// Action name that disables one origin of a pool.
pub const DISABLE_ORIGIN: &str = "cloudflare.pool.disable_origin";
/// Action name that enables one origin of a pool.
pub const ENABLE_ORIGIN: &str = "cloudflare.pool.enable_origin";

/// Sets `enabled` on one origin of a pool, leaving every other origin as it is.
///
/// Cloudflare's pool PATCH replaces the whole `origins` array, so `run()` reads the
/// pool, flips the one origin and writes the full array back, then reads the pool
/// again to verify that the origin has the desired state and the others are
/// unchanged. Cloudflare has no conditional update for pools: a change made by
/// someone else between the read and the write would be overwritten, and the
/// verification reports it.
#[derive(Debug)]
pub struct PoolOriginAction {
    cfg: PoolOriginConfig,
    client: CfClient,
    enable: bool,
}

impl PoolOriginAction {
    /// An action that sets origin `cfg.origin` to `enable`.
    pub fn new(step: &str, cfg: PoolOriginConfig, enable: bool) -> Result<Self, ConfigError> {
        let client = CfClient::new(
            if enable {
                ENABLE_ORIGIN
            } else {
                DISABLE_ORIGIN
            },
            step,
            &cfg.api,
        )?;
        Ok(PoolOriginAction {
            cfg,
            client,
            enable,
        })
    }

    /// Builds the action from a step's settings.
    pub fn from_settings(settings: &Settings, enable: bool) -> Result<Self, ConfigError> {
        Self::new(
            settings.name(),
            PoolOriginConfig::from_settings(settings)?,
            enable,
        )
    }

    fn path(&self) -> String {
        format!(
            "/accounts/{}/load_balancers/pools/{}",
            self.cfg.account_id, self.cfg.pool
        )
    }

    fn origins(pool: &Value) -> Vec<Value> {
        pool.get("origins")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    fn index(&self, origins: &[Value]) -> Result<usize, ProviderError> {
        origins
            .iter()
            .position(|o| o.get("name").and_then(Value::as_str) == Some(self.cfg.origin.as_str()))
            .ok_or_else(|| {
                error(
                    ErrorKind::NotFound,
                    format!(
                        "pool `{}` has no origin named `{}`",
                        self.cfg.pool, self.cfg.origin
                    ),
                )
            })
    }

    fn is_enabled(o: &Value) -> bool {
        o.get("enabled").and_then(Value::as_bool).unwrap_or(true)
    }

    /// Brings the origin to `enable`; returns whether it changed anything.
    async fn set(&self, enable: bool) -> Result<bool, ProviderError> {
        let before = Self::origins(&self.client.get(&self.path()).await?);
        let i = self.index(&before)?;
        if Self::is_enabled(&before[i]) == enable {
            return Ok(false);
        }
        let mut origins = before.clone();
        for o in origins.iter_mut() {
            if let Some(m) = o.as_object_mut() {
                // Read-only: Cloudflare sets it.
                m.remove("disabled_at");
            }
        }
        origins[i]["enabled"] = json!(enable);
        self.client
            .patch(&self.path(), &json!({ "origins": origins }))
            .await?;

        let after = Self::origins(&self.client.get(&self.path()).await?);
        let j = self.index(&after)?;
        let strip = |o: &Value| {
            let mut o = o.clone();
            if let Some(m) = o.as_object_mut() {
                m.remove("disabled_at");
                m.remove("enabled");
            }
            o
        };
        let others_same = before.len() == after.len()
            && before.iter().zip(&after).enumerate().all(|(k, (b, a))| {
                if k == i {
                    strip(b) == strip(a)
                } else {
                    strip(b) == strip(a) && Self::is_enabled(b) == Self::is_enabled(a)
                }
            });
        if Self::is_enabled(&after[j]) != enable || !others_same {
            return Err(conflict(format!(
                "after the PATCH, pool `{}` does not show origin `{}` {} with the other origins unchanged \
                     (a concurrent change?)",
                self.cfg.pool,
                self.cfg.origin,
                if enable { "enabled" } else { "disabled" }
            )));
        }
        Ok(true)
    }
}

#[async_trait]
impl Action for PoolOriginAction {
    fn describe(&self) -> String {
        format!(
            "{} origin `{}` in Cloudflare pool `{}`",
            if self.enable { "enable" } else { "disable" },
            self.cfg.origin,
            self.cfg.pool
        )
    }

    /// Setting an origin's `enabled` flag twice is the same as once (a
    /// read-modify-write of the pool's origins that changes nothing when it is
    /// already so), so the executor may retry it and re-run it on resume.
    fn idempotent(&self) -> bool {
        true
    }

    /// `verify` reads the pool back: it tells reliably whether the origin is
    /// already enabled or disabled.
    fn verifies(&self) -> bool {
        true
    }

    async fn verify(&self) -> Result<bool, ProviderError> {
        let origins = Self::origins(&self.client.get(&self.path()).await?);
        let i = self.index(&origins)?;
        Ok(Self::is_enabled(&origins[i]) == self.enable)
    }

    async fn run(&self) -> Result<Value, ProviderError> {
        let changed = self.set(self.enable).await?;
        Ok(json!({
            "pool": self.cfg.pool,
            "origin": self.cfg.origin,
            "enabled": self.enable,
            "changed": changed,
        }))
    }

    fn compensable(&self) -> bool {
        true
    }

    async fn compensate(&self) -> Result<(), ProviderError> {
        self.set(!self.enable).await.map(|_| ())
    }
}
