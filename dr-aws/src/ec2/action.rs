//! `aws.ec2.start_instances`: start EC2 instances and wait until they run.

use std::collections::BTreeMap;
use std::sync::Mutex;

use aws_sdk_ec2::types::{Filter, InstanceStateName, Reservation};
use dr_core::poll::{self, CancellationToken, Poll};
use dr_core::{Action, ConfigError, Preflight, ProviderError, Settings, async_trait};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::config::StartInstancesConfig;
use crate::client::Aws;
use crate::config::AwsCommon;
use crate::error::{from_poll, from_sdk, not_found};

/// Action name: start EC2 instances and wait until they run.
pub const START_INSTANCES: &str = crate::names::START_INSTANCES;

/// `aws.ec2.start_instances`: `StartInstances` of those not running, then
/// `DescribeInstances` until all run. Verify: all `running`. Compensate:
/// `StopInstances` of the ones this run started (those that already ran stay).
#[derive(Debug)]
pub struct StartInstancesAction {
    cfg: StartInstancesConfig,
    aws: Aws,
    started: Mutex<Vec<String>>,
}

impl StartInstancesAction {
    /// The action for `cfg.instances`.
    pub fn new(cfg: StartInstancesConfig, common: AwsCommon) -> Self {
        StartInstancesAction {
            cfg,
            aws: Aws::new(common),
            started: Mutex::new(Vec::new()),
        }
    }

    /// Builds the action from a step's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        Ok(Self::new(
            StartInstancesConfig::from_settings(settings)?,
            AwsCommon::from_settings(settings)?,
        ))
    }

    /// The state of every instance, by id.
    async fn states(&self) -> Result<BTreeMap<String, InstanceStateName>, ProviderError> {
        let out = self
            .aws
            .ec2()
            .await
            .describe_instances()
            .set_instance_ids(Some(self.cfg.instances.clone()))
            .send()
            .await
            .map_err(|e| from_sdk("EC2 DescribeInstances", e))?;
        let mut states = BTreeMap::new();
        collect_states(out.reservations(), &mut states);
        for id in &self.cfg.instances {
            if !states.contains_key(id) {
                return Err(not_found(format!("EC2 has no instance `{id}`")));
            }
        }
        Ok(states)
    }

    /// The state of those of the instances that exist, by id: filtered by
    /// `instance-id`, so an id that does not exist is left out rather than
    /// failing the whole call (as `InstanceIds` does).
    async fn existing_states(&self) -> Result<BTreeMap<String, InstanceStateName>, ProviderError> {
        let ec2 = self.aws.ec2().await;
        let filter = Filter::builder()
            .name("instance-id")
            .set_values(Some(self.cfg.instances.clone()))
            .build();
        let mut states = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let out = ec2
                .describe_instances()
                .filters(filter.clone())
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| from_sdk("EC2 DescribeInstances", e))?;
            collect_states(out.reservations(), &mut states);
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(states),
            }
        }
    }
}

/// The state of every instance of `reservations`, into `states` by id.
fn collect_states(reservations: &[Reservation], states: &mut BTreeMap<String, InstanceStateName>) {
    for r in reservations {
        for i in r.instances() {
            if let (Some(id), Some(name)) = (i.instance_id(), i.state().and_then(|s| s.name())) {
                states.insert(id.to_string(), name.clone());
            }
        }
    }
}

#[async_trait]
impl Action for StartInstancesAction {
    fn describe(&self) -> String {
        format!(
            "start EC2 instances {} and wait until they run",
            self.cfg.instances.join(", ")
        )
    }

    async fn verify(&self) -> Result<bool, ProviderError> {
        Ok(self
            .states()
            .await?
            .values()
            .all(|s| *s == InstanceStateName::Running))
    }

    /// `DescribeInstances`: every instance exists (the missing ones named), and
    /// each one's state: `terminated` or `shutting-down` cannot be started (not
    /// ok); `stopped`, `stopping`, `pending` and `running` are ok.
    async fn preflight(&self) -> Result<Vec<Preflight>, ProviderError> {
        let states = self.existing_states().await?;
        let mut found = Vec::new();
        let missing: Vec<&str> = self
            .cfg
            .instances
            .iter()
            .filter(|id| !states.contains_key(*id))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            found.push(Preflight::not_ok(format!(
                "EC2 has no instance {}",
                missing
                    .iter()
                    .map(|id| format!("`{id}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        for id in &self.cfg.instances {
            let Some(state) = states.get(id) else {
                continue;
            };
            let s = state.as_str();
            found.push(match state {
                InstanceStateName::Terminated | InstanceStateName::ShuttingDown => {
                    Preflight::not_ok(format!("instance `{id}` is {s}: it cannot be started"))
                }
                InstanceStateName::Stopped => {
                    Preflight::ok(format!("instance `{id}` is stopped: the step starts it"))
                }
                InstanceStateName::Stopping => Preflight::ok(format!(
                    "instance `{id}` is stopping: it can be started once it has stopped"
                )),
                InstanceStateName::Pending => {
                    Preflight::ok(format!("instance `{id}` is pending: it is starting"))
                }
                InstanceStateName::Running => {
                    Preflight::ok(format!("instance `{id}` is running already"))
                }
                _ => Preflight::not_ok(format!(
                    "instance `{id}` is in state `{s}`, which the step does not know how to start from"
                )),
            });
        }
        Ok(found)
    }

    async fn run(&self) -> Result<Value, ProviderError> {
        let states = self.states().await?;
        let to_start: Vec<String> = states
            .iter()
            .filter(|(_, s)| !matches!(s, InstanceStateName::Running | InstanceStateName::Pending))
            .map(|(id, _)| id.clone())
            .collect();
        if !to_start.is_empty() {
            self.aws
                .ec2()
                .await
                .start_instances()
                .set_instance_ids(Some(to_start.clone()))
                .send()
                .await
                .map_err(|e| from_sdk("EC2 StartInstances", e))?;
            let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
            for id in &to_start {
                if !started.contains(id) {
                    started.push(id.clone());
                }
            }
        }
        let common = self.aws.common();
        poll::until(
            "EC2 instances to be running",
            Instant::now() + common.wait,
            common.poll_every,
            &CancellationToken::new(),
            || async move {
                let states = self.states().await?;
                Ok(
                    if states.values().all(|s| *s == InstanceStateName::Running) {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    },
                )
            },
        )
        .await
        .map_err(from_poll)?;
        Ok(json!({ "started": to_start, "running": self.cfg.instances }))
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
        let started = self
            .started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if started.is_empty() {
            return Ok(());
        }
        self.aws
            .ec2()
            .await
            .stop_instances()
            .set_instance_ids(Some(started))
            .send()
            .await
            .map_err(|e| from_sdk("EC2 StopInstances", e))?;
        Ok(())
    }
}
