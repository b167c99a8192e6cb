//! `aws.arc.set_routing_control`: the ARC router's change as a step of its own.

use dr_core::{ConfigError, ProviderError, Settings, TrafficRouter, TrafficSplit, async_trait};

use super::router::ArcRouter;

/// Action name: move ARC routing controls to one target from a step, with the
/// step's own `override_safety_rules` (recorded in the journal and the audit log).
pub const ARC_SET: &str = crate::names::ARC_SET;

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
