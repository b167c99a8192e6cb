//! Traffic routers: a Load Balancer whose targets are pools, and a DNS record
//! whose targets are record contents.

use std::collections::BTreeMap;
use std::net::IpAddr;

use dr_core::{
    ConfigError, ProviderError, RouterCapabilities, Settings, TrafficRouter, TrafficSplit,
    async_trait,
};
use serde_json::{Value, json};

use crate::client::CfClient;
use crate::config::{DnsRecordConfig, LoadBalancerConfig};
use crate::error::{conflict, invalid};
use crate::steering::{self, LbView, Pools, RegionSource};

/// Provider name of the load-balancer router and probe.
pub const LB_PROVIDER: &str = "cloudflare.load_balancer";
/// Provider name of the DNS-record router.
pub const DNS_PROVIDER: &str = "cloudflare.dns_record";

/// Routes traffic between the pools of a Cloudflare Load Balancer, for all traffic
/// or for one region (`scope = "WNAM"`) through that region's scoped pool.
///
/// See the crate docs for which fields each kind of split writes.
#[derive(Debug)]
pub struct CloudflareLbRouter {
    cfg: LoadBalancerConfig,
    client: CfClient,
    pools: Pools,
}

impl CloudflareLbRouter {
    /// A router for `cfg`; `resource` is the plan's name for it (used in errors).
    pub fn new(resource: &str, cfg: LoadBalancerConfig) -> Result<Self, ConfigError> {
        cfg.check()?;
        let client = CfClient::new(LB_PROVIDER, resource, &cfg.api)?;
        let pools = Pools {
            targets: cfg.pools.clone(),
            scoped: cfg.scoped_pools.clone(),
        };
        Ok(CloudflareLbRouter { cfg, client, pools })
    }

