//! `aws.autoscaling.set_capacity`: set an Auto Scaling group's capacity.

use std::sync::Mutex;

use dr_core::{Action, ConfigError, Preflight, ProviderError, Settings, async_trait};
use serde_json::{Value, json};

use super::config::SetCapacityConfig;
use crate::client::Aws;
use crate::config::AwsCommon;
use crate::error::{conflict, from_sdk, not_found};

/// Action name: set an Auto Scaling group's desired (and min/max) capacity.
pub const SET_CAPACITY: &str = crate::names::SET_CAPACITY;

/// An Auto Scaling group's sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Capacity {
    desired: i32,
    min: i32,
    max: i32,
}

/// `aws.autoscaling.set_capacity`: `UpdateAutoScalingGroup` with `desired`
/// (and `min`/`max` when given). Verify: the group already has them. Compensate:
/// restores the sizes read before `run()` changed them.
#[derive(Debug)]
pub struct SetCapacityAction {
    cfg: SetCapacityConfig,
    aws: Aws,
    before: Mutex<Option<Capacity>>,
}

impl SetCapacityAction {
    /// The action for `cfg.group`.
    pub fn new(cfg: SetCapacityConfig, common: AwsCommon) -> Self {
        SetCapacityAction {
            cfg,
            aws: Aws::new(common),
            before: Mutex::new(None),
        }
    }

    /// Builds the action from a step's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        Ok(Self::new(
            SetCapacityConfig::from_settings(settings)?,
            AwsCommon::from_settings(settings)?,
        ))
    }

    async fn read(&self) -> Result<Capacity, ProviderError> {
        self.read_opt()
            .await?
            .ok_or_else(|| not_found(format!("Auto Scaling has no group `{}`", self.cfg.group)))
    }

    /// The group's sizes; `None` when there is no such group.
    async fn read_opt(&self) -> Result<Option<Capacity>, ProviderError> {
        let out = self
            .aws
            .autoscaling()
            .await
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&self.cfg.group)
            .send()
            .await
            .map_err(|e| from_sdk("Auto Scaling DescribeAutoScalingGroups", e))?;
        Ok(out
            .auto_scaling_groups()
            .iter()
            .find(|g| g.auto_scaling_group_name() == Some(self.cfg.group.as_str()))
            .map(|g| Capacity {
                desired: g.desired_capacity().unwrap_or(0),
                min: g.min_size().unwrap_or(0),
                max: g.max_size().unwrap_or(0),
            }))
    }

    fn wanted(&self, now: Capacity) -> Capacity {
        Capacity {
            desired: self.cfg.desired,
            min: self.cfg.min.unwrap_or(now.min.min(self.cfg.desired)),
            max: self.cfg.max.unwrap_or(now.max.max(self.cfg.desired)),
        }
    }

    async fn write(&self, c: Capacity) -> Result<(), ProviderError> {
        self.aws
            .autoscaling()
            .await
            .update_auto_scaling_group()
            .auto_scaling_group_name(&self.cfg.group)
            .desired_capacity(c.desired)
            .min_size(c.min)
            .max_size(c.max)
            .send()
            .await
            .map_err(|e| from_sdk("Auto Scaling UpdateAutoScalingGroup", e))?;
        Ok(())
    }
}

fn capacity_json(c: Capacity) -> Value {
    json!({ "desired": c.desired, "min": c.min, "max": c.max })
}

#[async_trait]
impl Action for SetCapacityAction {
    fn describe(&self) -> String {
        let mut s = format!(
            "set Auto Scaling group `{}` to desired {}",
            self.cfg.group, self.cfg.desired
        );
        if let Some(min) = self.cfg.min {
            s.push_str(&format!(", min {min}"));
        }
        if let Some(max) = self.cfg.max {
            s.push_str(&format!(", max {max}"));
        }
        s
    }

    async fn verify(&self) -> Result<bool, ProviderError> {
        let now = self.read().await?;
        Ok(now == self.wanted(now))
    }

    /// `DescribeAutoScalingGroups`: the group exists, and `desired` lies within
    /// the sizes it will have (the step's `min`/`max` when it sets them, else
    /// the group's MinSize/MaxSize). `run()` would widen a bound the step does
    /// not set; the preflight asks for that to be a decision in the plan.
    async fn preflight(&self) -> Result<Vec<Preflight>, ProviderError> {
        let group = &self.cfg.group;
        let Some(now) = self.read_opt().await? else {
            return Ok(vec![Preflight::not_ok(format!(
                "Auto Scaling has no group `{group}`"
            ))]);
        };
        let desired = self.cfg.desired;
        let mut found = vec![Preflight::ok(format!(
            "Auto Scaling group `{group}` exists (desired {}, min {}, max {})",
            now.desired, now.min, now.max
        ))];
        found.push(match self.cfg.max {
            Some(max) => Preflight::ok(format!(
                "group `{group}` max size {max} (the step's max) >= desired {desired}"
            )),
            None if now.max >= desired => Preflight::ok(format!(
                "group `{group}` max size {} >= desired {desired}",
                now.max
            )),
            None => Preflight::not_ok(format!(
                "group `{group}` max size {} < desired {desired}: set max or raise the group's MaxSize",
                now.max
            )),
        });
        found.push(match self.cfg.min {
            Some(min) => Preflight::ok(format!(
                "group `{group}` min size {min} (the step's min) <= desired {desired}"
            )),
            None if now.min <= desired => Preflight::ok(format!(
                "group `{group}` min size {} <= desired {desired}",
                now.min
            )),
            None => Preflight::not_ok(format!(
                "group `{group}` min size {} > desired {desired}: set min or lower the group's MinSize",
                now.min
            )),
        });
        Ok(found)
    }

    async fn run(&self) -> Result<Value, ProviderError> {
        let now = self.read().await?;
        let want = self.wanted(now);
        {
            let mut before = self.before.lock().unwrap_or_else(|p| p.into_inner());
            if before.is_none() {
                *before = Some(now);
            }
        }
        if now != want {
            self.write(want).await?;
        }
        let after = self.read().await?;
        if after != want {
            return Err(conflict(format!(
                "group `{}` has desired {}, min {}, max {} after the update, not {}, {}, {}",
                self.cfg.group,
                after.desired,
                after.min,
                after.max,
                want.desired,
                want.min,
                want.max
            )));
        }
        Ok(json!({ "before": capacity_json(now), "after": capacity_json(after) }))
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
        let before = *self.before.lock().unwrap_or_else(|p| p.into_inner());
        match before {
            Some(c) => self.write(c).await,
            None => Ok(()),
        }
    }
}
