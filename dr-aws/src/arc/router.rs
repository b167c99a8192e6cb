//! `aws.arc_routing_control`: Route 53 ARC routing controls as a failover-only router.

use aws_sdk_route53recoverycluster::Client;
use aws_sdk_route53recoverycluster::types::{RoutingControlState, UpdateRoutingControlStateEntry};
use dr_core::{
    ConfigError, ProviderError, RouterCapabilities, Settings, TrafficRouter, TrafficSplit,
    async_trait,
};

use super::config::ArcConfig;
use crate::client::Aws;
use crate::config::AwsCommon;
use crate::error::{conflict, fatal, from_arc_update, from_sdk, invalid, is_endpoint_down};

/// The provider name of ARC routing-control routers.
pub const ARC_PROVIDER: &str = crate::names::ARC;

/// Route 53 Application Recovery Controller routing controls, one per target.
///
/// Failover-only: the target's control `On`, every other `Off`, in one
/// `UpdateRoutingControlStates` call so that ARC's safety rules judge the change
/// as a whole. Each call tries the cluster endpoints in turn (ARC's documented
/// client behaviour): an `EndpointTemporarilyUnavailableException` or an
/// unreachable endpoint moves on to the next one.
#[derive(Debug)]
pub struct ArcRouter {
    pub(super) cfg: ArcConfig,
    aws: Aws,
}

impl ArcRouter {
    /// A router over `cfg`'s routing controls.
    pub fn new(cfg: ArcConfig, common: AwsCommon) -> Self {
        ArcRouter {
            cfg,
            aws: Aws::new(common),
        }
    }

    /// Builds the router from a resource's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        Ok(Self::new(
            ArcConfig::from_settings(settings)?,
            AwsCommon::from_settings(settings)?,
        ))
    }

    async fn clients(&self) -> Vec<(String, Client)> {
        let mut out = Vec::new();
        for e in &self.cfg.cluster_endpoints {
            out.push((
                e.endpoint.clone(),
                self.aws.arc_cluster(&e.endpoint, &e.region).await,
            ));
        }
        out
    }

    /// Every target's control state, read from the first endpoint that answers.
    async fn states(&self) -> Result<Vec<(String, RoutingControlState)>, ProviderError> {
        let mut last = None;
        'endpoints: for (endpoint, client) in self.clients().await {
            let mut states = Vec::new();
            for (target, arn) in &self.cfg.targets {
                match client
                    .get_routing_control_state()
                    .routing_control_arn(arn)
                    .send()
                    .await
                {
                    Ok(out) => states.push((target.clone(), out.routing_control_state().clone())),
                    Err(e) => {
                        let e = from_sdk(&format!("ARC GetRoutingControlState at {endpoint}"), e);
                        if is_endpoint_down(&e) {
                            tracing::info!(
                                "ARC endpoint {endpoint} unavailable, trying the next: {e}"
                            );
                            last = Some(e);
                            continue 'endpoints;
                        }
                        return Err(e);
                    }
                }
            }
            return Ok(states);
        }
        Err(last.unwrap_or_else(|| fatal("no ARC cluster endpoint configured")))
    }
}

#[async_trait]
impl TrafficRouter for ArcRouter {
    fn targets(&self) -> Vec<String> {
        self.cfg.targets.keys().cloned().collect()
    }

    fn capabilities(&self) -> RouterCapabilities {
        RouterCapabilities::failover_only()
    }

    async fn current(&self, scope: Option<&str>) -> Result<TrafficSplit, ProviderError> {
        if let Some(s) = scope {
            return Err(invalid(format!(
                "ARC routing controls take no scope (asked `{s}`)"
            )));
        }
        let states = self.states().await?;
        let on: Vec<&str> = states
            .iter()
            .filter(|(_, s)| *s == RoutingControlState::On)
            .map(|(t, _)| t.as_str())
            .collect();
        match on.as_slice() {
            [one] => Ok(TrafficSplit::all_to(*one)),
            _ => Err(conflict(format!(
                "{} routing controls are On ({}); a failover-only router expects exactly one",
                on.len(),
                on.join(", ")
            ))),
        }
    }

    async fn apply(&self, split: &TrafficSplit, scope: Option<&str>) -> Result<(), ProviderError> {
        if let Some(s) = scope {
            return Err(invalid(format!(
                "ARC routing controls take no scope (asked `{s}`)"
            )));
        }
        split.check(&self.targets()).map_err(invalid)?;
        let Some(to) = split
            .iter()
            .find(|(_, w)| *w == 100)
            .map(|(t, _)| t.to_string())
        else {
            return Err(invalid(format!(
                "`{split}`: ARC routing controls are failover-only (one target at 100)"
            )));
        };
        let states = self.states().await?;
        let want = |t: &str| {
            if t == to {
                RoutingControlState::On
            } else {
                RoutingControlState::Off
            }
        };
        if states.iter().all(|(t, s)| *s == want(t)) {
            return Ok(());
        }
        let mut entries = Vec::new();
        for (target, arn) in &self.cfg.targets {
            entries.push(
                UpdateRoutingControlStateEntry::builder()
                    .routing_control_arn(arn)
                    .routing_control_state(want(target))
                    .build()
                    .map_err(|e| fatal(format!("building an ARC update: {e}")))?,
            );
        }
        if !self.cfg.override_safety_rules.is_empty() {
            tracing::warn!(
                safety_rules = ?self.cfg.override_safety_rules,
                "overriding ARC safety rules for the change to `{to}`"
            );
        }
        let mut last = None;
        for (endpoint, client) in self.clients().await {
            let sent = client
                .update_routing_control_states()
                .set_update_routing_control_state_entries(Some(entries.clone()))
                .set_safety_rules_to_override(if self.cfg.override_safety_rules.is_empty() {
                    None
                } else {
                    Some(self.cfg.override_safety_rules.clone())
                })
                .send()
                .await;
            match sent {
                Ok(_) => {
                    last = None;
                    break;
                }
                Err(e) => {
                    let e = from_arc_update(&endpoint, e);
                    if is_endpoint_down(&e) {
                        tracing::info!("ARC endpoint {endpoint} unavailable, trying the next: {e}");
                        last = Some(e);
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        if let Some(e) = last {
            return Err(e);
        }
        let now = self.current(None).await?;
        if !now.same_as(split) {
            return Err(conflict(format!(
                "after UpdateRoutingControlStates the controls give `{now}`, not `{split}`"
            )));
        }
        Ok(())
    }
}
