//! The Traffic Manager router: the profile's endpoints, one per target.
//!
//! A weighted profile gets `Enabled` + weight `10 × percent` per target with
//! traffic and `Disabled` for the others; a *priority* profile is failover-only
//! (only `endpointStatus` flips). Only endpoints whose state differs are PATCHed,
//! then the profile is read back and compared with the split.

use std::collections::BTreeMap;
use std::sync::Arc;

use dr_core::http::Method;
use dr_core::{
    ConfigError, ErrorKind, ProviderError, RouterCapabilities, Settings, TrafficRouter,
    TrafficSplit, async_trait,
};
use serde_json::{Value, json};

use super::TRAFFIC_MANAGER;
use super::config::{RoutingMethod, TrafficManagerConfig, endpoint_type};
use crate::client::{Arm, api, str_at};
use crate::config::ArmConfig;
use crate::credential::TokenSource;
use crate::error::{conflict, invalid};
use crate::routing::{Member, check_split, desired, no_traffic, num, split_of};

/// Traffic Manager profile endpoints as a router.
#[derive(Debug)]
pub struct TrafficManagerRouter {
    cfg: TrafficManagerConfig,
    arm: Arm,
}

impl TrafficManagerRouter {
    /// A router for `cfg`, talking to ARM as `arm` says with tokens from `token`.
    pub fn new(
        resource: &str,
        arm: ArmConfig,
        cfg: TrafficManagerConfig,
        token: Arc<dyn TokenSource>,
    ) -> Result<Self, ConfigError> {
        Ok(TrafficManagerRouter {
            arm: Arm::new(TRAFFIC_MANAGER, resource, arm, token)?,
            cfg,
        })
    }

    /// Builds the router from a resource's settings.
    pub fn from_settings(s: &Settings, token: Arc<dyn TokenSource>) -> Result<Self, ConfigError> {
        Self::new(
            s.name(),
            ArmConfig::from_settings(s)?,
            TrafficManagerConfig::from_settings(s)?,
            token,
        )
    }

    fn profile_path(&self) -> String {
        self.arm.path(&format!(
            "Microsoft.Network/trafficmanagerprofiles/{}",
            self.cfg.profile
        ))
    }

    fn endpoint_path(&self, target: &str) -> String {
        let (kind, name) = self.cfg.targets[target].split_once('/').unwrap_or_default();
        format!(
            "{}/{}/{name}",
            self.profile_path(),
            endpoint_type(kind).unwrap_or(kind)
        )
    }

    /// The profile's endpoints, by target, checking the routing method and that no
    /// endpoint outside `targets` takes traffic.
    pub(crate) async fn read(&self) -> Result<(BTreeMap<String, Member>, Value), ProviderError> {
        let profile = self
            .arm
            .get(&self.profile_path(), api::TRAFFIC_MANAGER, &[])
            .await?;
        let method = str_at(&profile, &["properties", "trafficRoutingMethod"]).unwrap_or("");
        if !method.eq_ignore_ascii_case(self.cfg.routing_method.as_arm()) {
            return Err(conflict(format!(
                "profile `{}` routes by `{method}`, but the plan declares routing_method = `{}`",
                self.cfg.profile,
                self.cfg.routing_method.as_arm().to_lowercase()
            )));
        }
        let endpoints = profile
            .pointer("/properties/endpoints")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut members = BTreeMap::new();
        for ep in &endpoints {
            let name = ep.get("name").and_then(Value::as_str).unwrap_or("");
            let kind = ep
                .get("type")
                .and_then(Value::as_str)
                .and_then(|t| t.rsplit('/').next())
                .unwrap_or("");
            let member = Member {
                enabled: str_at(ep, &["properties", "endpointStatus"]) == Some("Enabled"),
                weight: num(ep, "weight"),
                priority: num(ep, "priority"),
            };
            let target = self.cfg.targets.iter().find(|(_, spec)| {
                spec.split_once('/').is_some_and(|(k, n)| {
                    n == name && endpoint_type(k).is_some_and(|t| t.eq_ignore_ascii_case(kind))
                })
            });
            match target {
                Some((t, _)) => {
                    members.insert(t.clone(), member);
                }
                None if member.enabled => {
                    return Err(conflict(format!(
                        "endpoint `{kind}/{name}` of profile `{}` is enabled but is not one of \
                         the router's targets; its traffic cannot be accounted for",
                        self.cfg.profile
                    )));
                }
                None => {}
            }
        }
        for t in self.cfg.targets.keys() {
            if !members.contains_key(t) {
                return Err(self.arm.answer(
                    ErrorKind::NotFound,
                    format!(
                        "profile `{}` has no endpoint `{}` (target `{t}`)",
                        self.cfg.profile, self.cfg.targets[t]
                    ),
                ));
            }
        }
        Ok((members, profile))
    }

    fn weighted(&self) -> bool {
        self.cfg.routing_method == RoutingMethod::Weighted
    }
}

#[async_trait]
impl TrafficRouter for TrafficManagerRouter {
    fn targets(&self) -> Vec<String> {
        self.cfg.targets.keys().cloned().collect()
    }

    fn capabilities(&self) -> RouterCapabilities {
        if self.weighted() {
            RouterCapabilities::weighted()
        } else {
            RouterCapabilities::failover_only()
        }
    }

    async fn current(&self, scope: Option<&str>) -> Result<TrafficSplit, ProviderError> {
        if let Some(s) = scope {
            return Err(invalid(format!(
                "Traffic Manager takes no scope (got `{s}`)"
            )));
        }
        let (members, _) = self.read().await?;
        split_of(&members, self.weighted()).ok_or_else(|| no_traffic(&self.cfg.profile))
    }

    async fn apply(&self, split: &TrafficSplit, scope: Option<&str>) -> Result<(), ProviderError> {
        if let Some(s) = scope {
            return Err(invalid(format!(
                "Traffic Manager takes no scope (got `{s}`)"
            )));
        }
        let targets = self.targets();
        check_split(split, &targets, self.weighted())?;
        let (members, _) = self.read().await?;
        for (t, (enabled, weight)) in desired(split, &targets) {
            let have = members[&t];
            let body = if self.weighted() && enabled {
                if have.enabled && have.weight == weight {
                    continue;
                }
                json!({ "properties": { "endpointStatus": "Enabled", "weight": weight } })
            } else {
                if have.enabled == enabled {
                    continue;
                }
                let status = if enabled { "Enabled" } else { "Disabled" };
                json!({ "properties": { "endpointStatus": status } })
            };
            self.arm
                .lro(
                    Method::PATCH,
                    &self.endpoint_path(&t),
                    api::TRAFFIC_MANAGER,
                    &[],
                    Some(&body),
                )
                .await?;
        }
        let (after, _) = self.read().await?;
        let now = split_of(&after, self.weighted());
        match now {
            Some(now) if now.same_as(split) => Ok(()),
            other => Err(self.arm.answer(
                ErrorKind::Fatal,
                format!(
                    "profile `{}`: after the change the split is {}, not {split}",
                    self.cfg.profile,
                    other
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "nothing enabled".into())
                ),
            )),
        }
    }
}
