//! The Front Door router: the origins of one origin group, one per target.
//!
//! `enabledState` and `weight` as Traffic Manager's endpoints (`10 × percent`,
//! `Disabled` at 0); each origin PATCH is a long-running operation, polled to the
//! end. Only origins whose state differs are PATCHed, then the origins are read
//! back and compared with the split.

use std::collections::BTreeMap;
use std::sync::Arc;

use dr_core::http::Method;
use dr_core::{
    ConfigError, ErrorKind, ProviderError, RouterCapabilities, Settings, TrafficRouter,
    TrafficSplit, async_trait,
};
use serde_json::{Value, json};

use super::FRONT_DOOR;
use super::config::FrontDoorConfig;
use crate::client::{Arm, api, str_at};
use crate::config::ArmConfig;
use crate::credential::TokenSource;
use crate::error::{conflict, invalid};
use crate::routing::{Member, check_split, desired, no_traffic, num, split_of};

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
        origins_path(&self.arm, &self.cfg)
    }

    async fn read(&self) -> Result<BTreeMap<String, Member>, ProviderError> {
        let origins = self.arm.list(&self.origins_path(), api::FRONT_DOOR).await?;
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

/// The origins of the configured origin group (a list ARM pages with `nextLink`).
pub(super) fn origins_path(arm: &Arm, cfg: &FrontDoorConfig) -> String {
    arm.path(&format!(
        "Microsoft.Cdn/profiles/{}/originGroups/{}/origins",
        cfg.profile, cfg.origin_group
    ))
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
