//! Settings of `provider = "azure.traffic_manager"`.

use std::collections::BTreeMap;

use dr_core::{ConfigError, Settings};
use serde::Deserialize;

use crate::config::specific;
use crate::routing::check_probe_target;

/// How a Traffic Manager profile routes, as the plan declares it (checked against
/// the live profile on every call).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoutingMethod {
    /// `Weighted`: splits by endpoint weight.
    Weighted,
    /// `Priority`: failover only.
    Priority,
}

impl RoutingMethod {
    /// ARM's spelling (`trafficRoutingMethod`).
    pub fn as_arm(self) -> &'static str {
        match self {
            RoutingMethod::Weighted => "Weighted",
            RoutingMethod::Priority => "Priority",
        }
    }
}

/// `provider = "azure.traffic_manager"`.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficManagerConfig {
    /// The profile's name.
    pub profile: String,
    /// Target name -> `endpointType/endpointName` (`azureEndpoints/eastus-app`).
    pub targets: BTreeMap<String, String>,
    /// `weighted` (default) or `priority` (failover only).
    #[serde(default = "weighted")]
    pub routing_method: RoutingMethod,
    /// The target whose endpoint the probe reports (probe only).
    #[serde(default)]
    pub probe_target: Option<String>,
}

fn weighted() -> RoutingMethod {
    RoutingMethod::Weighted
}

/// The canonical ARM endpoint type for `kind` (`azureEndpoints` -> `AzureEndpoints`).
pub(crate) fn endpoint_type(kind: &str) -> Option<&'static str> {
    ["AzureEndpoints", "ExternalEndpoints", "NestedEndpoints"]
        .into_iter()
        .find(|t| t.eq_ignore_ascii_case(kind))
}

impl TrafficManagerConfig {
    /// A weighted profile's router over `targets` (target -> `endpointType/name`).
    pub fn new<I, K, V>(profile: impl Into<String>, targets: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        TrafficManagerConfig {
            profile: profile.into(),
            targets: targets
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            routing_method: RoutingMethod::Weighted,
            probe_target: None,
        }
    }

    /// Replaces the routing method.
    pub fn with_routing_method(mut self, method: RoutingMethod) -> Self {
        self.routing_method = method;
        self
    }

    /// Sets the target whose endpoint the probe reports.
    pub fn with_probe_target(mut self, target: impl Into<String>) -> Self {
        self.probe_target = Some(target.into());
        self
    }

    /// Reads the resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        settings.str("profile")?;
        let cfg: TrafficManagerConfig = specific(settings)?;
        if cfg.targets.is_empty() {
            return Err(ConfigError::key("targets", "at least one target is needed"));
        }
        for (t, ep) in &cfg.targets {
            let ok = ep.split_once('/').is_some_and(|(k, n)| {
                endpoint_type(k).is_some() && !n.is_empty() && !n.contains('/')
            });
            if !ok {
                return Err(ConfigError::key(
                    "targets",
                    format!(
                        "target `{t}`: expected `azureEndpoints/NAME`, `externalEndpoints/NAME` \
                         or `nestedEndpoints/NAME`"
                    ),
                ));
            }
        }
        check_probe_target(&cfg.probe_target, &cfg.targets)?;
        Ok(cfg)
    }
}
