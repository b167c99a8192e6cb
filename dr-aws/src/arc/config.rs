//! Settings of `aws.arc_routing_control` (and of the `aws.arc.set_routing_control`
//! action, which takes the router's plus `to`).

use std::collections::BTreeMap;

use dr_core::{ConfigError, Settings, check_length};
use serde::Deserialize;

use crate::config::{non_empty_targets, own, require, targets_of};

/// `provider = "aws.arc_routing_control"`.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ArcConfig {
    /// The cluster's endpoints, tried in turn.
    pub cluster_endpoints: Vec<ArcEndpoint>,
    /// Target name -> routing control ARN.
    pub targets: BTreeMap<String, String>,
    /// Safety rules (ARNs) to override in every `UpdateRoutingControlStates` of
    /// this resource; logged and named in every change this router makes (a
    /// traffic step cannot carry provider keys, see the crate README).
    #[serde(default)]
    pub override_safety_rules: Vec<String>,
}

/// One ARC cluster endpoint with its region.
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ArcEndpoint {
    /// `https://host.example/v1` as `DescribeCluster` lists it.
    pub endpoint: String,
    /// Its region (signs the request).
    pub region: String,
}

impl ArcConfig {
    /// Reads and checks the resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        require(settings, &["cluster_endpoints"])?;
        let c: ArcConfig = own(settings)?;
        if c.cluster_endpoints.is_empty() {
            return Err(ConfigError::key(
                "cluster_endpoints",
                "list at least one cluster endpoint",
            ));
        }
        non_empty_targets(&c.targets)?;
        // ARC's documented limit for a routing control or safety rule ARN.
        for (t, arn) in &c.targets {
            check_length(&format!("targets.{t}"), arn, 1, 256)?;
        }
        for (i, arn) in c.override_safety_rules.iter().enumerate() {
            check_length(&format!("override_safety_rules[{i}]"), arn, 1, 256)?;
        }
        Ok(c)
    }

    /// Routing controls (target -> ARN) behind `cluster_endpoints`.
    pub fn new<I, K, V>(cluster_endpoints: Vec<ArcEndpoint>, targets: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        ArcConfig {
            cluster_endpoints,
            targets: targets_of(targets),
            override_safety_rules: Vec::new(),
        }
    }

    /// Sets the safety rules overridden by every change.
    pub fn with_override_safety_rules(mut self, rules: Vec<String>) -> Self {
        self.override_safety_rules = rules;
        self
    }
}

impl ArcEndpoint {
    /// A cluster endpoint and its region.
    pub fn new(endpoint: impl Into<String>, region: impl Into<String>) -> Self {
        ArcEndpoint {
            endpoint: endpoint.into(),
            region: region.into(),
        }
    }
}
