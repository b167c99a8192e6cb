//! `aws.arc_routing_control`: Route 53 ARC routing controls as a failover-only router.
//!
//! The router half of `router.rs` for ARC, in its own file: the cluster-endpoint
//! rotation is its own concern.

use aws_sdk_route53recoverycluster::Client;
use aws_sdk_route53recoverycluster::types::{RoutingControlState, UpdateRoutingControlStateEntry};
use dr_core::{
    ConfigError, ProviderError, RouterCapabilities, Settings, TrafficRouter, TrafficSplit,
    async_trait,
};

use crate::client::Aws;
use crate::config::{ArcConfig, AwsCommon};
use crate::error::{conflict, fatal, from_arc_update, from_sdk, invalid, is_endpoint_down};

/// The provider name of ARC routing-control routers.
pub const ARC_PROVIDER: &str = "aws.arc_routing_control";

/// Route 53 Application Recovery Controller routing controls, one per target.
///
/// Failover-only: the target's control `On`, every other `Off`, in one
/// `UpdateRoutingControlStates` call so that ARC's safety rules judge the change
/// as a whole. Each call tries the cluster endpoints in turn (ARC's documented
/// client behaviour): an `EndpointTemporarilyUnavailableException` or an
/// unreachable endpoint moves on to the next one.
#[derive(Debug)]
pub struct ArcRouter {
    cfg: ArcConfig,
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

/// Action name: move ARC routing controls to one target from a step, with the
/// step's own `override_safety_rules` (recorded in the journal and the audit log).
pub const ARC_SET: &str = "aws.arc.set_routing_control";

/// `aws.arc.set_routing_control`: the [`ArcRouter`]'s change as a step of its own,
/// for the break-glass case where one step (not every change of a resource)
/// overrides safety rules. Settings: the router's (`cluster_endpoints`, `targets`,
/// `override_safety_rules`, common keys) plus `to` (the target to turn `On`).
/// `run()` returns `{"to", "before", "safety_rules_overridden"}`, which the
/// executor writes to the journal and the audit log. Verify: `to` is already the
/// only control `On`. Compensate: back to the split read before `run()`.
#[derive(Debug)]
pub struct ArcSetAction {
    router: ArcRouter,
    to: String,
    before: std::sync::Mutex<Option<TrafficSplit>>,
}

impl ArcSetAction {
    /// Builds the action from a step's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let mut values = settings.values().clone();
        let to = match values.remove("to") {
            Some(serde_json::Value::String(t)) => t,
            Some(_) => return Err(ConfigError::key("to", "expected a target name")),
            None => return Err(ConfigError::key("to", "missing required setting")),
        };
        let s = Settings::new(settings.name(), settings.provider(), values);
        let router = ArcRouter::from_settings(&s)?;
        if !router.cfg.targets.contains_key(&to) {
            return Err(ConfigError::key(
                "to",
                format!("`{to}` is not one of `targets`"),
            ));
        }
        Ok(ArcSetAction {
            router,
            to,
            before: std::sync::Mutex::new(None),
        })
    }
}

#[async_trait]
impl dr_core::Action for ArcSetAction {
    fn describe(&self) -> String {
        let mut s = format!("turn ARC routing control `{}` On, the others Off", self.to);
        if !self.router.cfg.override_safety_rules.is_empty() {
            s.push_str(&format!(
                ", overriding safety rules {}",
                self.router.cfg.override_safety_rules.join(", ")
            ));
        }
        s
    }

    async fn verify(&self) -> Result<bool, ProviderError> {
        Ok(self.router.current(None).await? == TrafficSplit::all_to(self.to.as_str()))
    }

    async fn run(&self) -> Result<serde_json::Value, ProviderError> {
        let before = self.router.current(None).await?;
        {
            let mut b = self.before.lock().unwrap_or_else(|p| p.into_inner());
            if b.is_none() {
                *b = Some(before.clone());
            }
        }
        self.router
            .apply(&TrafficSplit::all_to(self.to.as_str()), None)
            .await?;
        Ok(serde_json::json!({
            "to": self.to,
            "before": before,
            "safety_rules_overridden": self.router.cfg.override_safety_rules,
        }))
    }

    fn idempotent(&self) -> bool {
        true
    }

    fn verifies(&self) -> bool {
        true
    }

    fn compensable(&self) -> bool {
        true
    }

    async fn compensate(&self) -> Result<(), ProviderError> {
        let before = self
            .before
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match before {
            Some(split) => self.router.apply(&split, None).await,
            None => Ok(()),
        }
    }
}
