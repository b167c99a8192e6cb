//! Pool health as a [`HealthProbe`].

use std::time::Instant;

use dr_core::{ConfigError, Health, HealthProbe, ProviderError, Settings, async_trait};
use serde_json::Value;

use crate::client::CfClient;
use crate::config::LoadBalancerConfig;
use crate::router::LB_PROVIDER;

/// Reports the health Cloudflare's monitors see for one pool
/// (`GET /accounts/{account}/load_balancers/pools/{pool}/health`).
///
/// # Rule
///
/// Each PoP that checks the pool reports it healthy or not (`pop_health`).
/// - every PoP healthy and every origin healthy in every PoP: **healthy**;
/// - every PoP healthy but some origin failing somewhere, or more than half of the
///   PoPs healthy: **degraded** (the pool serves, with reduced capacity or reach);
/// - half of the PoPs or fewer healthy, or no PoP reporting at all (no monitor
///   attached yet): **unhealthy**, so a gate never passes on missing data.
///
/// The detail names the failing PoPs and origins with Cloudflare's `failure_reason`.
#[derive(Debug)]
pub struct CloudflarePoolProbe {
    client: CfClient,
    path: String,
    label: String,
}

impl CloudflarePoolProbe {
    /// A probe of `target`'s pool in `cfg`.
    pub fn new(
        resource: &str,
        cfg: &LoadBalancerConfig,
        target: &str,
    ) -> Result<Self, ConfigError> {
        let pool = cfg.pools.get(target).ok_or_else(|| {
            ConfigError::key(
                "probe_pool",
                format!("`{target}` is not a target in `pools`"),
            )
        })?;
        Ok(CloudflarePoolProbe {
            client: CfClient::new(LB_PROVIDER, resource, &cfg.api)?,
            path: format!(
                "/accounts/{}/load_balancers/pools/{}/health",
                cfg.account_id, pool
            ),
            label: format!("pool `{target}` ({pool})"),
        })
    }

    /// Builds the probe from a plan resource's settings; needs `probe_pool`.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let cfg = LoadBalancerConfig::from_settings(settings)?;
        let target = cfg.probe_pool.clone().ok_or_else(|| {
            ConfigError::key(
                "probe_pool",
                "set `probe_pool` to the target whose pool health this resource reports",
            )
        })?;
        Self::new(settings.name(), &cfg, &target)
    }
}

/// Judges a `pool_health` result by the rule in [`CloudflarePoolProbe`].
pub(crate) fn judge(label: &str, result: &Value, latency: std::time::Duration) -> Health {
    let pops = result.get("pop_health").and_then(Value::as_object);
    let Some(pops) = pops.filter(|p| !p.is_empty()) else {
        return Health::unhealthy(format!(
            "{label}: no PoP reports health (is a monitor attached to the pool?)"
        ));
    };
    let mut sick_pops = Vec::new();
    let mut sick_origins = Vec::new();
    for (pop, h) in pops {
        if h.get("healthy").and_then(Value::as_bool) != Some(true) {
            sick_pops.push(pop.clone());
        }
        for entry in h
            .get("origins")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for (addr, o) in entry.as_object().into_iter().flatten() {
                if o.get("healthy").and_then(Value::as_bool) == Some(false) {
                    let why = o
                        .get("failure_reason")
                        .and_then(Value::as_str)
                        .unwrap_or("no reason given");
                    sick_origins.push(format!("{addr} in {pop}: {why}"));
                }
            }
        }
    }
    let n = pops.len();
    let ok = n - sick_pops.len();
    let origins = if sick_origins.is_empty() {
        String::new()
    } else {
        format!("; failing origins: {}", sick_origins.join(", "))
    };
    if sick_pops.is_empty() && sick_origins.is_empty() {
        Health::healthy(latency).with_detail(format!("{label}: all {n} PoPs report it healthy"))
    } else if ok * 2 > n {
        Health::degraded(format!(
            "{label}: {ok} of {n} PoPs report it healthy (failing: {}){origins}",
            if sick_pops.is_empty() {
                "none".to_string()
            } else {
                sick_pops.join(", ")
            }
        ))
    } else {
        Health::unhealthy(format!(
            "{label}: only {ok} of {n} PoPs report it healthy (failing: {}){origins}",
            sick_pops.join(", ")
        ))
    }
}

#[async_trait]
impl HealthProbe for CloudflarePoolProbe {
    async fn probe(&self) -> Result<Health, ProviderError> {
        let started = Instant::now();
        let result = self.client.get(&self.path).await?;
        Ok(judge(&self.label, &result, started.elapsed()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dr_core::HealthStatus;
    use serde_json::json;
    use std::time::Duration;

    fn pop(healthy: bool, origin_ok: bool) -> Value {
        json!({"healthy": healthy, "origins": [{"192.0.2.1": {
            "healthy": origin_ok, "failure_reason": if origin_ok { "No failures" } else { "HTTP 503" },
            "response_code": if origin_ok { 200 } else { 503 }, "rtt": "12.1ms"}}]})
    }

    #[test]
    fn the_pop_majority_rule() {
        let z = Duration::ZERO;
        let all = json!({"pop_health": {"Amsterdam, NL": pop(true, true), "Los Angeles, US": pop(true, true)}});
        assert_eq!(judge("p", &all, z).status, HealthStatus::Healthy);
        let origin = json!({"pop_health": {"Amsterdam, NL": pop(true, false), "Los Angeles, US": pop(true, true)}});
        let h = judge("p", &origin, z);
        assert_eq!(h.status, HealthStatus::Degraded);
        assert!(h.detail.contains("HTTP 503"), "{}", h.detail);
        let two_of_three = json!({"pop_health": {"A": pop(true, true), "B": pop(true, true), "C": pop(false, false)}});
        assert_eq!(judge("p", &two_of_three, z).status, HealthStatus::Degraded);
        let half = json!({"pop_health": {"A": pop(true, true), "B": pop(false, false)}});
        assert_eq!(judge("p", &half, z).status, HealthStatus::Unhealthy);
        assert_eq!(
            judge("p", &json!({"pop_health": {}}), z).status,
            HealthStatus::Unhealthy
        );
        assert_eq!(judge("p", &json!({}), z).status, HealthStatus::Unhealthy);
    }
}