    /// Builds the router from a plan resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        Self::new(
            settings.name(),
            LoadBalancerConfig::from_settings(settings)?,
        )
    }

    fn lb_path(&self) -> String {
        format!(
            "/zones/{}/load_balancers/{}",
            self.cfg.zone_id, self.cfg.load_balancer
        )
    }

    fn pool_path(&self, pool: &str) -> String {
        format!(
            "/accounts/{}/load_balancers/pools/{}",
            self.cfg.account_id, pool
        )
    }

    async fn view(&self) -> Result<LbView, ProviderError> {
        Ok(LbView::from_json(&self.client.get(&self.lb_path()).await?))
    }

    fn check(&self, split: &TrafficSplit, scope: Option<&str>) -> Result<(), ProviderError> {
        split
            .check(&self.targets())
            .map_err(|why| invalid(format!("split {split}: {why}")))?;
        if let Some(s) = scope
            && !self.pools.scoped.contains_key(s)
        {
            return Err(invalid(format!(
                "scope `{s}` has no scoped pool (configured: {})",
                self.pools
                    .scoped
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(())
    }

    async fn apply_scoped(&self, split: &TrafficSplit, region: &str) -> Result<(), ProviderError> {
        let view = self.view().await?;
        let plan = steering::scoped_plan(&view, &self.pools, region, split)?;
        if plan.fill_scoped_pool {
            let mut target_pools = BTreeMap::new();
            for t in split.targets() {
                let pool = self
                    .client
                    .get(&self.pool_path(&self.pools.targets[t]))
                    .await?;
                target_pools.insert(t.to_string(), pool);
            }
            let origins = steering::scoped_origins(split, &target_pools)?;
            let scoped_path = self.pool_path(&self.pools.scoped[region]);
            let live = self.client.get(&scoped_path).await?;
            if !steering::same_origins(&live, &origins) {
                self.client
                    .patch(&scoped_path, &json!({ "origins": origins }))
                    .await?;
            }
        }
        if let Some(body) = plan.lb_patch {
            self.client.patch(&self.lb_path(), &body).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl TrafficRouter for CloudflareLbRouter {
    fn targets(&self) -> Vec<String> {
        self.pools.targets.keys().cloned().collect()
    }

    fn capabilities(&self) -> RouterCapabilities {
        RouterCapabilities::weighted().with_scopes(self.pools.scoped.keys().cloned())
    }

    async fn current(&self, scope: Option<&str>) -> Result<TrafficSplit, ProviderError> {
        if let Some(s) = scope
            && !self.pools.scoped.contains_key(s)
        {
            return Err(invalid(format!("scope `{s}` has no scoped pool")));
        }
        let view = self.view().await?;
        let source = match scope {
            None => RegionSource::Default,
            Some(region) => steering::region_source(&view, &self.pools, region)?,
        };
        match source {
            RegionSource::Default => steering::default_split(&view, &self.pools),
            RegionSource::Target(t) => Ok(TrafficSplit::all_to(t)),
            RegionSource::Scoped(pool) => {
                let pool = self.client.get(&self.pool_path(&pool)).await?;
                steering::origin_split(&pool, &self.pools)
            }
        }
    }

    async fn apply(&self, split: &TrafficSplit, scope: Option<&str>) -> Result<(), ProviderError> {
        self.check(split, scope)?;
        match scope {
            Some(region) => self.apply_scoped(split, region).await,
            None => {
                let view = self.view().await?;
                if let Some(body) = steering::unscoped_patch(&view, &self.pools, split) {
                    self.client.patch(&self.lb_path(), &body).await?;
                }
                Ok(())
            }
        }
    }
}

/// Fails traffic over by rewriting one DNS record's content (e.g. `www` → the
/// maintenance host, or a secondary test name such as `www-sec` → the west origin).
#[derive(Debug)]
pub struct CloudflareDnsRouter {
    cfg: DnsRecordConfig,
    client: CfClient,
}

/// The record type a content needs: `A`, `AAAA` or `CNAME`.
fn record_type(content: &str) -> &'static str {
    match content.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => "A",
        Ok(IpAddr::V6(_)) => "AAAA",
        Err(_) => "CNAME",
    }
}

fn same_content(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches('.').to_ascii_lowercase();
    match (a.trim().parse::<IpAddr>(), b.trim().parse::<IpAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => norm(a) == norm(b),
    }
}

impl CloudflareDnsRouter {
    /// A router for `cfg`; `resource` is the plan's name for it.
    pub fn new(resource: &str, cfg: DnsRecordConfig) -> Result<Self, ConfigError> {
        let client = CfClient::new(DNS_PROVIDER, resource, &cfg.api)?;
        Ok(CloudflareDnsRouter { cfg, client })
    }

    /// Builds the router from a plan resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        Self::new(settings.name(), DnsRecordConfig::from_settings(settings)?)
    }

    fn path(&self) -> String {
        format!(
            "/zones/{}/dns_records/{}",
            self.cfg.zone_id, self.cfg.record
        )
    }

    fn target_of(&self, content: &str) -> Option<&str> {
        self.cfg
            .targets
            .iter()
            .find(|(_, c)| same_content(c, content))
            .map(|(t, _)| t.as_str())
    }
}

#[async_trait]
impl TrafficRouter for CloudflareDnsRouter {
    fn targets(&self) -> Vec<String> {
        self.cfg.targets.keys().cloned().collect()
    }

    fn capabilities(&self) -> RouterCapabilities {
        RouterCapabilities::failover_only()
    }

    async fn current(&self, scope: Option<&str>) -> Result<TrafficSplit, ProviderError> {
        if let Some(s) = scope {
            return Err(invalid(format!(
                "a DNS record has no scopes (asked for `{s}`)"
            )));
        }
        let record = self.client.get(&self.path()).await?;
        let content = record.get("content").and_then(Value::as_str).unwrap_or("");
        self.target_of(content)
            .map(TrafficSplit::all_to)
            .ok_or_else(|| {
                conflict(format!(
                    "record content `{content}` is none of the targets ({})",
                    self.targets().join(", ")
                ))
            })
    }

    async fn apply(&self, split: &TrafficSplit, scope: Option<&str>) -> Result<(), ProviderError> {
        if let Some(s) = scope {
            return Err(invalid(format!(
                "a DNS record has no scopes (asked for `{s}`)"
            )));
        }
        split
            .check(&self.targets())
            .map_err(|why| invalid(format!("split {split}: {why}")))?;
        let mut targets = split.targets();
        let (Some(target), None) = (targets.next(), targets.next()) else {
            return Err(invalid(format!(
                "a DNS record sends all traffic to one target; cannot apply {split}"
            )));
        };
        let wanted = &self.cfg.targets[target];
        let record = self.client.get(&self.path()).await?;
        let live = record.get("content").and_then(Value::as_str).unwrap_or("");
        if same_content(live, wanted) {
            return Ok(());
        }
        let name = record
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| conflict("the DNS record has no name"))?;
        let body = json!({ "type": record_type(wanted), "name": name, "content": wanted });
        self.client.patch(&self.path(), &body).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_types_and_content_matching() {
        assert_eq!(record_type("203.0.113.10"), "A");
        assert_eq!(record_type("2001:db8::1"), "AAAA");
        assert_eq!(record_type("maint.example.com"), "CNAME");
        assert!(same_content("Maint.Example.com.", "maint.example.com"));
        assert!(same_content("2001:DB8::1", "2001:db8:0::1"));
        assert!(!same_content("203.0.113.10", "203.0.113.11"));
    }
}
