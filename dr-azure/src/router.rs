//! Traffic Manager and Front Door as [`TrafficRouter`]s.
//!
//! Both express a split the same way: a target with weight `w > 0` is `Enabled`
//! with an Azure weight of `10 × w` (so 1..=100 % becomes 10..=1000, inside Azure's
//! 1–1000), a target at 0 is `Disabled`. Reading back, the enabled endpoints'
//! weights are turned into percentages (largest remainder, summing to 100). A
//! Traffic Manager *priority* profile is failover-only: the target at 100 is
//! `Enabled`, every other `Disabled`. Only endpoints whose state differs are
//! PATCHed, then the state is read back and compared with the split.

use std::collections::BTreeMap;
use std::sync::Arc;

use dr_core::http::Method;
use dr_core::{
    ConfigError, ErrorKind, ProviderError, RouterCapabilities, Settings, TrafficRouter,
    TrafficSplit, async_trait,
};
use serde_json::{Value, json};

use crate::client::{Arm, api, str_at};
use crate::config::{
    ArmConfig, FrontDoorConfig, RoutingMethod, TrafficManagerConfig, endpoint_type,
};
use crate::credential::TokenSource;
use crate::error::{conflict, invalid};

/// `provider = "azure.traffic_manager"`.
pub const TRAFFIC_MANAGER: &str = "azure.traffic_manager";
/// `provider = "azure.front_door"`.
pub const FRONT_DOOR: &str = "azure.front_door";

/// One endpoint or origin as read: enabled and its Azure weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Member {
    pub enabled: bool,
    pub weight: u32,
    pub priority: u32,
}

/// Checks `split` against the targets (and, failover-only, one target).
pub(crate) fn check_split(
    split: &TrafficSplit,
    targets: &[String],
    weighted: bool,
) -> Result<(), ProviderError> {
    split.check(targets).map_err(invalid)?;
    if !weighted && split.normalized().iter().count() > 1 {
        return Err(invalid(format!(
            "{split}: this router is failover-only (all traffic to one target)"
        )));
    }
    Ok(())
}

/// The members a split asks for, target by target (`weighted`: weight × 10;
/// failover-only: enabled or not, the weight left as it is).
pub(crate) fn desired(split: &TrafficSplit, targets: &[String]) -> BTreeMap<String, (bool, u32)> {
    targets
        .iter()
        .map(|t| {
            let w = split.weight(t);
            (t.clone(), (w > 0, w * 10))
        })
        .collect()
}

/// Percentages (summing to 100) from the enabled members' weights.
pub(crate) fn split_of(members: &BTreeMap<String, Member>, weighted: bool) -> Option<TrafficSplit> {
    let enabled: Vec<(&String, &Member)> = members.iter().filter(|(_, m)| m.enabled).collect();
    if enabled.is_empty() {
        return None;
    }
    if !weighted {
        // Priority routing: the enabled endpoint with the lowest priority number.
        let (t, _) = enabled
            .iter()
            .min_by_key(|(t, m)| (m.priority, (*t).clone()))?;
        return Some(TrafficSplit::all_to(t.as_str()));
    }
    let total: u64 = enabled
        .iter()
        .map(|(_, m)| u64::from(m.weight.max(1)))
        .sum();
    let mut parts: Vec<(&String, u64, u64)> = enabled
        .iter()
        .map(|(t, m)| {
            let x = u64::from(m.weight.max(1)) * 100;
            (*t, x / total, x % total)
        })
        .collect();
    let mut left = 100 - parts.iter().map(|p| p.1).sum::<u64>();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|a, b| parts[*b].2.cmp(&parts[*a].2).then(a.cmp(b)));
    for i in order {
        if left == 0 {
            break;
        }
        parts[i].1 += 1;
        left -= 1;
    }
    Some(TrafficSplit::from_pairs(
        parts.into_iter().map(|(t, w, _)| (t.as_str(), w as u32)),
    ))
}

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

pub(crate) fn num(v: &Value, key: &str) -> u32 {
    v.pointer(&format!("/properties/{key}"))
        .and_then(Value::as_u64)
        .unwrap_or(0) as u32
}

fn no_traffic(what: &str) -> ProviderError {
    conflict(format!(
        "{what}: no target is enabled, so no traffic is routed"
    ))
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

/// Front Door (Standard/Premium) origins of one origin group as a router.
#[derive(Debug)]
pub struct FrontDoorRouter {
    cfg: FrontDoorConfig,
    arm: Arm,
}

impl FrontDoorRouter {
    /// A router for `cfg`.
    pub fn new(
        resource: &str,
        arm: ArmConfig,
        cfg: FrontDoorConfig,
        token: Arc<dyn TokenSource>,
    ) -> Result<Self, ConfigError> {
        Ok(FrontDoorRouter {
            arm: Arm::new(FRONT_DOOR, resource, arm, token)?,
            cfg,
        })
    }

    /// Builds the router from a resource's settings.
    pub fn from_settings(s: &Settings, token: Arc<dyn TokenSource>) -> Result<Self, ConfigError> {
        Self::new(
            s.name(),
            ArmConfig::from_settings(s)?,
            FrontDoorConfig::from_settings(s)?,
            token,
        )
    }

    fn origins_path(&self) -> String {
        self.arm.path(&format!(
            "Microsoft.Cdn/profiles/{}/originGroups/{}/origins",
            self.cfg.profile, self.cfg.origin_group
        ))
    }

    async fn read(&self) -> Result<BTreeMap<String, Member>, ProviderError> {
        let list = self
            .arm
            .get(&self.origins_path(), api::FRONT_DOOR, &[])
            .await?;
        let origins = list
            .get("value")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut members = BTreeMap::new();
        for o in &origins {
            let name = o.get("name").and_then(Value::as_str).unwrap_or("");
            let member = Member {
                enabled: str_at(o, &["properties", "enabledState"]) == Some("Enabled"),
                weight: num(o, "weight"),
                priority: num(o, "priority"),
            };
            match self.cfg.targets.iter().find(|(_, n)| n.as_str() == name) {
                Some((t, _)) => {
                    members.insert(t.clone(), member);
                }
                None if member.enabled => {
                    return Err(conflict(format!(
                        "origin `{name}` of origin group `{}` is enabled but is not one of the \
                         router's targets; its traffic cannot be accounted for",
                        self.cfg.origin_group
                    )));
                }
                None => {}
            }
        }
        for (t, origin) in &self.cfg.targets {
            if !members.contains_key(t) {
                return Err(self.arm.answer(
                    ErrorKind::NotFound,
                    format!(
                        "origin group `{}` has no origin `{origin}` (target `{t}`)",
                        self.cfg.origin_group
                    ),
                ));
            }
        }
        Ok(members)
    }
}

#[async_trait]
impl TrafficRouter for FrontDoorRouter {
    fn targets(&self) -> Vec<String> {
        self.cfg.targets.keys().cloned().collect()
    }

    fn capabilities(&self) -> RouterCapabilities {
        RouterCapabilities::weighted()
    }

    async fn current(&self, scope: Option<&str>) -> Result<TrafficSplit, ProviderError> {
        if let Some(s) = scope {
            return Err(invalid(format!("Front Door takes no scope (got `{s}`)")));
        }
        let members = self.read().await?;
        split_of(&members, true).ok_or_else(|| no_traffic(&self.cfg.origin_group))
    }

    async fn apply(&self, split: &TrafficSplit, scope: Option<&str>) -> Result<(), ProviderError> {
        if let Some(s) = scope {
            return Err(invalid(format!("Front Door takes no scope (got `{s}`)")));
        }
        let targets = self.targets();
        check_split(split, &targets, true)?;
        let members = self.read().await?;
        for (t, (enabled, weight)) in desired(split, &targets) {
            let have = members[&t];
            let body = if enabled {
                if have.enabled && have.weight == weight {
                    continue;
                }
                json!({ "properties": { "enabledState": "Enabled", "weight": weight } })
            } else {
                if !have.enabled {
                    continue;
                }
                json!({ "properties": { "enabledState": "Disabled" } })
            };
            let path = format!("{}/{}", self.origins_path(), self.cfg.targets[&t]);
            self.arm
                .lro(Method::PATCH, &path, api::FRONT_DOOR, &[], Some(&body))
                .await?;
        }
        let now = split_of(&self.read().await?, true);
        match now {
            Some(now) if now.same_as(split) => Ok(()),
            other => Err(self.arm.answer(
                ErrorKind::Fatal,
                format!(
                    "origin group `{}`: after the change the split is {}, not {split}",
                    self.cfg.origin_group,
                    other
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "nothing enabled".into())
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(enabled: bool, weight: u32) -> Member {
        Member {
            enabled,
            weight,
            priority: 1,
        }
    }

    #[test]
    fn weights_become_percentages_summing_to_100() {
        let members = BTreeMap::from([
            ("a".to_string(), m(true, 1)),
            ("b".to_string(), m(true, 1)),
            ("c".to_string(), m(true, 1)),
            ("d".to_string(), m(false, 1000)),
        ]);
        let s = split_of(&members, true).unwrap();
        assert_eq!(s.total(), 100);
        assert_eq!(s.weight("d"), 0);
        let members = BTreeMap::from([
            ("a".to_string(), m(true, 700)),
            ("b".to_string(), m(true, 300)),
        ]);
        assert_eq!(
            split_of(&members, true).unwrap(),
            TrafficSplit::from_pairs([("a", 70), ("b", 30)])
        );
        assert!(split_of(&BTreeMap::from([("a".to_string(), m(false, 5))]), true).is_none());
    }

    #[test]
    fn a_split_maps_to_enabled_weights_times_ten_and_disabled_at_zero() {
        let targets = vec!["east".to_string(), "west".to_string(), "maint".to_string()];
        let d = desired(
            &TrafficSplit::from_pairs([("east", 20), ("west", 80)]),
            &targets,
        );
        assert_eq!(d["east"], (true, 200));
        assert_eq!(d["west"], (true, 800));
        assert_eq!(d["maint"], (false, 0));
        let one = desired(&TrafficSplit::all_to("west"), &targets);
        assert_eq!(one["west"], (true, 1000));
    }

    #[test]
    fn priority_profiles_report_the_first_enabled_endpoint() {
        let members = BTreeMap::from([
            (
                "east".to_string(),
                Member {
                    enabled: true,
                    weight: 1,
                    priority: 2,
                },
            ),
            (
                "west".to_string(),
                Member {
                    enabled: true,
                    weight: 1,
                    priority: 1,
                },
            ),
        ]);
        assert_eq!(
            split_of(&members, false).unwrap(),
            TrafficSplit::all_to("west")
        );
        let e = check_split(
            &TrafficSplit::from_pairs([("east", 50), ("west", 50)]),
            &["east".to_string(), "west".to_string()],
            false,
        )
        .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidRequest);
    }
}
